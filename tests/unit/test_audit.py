"""Audit rules on a deliberately broken account (pure: live model + credential report)."""

from __future__ import annotations

import datetime
from pathlib import Path

from iamstate.analysis.audit import audit_account
from iamstate.entities.group.model import Group
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.entities.user.model import User
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument
from iamstate.repository.strategy import Category

NOW = datetime.datetime(2026, 11, 22, tzinfo=datetime.UTC)
CONFIG = AccountConfig("acme", "123456789012", Path("."), common_groups=("AllUsers",),
                       categories=(Category("AllHumans"),
                                   Category("AllHeadlessUsers", "^HeadlessUser-")))
DOC = PolicyDocument({"Version": "2012-10-17", "Statement": []})


def row(user: str, **fields: str) -> dict[str, str]:
    return {"user": user, "password_enabled": "false", "mfa_active": "false",
            "access_key_1_active": "false", "access_key_2_active": "false", **fields}


def days_ago(days: int) -> str:
    return (NOW - datetime.timedelta(days=days)).isoformat()


def test_a_broken_account_gets_one_finding_per_rule() -> None:
    live = State(
        users={
            "alice": User("alice", groups=frozenset({"AllUsers", "AllHumans"})),
            "bob": User("bob", groups=frozenset({"AllHumans", "AllHeadlessUsers"}),
                        inline_policies=(("admin", DOC),)),
            "HeadlessUser-ci": User("HeadlessUser-ci",
                                    groups=frozenset({"AllUsers", "AllHeadlessUsers"})),
            "carol": User("carol", groups=frozenset({"AllUsers", "AllHumans"})),
        },
        groups={"AllUsers": Group("AllUsers"), "AllHumans": Group("AllHumans"),
                "AllHeadlessUsers": Group("AllHeadlessUsers"), "Empty": Group("Empty")},
        password_policy=PasswordPolicy.from_fields({"MinimumPasswordLength": 8}),
    )
    report = [
        row("alice", password_enabled="true"),
        row("bob", mfa_active="true"),
        row("HeadlessUser-ci", password_enabled="true",
            access_key_1_active="true", access_key_1_last_rotated=days_ago(200),
            access_key_1_last_used_date=days_ago(150),
            access_key_2_active="true", access_key_2_last_rotated=days_ago(10),
            access_key_2_last_used_date=days_ago(1)),
        row("carol", mfa_active="true"),
    ]
    declared = PasswordPolicy.from_fields({"MinimumPasswordLength": 14, "RequireSymbols": True})
    found = [(f.rule, f.subject) for f in audit_account(CONFIG, live, report, declared, NOW)]
    assert found == [
        ("IAM-001", "user/bob"),
        ("IAM-002", "user/bob"),
        ("IAM-003", "user/bob"),
        ("IAM-004", "user/alice"),
        ("IAM-005", "user/HeadlessUser-ci"),
        ("IAM-006", "user/HeadlessUser-ci"),
        ("IAM-007", "user/HeadlessUser-ci"),
        ("IAM-008", "user/HeadlessUser-ci"),
        ("IAM-009", "user/HeadlessUser-ci"),
        ("IAM-010", "group/Empty"),
        ("IAM-011", "account/password-policy"),
    ]


def test_a_clean_account_has_no_findings() -> None:
    live = State(users={"alice": User("alice", groups=frozenset({"AllUsers", "AllHumans"})),
                        "HeadlessUser-x": User("HeadlessUser-x", groups=frozenset(
                            {"AllUsers", "AllHeadlessUsers"}))},
                 groups={"AllUsers": Group("AllUsers"), "AllHumans": Group("AllHumans"),
                         "AllHeadlessUsers": Group("AllHeadlessUsers")})
    report = [row("alice", password_enabled="true", mfa_active="true"),
              row("HeadlessUser-x", access_key_1_active="true",
                  access_key_1_last_rotated=days_ago(30),
                  access_key_1_last_used_date=days_ago(1))]
    assert audit_account(CONFIG, live, report, None, NOW) == []
