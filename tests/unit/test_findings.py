"""One Finding, rules in catalogues: every catalogue's rules say what SARIF and the schema
need, a rule is added where its check is written (a toy catalogue here needs no edit
elsewhere), lint's per-rule check agrees with the whole check, problems and escalation
findings convert to the one Finding, and a plan's finding round-trips through JSON."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

from iamstate.analysis import audit, cis, escalation, lint
from iamstate.analysis.findings import (
    HIGH,
    SEVERITIES,
    Catalogue,
    CheckedRule,
    Finding,
    RuleInfo,
    declared_at,
    of_problem,
)
from iamstate.analysis.meaning import ACCEPTED, EscalationFinding
from iamstate.analysis.reach import Reach
from iamstate.errors import INVALID, Problem
from iamstate.repository.loader import load_repository
from tests.helpers import copy_example

ALL: list[RuleInfo] = [*lint.RULES.values(), *audit.RULES.rules.values(),
                       *audit.REPOSITORY_RULES.rules.values(), *cis.CONTROLS.rules.values(),
                       *escalation.RULES]


def test_every_rule_of_every_catalogue_says_what_outputs_need() -> None:
    ids = [r.id for r in ALL]
    assert len(ids) == len(set(ids))  # one id, one rule, across catalogues
    for rule in ALL:
        assert rule.severity in SEVERITIES, rule.id
        assert rule.help and "\n" not in rule.help, rule.id
    assert {r.setting for r in lint.RULES.values()} == set(lint.RULES)
    # the CIS ids the audit shows come from the rules' own references
    assert cis.CIS_IDS["IAM-003"] == ("1.15", "2.13") and cis.CIS_IDS["IAM-023"] == ("-", "2.1.1")
    assert cis.CIS_IDS["IAM-008"] == ("1.13", "-")
    assert escalation.PATHS_BY_ID["ESC-ADD-USER-TO-GROUP"].references == (
        "pathfinding.cloud/iam-013",)


def test_a_rule_is_one_registration_where_its_check_is_written() -> None:
    toys: Catalogue[list[str]] = Catalogue()

    @toys.rule("TOY-001", HIGH, "a name longer than 3 letters", ("https://example.org/toy",))
    def _long(rule: CheckedRule[list[str]], names: list[str]) -> Iterator[Finding]:
        for name in names:
            if len(name) > 3:
                yield rule.found(f"user/{name}", f"{name} is long", "shorten it")

    assert toys.check(["bo", "alice"]) == [Finding(
        "TOY-001", "user/alice", HIGH, "alice is long", "shorten it",
        references=("https://example.org/toy",))]
    with pytest.raises(ValueError, match="TOY-001 registered twice"):
        toys.rule("TOY-001", HIGH, "again")(_long)


def test_the_audit_findings_carry_their_rules_severity_and_references() -> None:
    from iamstate.entities.user.model import User
    from iamstate.model.state import State
    from tests.unit.test_audit import CONFIG, NOW, row

    live = State(users={"bob": User("bob", groups=frozenset({"AllHumans"}))})
    found = audit.audit_account(CONFIG, live, [row("bob")], None, NOW)
    assert {f.rule for f in found} == {"IAM-001", "IAM-004"}
    for finding in found:
        rule = audit.RULES[finding.rule]
        assert (finding.severity, finding.references) == (rule.severity, rule.references)
    assert found[1].references == ("CIS v4.0.1 1.10", "CIS v7.0 2.10")


DOCUMENT = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObjekt", "aws-portal:ViewBilling"],
     "Resource": "*", "Condition": {"StringLike": {"aws:username": "bob"}}},
    {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
    {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::b/*"},
]}


def test_each_lint_rule_finds_alone_what_the_whole_check_says_it_found() -> None:
    whole = lint.check(DOCUMENT)
    assert {f.rule.id for f in whole} >= {"LINT-UNKNOWN-ACTION", "LINT-DEPRECATED-ACTION",
                                          "LINT-WILDCARD-OPERATOR", "LINT-ALLOW-NOT-ACTION",
                                          "LINT-ALLOW-NOT-RESOURCE"}
    per_rule = [f for rule in lint.RULES.values() for f in rule.check(DOCUMENT)]
    assert sorted(per_rule, key=repr) == sorted(whole, key=repr)
    [unknown] = lint.RULES["unknown_actions"].check(DOCUMENT)
    finding = unknown.finding("policy P", "error", None)
    assert (finding.rule, finding.subject, finding.severity) == (
        "LINT-UNKNOWN-ACTION", "policy P", "error")
    assert "s3:GetObjekt" in finding.message


def test_a_problem_is_a_finding_at_its_file_and_line(tmp_path: Path) -> None:
    problem = Problem(tmp_path / "accounts/a/users.yaml", 4, "unknown group 'X'")
    finding = of_problem(problem, tmp_path)
    assert (finding.rule, finding.subject, finding.severity) == (
        INVALID, "accounts/a/users.yaml", "error")
    assert finding.location is not None and finding.location.line == 4
    warning = Problem(tmp_path / "p.json", 2, "...", "LINT-NON-ASCII", "security warning")
    assert of_problem(warning, tmp_path).rule == "LINT-NON-ASCII"
    assert of_problem(warning, tmp_path / "elsewhere").subject == "p.json"  # never a full path


def test_a_plan_finding_round_trips_and_a_state_finding_has_no_status() -> None:
    state = EscalationFinding("ESC-ADD-USER-TO-GROUP", "group/Ops", HIGH, "Members can ...",
                              ("group/Ops inline P",), (Reach("iam:AddUserToGroup", ("*",)),),
                              ("pathfinding.cloud/iam-013",))
    assert "status" not in state.to_json() and "accepted_at" not in state.to_json()
    planned = EscalationFinding(**{**state.__dict__, "status": ACCEPTED,
                                   "accepted_at": "accounts/a/account.yaml:9"})
    data = planned.to_json()
    assert list(data) == ["id", "principal", "severity", "status", "detail", "via",
                          "accepted_at", "reach", "references"]  # the plan file's order
    assert EscalationFinding.from_json(data) == planned
    finding = planned.finding()
    assert (finding.rule, finding.subject, finding.accepted_at, finding.references) == (
        "ESC-ADD-USER-TO-GROUP", "group/Ops", "accounts/a/account.yaml:9",
        ("pathfinding.cloud/iam-013",))


def test_live_subjects_are_found_where_the_repository_declares_them(tmp_path: Path) -> None:
    [account] = load_repository(copy_example(tmp_path))
    users = account.config.directory / "users.yaml"
    lines = users.read_text().splitlines()
    assert declared_at("user/jdoe", account).file == users
    assert lines[declared_at("user/jdoe", account).line - 1].strip() == "jdoe:"
    assert lines[declared_at("user/asmith", account).line - 1].strip() == "asmith:"
    groups = declared_at("group/Developers", account)
    assert groups.file.name == "groups.yaml"
    for undeclared in ("user/intruder", "account/root", "role/Admin", "server-certificate/x"):
        where = declared_at(undeclared, account)
        assert (where.file, where.line) == (account.config.directory / "account.yaml", 1)
    assert audit.expiring_findings(account.desired, datetime.date(2026, 1, 1)) == []


def test_the_catalogues_rules_are_rules_to_the_type_checker() -> None:
    """mypy (strict, on tests too) checks these assignments: each catalogue's rule type has
    what the Rule protocol asks, so SARIF and the schema can read any of them."""
    from collections.abc import Mapping
    from typing import Any

    from iamstate.analysis.findings import Rule
    from iamstate.analysis.lint import Lint

    lint_rule: Rule[Mapping[str, Any], Lint] = lint.RULES["non_ascii"]
    audit_rule: Rule[audit.Audited, Finding] = audit.RULES["IAM-004"]
    control: Rule[cis.Controlled, Finding] = cis.CONTROLS["IAM-013"]
    path: RuleInfo = escalation.PATHS_BY_ID["ESC-PASSROLE-EC2"]
    assert [lint_rule.id, audit_rule.id, control.id, path.id] == [
        "LINT-NON-ASCII", "IAM-004", "IAM-013", "ESC-PASSROLE-EC2"]
    assert path.help.startswith("a user or group that can ") and path.setting == ""
