"""The plan's consequences: the shortcut that skips the escalation analysis when nothing
relevant changes must never hide a finding or an administrator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iamstate.consequences import consequences, state_findings
from iamstate.escalation import administrators
from iamstate.model import AccountConfig, Group, ManagedPolicy, State, User
from iamstate.permissions import Context, PermissionEngine
from iamstate.policy import PolicyDocument

ACCOUNT = "123456789012"
CONFIG = AccountConfig("acme", ACCOUNT, Path("."))
STATEMENTS = [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"},
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
    {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"},
    {"Effect": "Allow", "Action": "iam:CreateAccessKey",
     "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"},
    {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
    {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
    # reach by path and by what is attached: a user moved, a policy attached
    {"Effect": "Allow", "Action": "iam:PutUserPolicy",
     "Resource": f"arn:aws:iam::{ACCOUNT}:user/ops/*"},
    {"Effect": "Allow", "Action": "iam:CreatePolicyVersion",
     "Resource": f"arn:aws:iam::{ACCOUNT}:policy/shared"},
    {"Effect": "Allow", "Action": ["iam:AttachUserPolicy", "iam:AttachGroupPolicy"],
     "Resource": "*", "Condition": {"ArnNotEquals": {
         "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}},
]
GROUPS = ["A", "B", "C", "D"]


MANAGED = f"arn:aws:iam::{ACCOUNT}:policy/shared"


def document(statements: list[Any]) -> PolicyDocument:
    return PolicyDocument({"Version": "2012-10-17", "Statement": statements})


@st.composite
def states(draw: st.DrawFn) -> State:
    groups = {}
    for name in GROUPS:
        chosen = draw(st.lists(st.sampled_from(STATEMENTS), max_size=2))
        inline = (("p", document(chosen)),) if chosen else ()
        managed = frozenset({MANAGED}) if draw(st.booleans()) else frozenset()
        groups[name] = Group(name, inline_policies=inline, managed_policies=managed)
    shared = ManagedPolicy("shared", document(draw(st.lists(st.sampled_from(STATEMENTS),
                                                            min_size=1, max_size=2))))
    users = {f"u{i}": User(f"u{i}", path=draw(st.sampled_from(["/", "/ops/"])),
                           groups=frozenset(draw(st.sets(st.sampled_from(GROUPS)))))
             for i in range(4)}
    return State(users, groups, {"shared": shared})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(states(), states())
def test_the_shortcut_never_hides_a_finding_or_an_administrator(before: State,
                                                                 after: State) -> None:
    meaning = consequences(CONFIG, before, after, {})
    ctx = Context(ACCOUNT)
    old = state_findings(before, ctx, PermissionEngine(ctx))
    new = state_findings(after, ctx, PermissionEngine(ctx))
    claimed = {(f.id, f.principal, f.status) for f in meaning.findings
               if f.id != "UNREADABLE-POLICY"}
    widened = {k for k in set(new) & set(old)
               if (new[k].detail, new[k].via) != (old[k].detail, old[k].via)}
    expected = {(k[0], k[1], "new") for k in (set(new) - set(old)) | widened} | {
        (k[0], k[1], "gone") for k in set(old) - set(new)}
    assert claimed == expected
    admins = administrators(after, ctx)
    for name, change in meaning.users.items():
        assert change["admin"] == (name in admins and admins[name].admin)
