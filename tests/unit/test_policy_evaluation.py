"""What the shipped policies allow, decided by a real IAM policy simulator
(@cloud-copilot/iam-simulate, pinned in tests/policy_eval/), not by reading them.

The policies are taken from the example repository as iamstate loads them (variables
substituted), attached as the seed strategy attaches them: AllUsers to everyone,
AllHumans (require MFA) to humans, Developers to developers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID
from tests.simulator import needs_node, simulate

pytestmark = needs_node

ALLOW, DENY, NONE = "Allowed", "ExplicitlyDenied", "ImplicitlyDenied"
IAM = f"arn:aws:iam::{ACCOUNT_ID}"
NO_MFA = {"aws:MultiFactorAuthPresent": "false"}
MFA = {"aws:MultiFactorAuthPresent": "true"}
KEYS: dict[str, str] = {}  # long-term access keys: the MFA key is absent from the request

# (who, path, groups, mfa context, action, resource, expected)
TABLE: list[tuple[str, str, str, dict[str, str], str, str, str]] = [
    ("alice", "/", "human", NO_MFA, "iam:ChangePassword", "user/alice", ALLOW),
    ("alice", "/", "human", NO_MFA, "iam:GetAccountPasswordPolicy", "*", ALLOW),
    ("alice", "/", "human", NO_MFA, "iam:CreateVirtualMFADevice", "mfa/alice", ALLOW),
    ("alice", "/", "human", NO_MFA, "iam:EnableMFADevice", "user/alice", ALLOW),
    ("alice", "/", "human", NO_MFA, "iam:CreateAccessKey", "user/alice", DENY),
    ("alice", "/", "human", NO_MFA, "iam:DeactivateMFADevice", "user/alice", DENY),
    ("alice", "/", "human", NO_MFA, "s3:GetObject", "arn:aws:s3:::b/k", DENY),
    ("alice", "/", "human", NO_MFA, "sts:AssumeRole", "role/ReadOnly", DENY),
    ("alice", "/", "human", MFA, "iam:CreateAccessKey", "user/alice", ALLOW),
    ("alice", "/", "human", MFA, "iam:UploadSSHPublicKey", "user/alice", ALLOW),
    ("alice", "/", "human", MFA, "iam:CreateAccessKey", "user/bob", NONE),
    ("alice", "/", "human", MFA, "iam:CreateVirtualMFADevice", "mfa/bob", NONE),
    ("alice", "/", "human", MFA, "sts:AssumeRole", "role/ReadOnly", ALLOW),
    ("alice", "/", "human", MFA, "sts:AssumeRole", "role/Admin", NONE),
    ("eve", "/eng/", "human", MFA, "iam:CreateAccessKey", "user/eng/eve", ALLOW),
    ("eve", "/eng/", "human", MFA, "iam:DeleteSSHPublicKey", "user/eng/eve", ALLOW),
    ("eve", "/eng/", "human", MFA, "iam:CreateAccessKey", "user/eng/alice", NONE),
    ("eve", "/eng/", "human", MFA, "iam:CreateAccessKey", "user/eng/evel", NONE),
    ("HeadlessUser-ci", "/", "headless", KEYS, "iam:CreateAccessKey", "user/HeadlessUser-ci",
     ALLOW),
    ("HeadlessUser-ci", "/", "headless", KEYS, "iam:GetAccountPasswordPolicy", "*", ALLOW),
    ("HeadlessUser-ci", "/", "headless", KEYS, "iam:CreateAccessKey", "user/alice", NONE),
    ("HeadlessUser-ci", "/", "headless", KEYS, "s3:GetObject", "arn:aws:s3:::b/k", NONE),
]


def _policies(example_repo: Path) -> dict[str, list[dict[str, Any]]]:
    [account] = load_repository(example_repo)
    groups = account.desired.groups

    def inline(group: str) -> list[dict[str, Any]]:
        return [{"name": f"{group}-{name}", "policy": json.loads(doc.to_json())}
                for name, doc in groups[group].inline_policies]

    developers = [{"name": "assume-readonly-role",
                   "policy": json.loads(account.desired.policies["assume-readonly-role"]
                                        .document.to_json())}]
    return {"human": inline("AllUsers") + inline("AllHumans") + developers,
            "headless": inline("AllUsers")}


def _resource(resource: str) -> str:
    return resource if resource == "*" or resource.startswith("arn:") else f"{IAM}:{resource}"




def test_shipped_policies_allow_exactly_what_the_strategy_says(example_repo: Path) -> None:
    policies = _policies(example_repo)
    cases: list[dict[str, Any]] = [{"principal": f"{IAM}:user{path}{who}", "action": action,
              "resource": _resource(resource), "account": ACCOUNT_ID,
              "context": {"aws:username": who, **mfa}, "policies": policies[kind]}
             for who, path, kind, mfa, action, resource, _ in TABLE]
    decisions = simulate(cases)
    table = [f"{row[0]:16} {'MFA' if row[3] is MFA else 'no MFA':7} {row[4]:30} "
             f"{row[5]:22} {got}" for row, got in zip(TABLE, decisions, strict=True)]
    wrong = [line for line, row, got in zip(table, TABLE, decisions, strict=True)
             if got != row[6]]
    assert not wrong, "\n".join(wrong)
