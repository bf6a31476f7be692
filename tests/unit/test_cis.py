"""CIS AWS Foundations' IAM controls (pure): each rule fires on its case and stays quiet on
the fixed one. Reading the facts from IAM is tested in tests/aws/test_cis.py."""

from __future__ import annotations

import dataclasses
import datetime

import pytest

from iamstate.analysis.cis import (
    CIS_IDS,
    RULES,
    AccountFacts,
    cis_findings,
    cis_ids,
    grants_everything,
)
from iamstate.analysis.findings import Finding
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.entities.user.model import User
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument

NOW = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                 "Resource": "*"}]}
READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:Get*",
                                                "Resource": "*"}]}
STRONG = PasswordPolicy.from_fields({"MinimumPasswordLength": 14,
                                     "PasswordReusePrevention": 24}, complete=True)
CLEAN_ROOT = {"user": "<root_account>", "password_last_used": "2026-01-01T00:00:00+00:00",
              "mfa_active": "true", "access_key_1_active": "false",
              "access_key_2_active": "false", "access_key_1_last_used_date": "N/A",
              "access_key_2_last_used_date": "N/A"}
CLEAN = AccountFacts(CLEAN_ROOT, {"AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0},
                     False, (("web", NOW + datetime.timedelta(days=30)),),
                     ("role/support",), (), ("RootCredentialsManagement", "RootSessions"))
CLEAN_STATE = State(groups={"Ops": Group("Ops", inline_policies=(
    ("read", PolicyDocument(READ)),))}, password_policy=STRONG)


def ago(days: int) -> str:
    return (NOW - datetime.timedelta(days=days)).isoformat()


def user_row(name: str, **fields: str) -> dict[str, str]:
    return {"user": name, "user_creation_time": ago(400), "password_enabled": "false",
            "access_key_1_active": "false", "access_key_2_active": "false", **fields}


def rules(facts: AccountFacts = CLEAN, live: State = CLEAN_STATE,
          report: list[dict[str, str]] | None = None,
          documents: dict[str, object] | None = None) -> list[tuple[str, str]]:
    found: list[Finding] = cis_findings(facts, live, report or [], NOW, documents)
    return sorted((f.rule, f.subject) for f in found)


def test_a_clean_account_has_no_cis_findings() -> None:
    assert rules(report=[user_row("ann", password_enabled="true",
                                  password_last_used=ago(3))]) == []


def root(**fields: str) -> AccountFacts:
    return dataclasses.replace(CLEAN, root={**CLEAN_ROOT, **fields})


@pytest.mark.parametrize(("facts", "rule"), [
    (dataclasses.replace(CLEAN, summary={"AccountMFAEnabled": 1,
                                         "AccountAccessKeysPresent": 1}), "IAM-012"),
    (root(access_key_2_active="true"), "IAM-012"),
    (dataclasses.replace(root(mfa_active="false"), summary={"AccountMFAEnabled": 0}),
     "IAM-013"),
    (dataclasses.replace(CLEAN, root_virtual_mfa=True), "IAM-014"),
    (root(password_last_used=ago(2)), "IAM-015"),
    (root(access_key_1_last_used_date=ago(1)), "IAM-015"),
])
def test_root_controls(facts: AccountFacts, rule: str) -> None:
    assert rules(facts) == [(rule, "account/root")]


def test_root_used_long_ago_or_never_is_fine() -> None:
    assert rules(root(password_last_used="no_information")) == []
    assert rules(root(password_last_used=ago(30))) == []


def test_no_root_mfa_hides_the_hardware_question() -> None:
    facts = dataclasses.replace(root(mfa_active="false"), summary={"AccountMFAEnabled": 0},
                                root_virtual_mfa=True)
    assert rules(facts) == [("IAM-013", "account/root")]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"MinimumPasswordLength": 13, "PasswordReusePrevention": 24}, ["IAM-016"]),
    ({"MinimumPasswordLength": 14, "PasswordReusePrevention": 23}, ["IAM-017"]),
    ({"MinimumPasswordLength": 20, "PasswordReusePrevention": 24}, []),
])
def test_password_policy(fields: dict[str, int], expected: list[str]) -> None:
    live = dataclasses.replace(CLEAN_STATE, password_policy=PasswordPolicy.from_fields(
        fields, complete=True))
    assert [r for r, _ in rules(live=live)] == expected


def test_no_password_policy_fails_both() -> None:
    live = dataclasses.replace(CLEAN_STATE, password_policy=None)
    assert [r for r, _ in rules(live=live)] == ["IAM-016", "IAM-017"]


@pytest.mark.parametrize(("fields", "fires"), [
    ({"password_enabled": "true", "password_last_used": ago(45)}, True),
    ({"password_enabled": "true", "password_last_used": ago(44)}, False),
    ({"password_enabled": "true", "password_last_used": "no_information",
      "password_last_changed": ago(60)}, True),  # never signed in since it was set
    ({"access_key_1_active": "true", "access_key_1_last_used_date": ago(50)}, True),
    ({"access_key_1_active": "true", "access_key_1_last_used_date": ago(10)}, False),
    ({"access_key_1_active": "true", "access_key_1_last_used_date": ago(120)}, False),  # IAM-007
    ({"access_key_1_active": "false", "access_key_1_last_used_date": ago(50)}, False),
])
def test_credentials_unused_for_45_days(fields: dict[str, str], fires: bool) -> None:
    found = rules(report=[user_row("bo", **fields)])
    assert found == ([("IAM-018", "user/bo")] if fires else [])


def test_unused_days_are_configurable() -> None:
    report = [user_row("bo", password_enabled="true", password_last_used=ago(40))]
    assert cis_findings(CLEAN, CLEAN_STATE, report, NOW, unused_days=30)[0].rule == "IAM-018"


def test_full_access_through_inline_customer_and_aws_managed_policies() -> None:
    admin_arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    own = "arn:aws:iam::123456789012:policy/everything"
    live = dataclasses.replace(CLEAN_STATE, groups={
        "Ops": Group("Ops", inline_policies=(("all", PolicyDocument(ADMIN)),)),
        "Admins": Group("Admins", managed_policies=frozenset({admin_arn})),
        "Own": Group("Own", managed_policies=frozenset({own})),
        "Readers": Group("Readers", inline_policies=(("read", PolicyDocument(READ)),))},
        policies={"everything": ManagedPolicy("everything", PolicyDocument(ADMIN))},
        users={"eve": User("eve", attached_policies=frozenset({admin_arn}))})
    assert rules(live=live, documents={admin_arn: ADMIN}) == [
        ("IAM-019", "group/Admins"), ("IAM-019", "group/Ops"), ("IAM-019", "group/Own"),
        ("IAM-019", "user/eve")]


@pytest.mark.parametrize(("statement", "grants"), [
    ({"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}, True),
    ({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b/*"}, False),
    ({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}, False),
    ({"Effect": "Deny", "Action": "*", "Resource": "*"}, False),
    ({"Effect": "Allow", "Action": "*", "Resource": "*",
      "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}, False),
])
def test_what_counts_as_star_star(statement: dict[str, object], grants: bool) -> None:
    assert grants_everything({"Version": "2012-10-17", "Statement": [statement]}) is grants


def test_support_role_certificates_cloudshell_and_organizations() -> None:
    facts = dataclasses.replace(
        CLEAN, support_holders=(),
        server_certificates=(("old", NOW - datetime.timedelta(days=1)),
                             ("new", NOW + datetime.timedelta(days=1))),
        cloudshell_holders=("group/Devs", "role/x"),
        organization_features=("RootSessions",))
    assert rules(facts) == [("IAM-020", "account/support-role"),
                            ("IAM-021", "server-certificate/old"),
                            ("IAM-022", "group/Devs"), ("IAM-022", "role/x"),
                            ("IAM-023", "account/root")]


def test_outside_an_organization_central_root_management_does_not_apply() -> None:
    assert rules(dataclasses.replace(CLEAN, organization_features=None)) == []
    assert rules(dataclasses.replace(CLEAN, organization_features=())) == [
        ("IAM-023", "account/root")]


def test_every_rule_has_cis_ids_and_existing_rules_show_theirs() -> None:
    assert set(RULES) <= set(CIS_IDS)
    assert cis_ids("IAM-004") == "CIS 1.10 / 2.10"
    assert cis_ids("IAM-006") == "CIS 1.14 / 2.12"
    assert cis_ids("IAM-001") == ""
