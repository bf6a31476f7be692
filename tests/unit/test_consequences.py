"""The plan's consequences: the shortcut that skips the escalation analysis when nothing
relevant changes must never hide a finding or an administrator."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from iamstate.analysis import consequences as consequences_module
from iamstate.analysis.consequences import consequences, state_findings
from iamstate.analysis.escalation import administrators, member_findings
from iamstate.analysis.permissions import Context, PermissionEngine
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.user.model import User
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument

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
    # conditions: what restricts a grant (`unless`) is part of a finding's detail
    {"Effect": "Deny", "Action": "iam:*", "Resource": "*",
     "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
    {"Effect": "Allow", "Action": ["iam:AddUserToGroup", "s3:PutObject"], "Resource": "*",
     "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
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
    users = {}
    for i in range(4):  # a live user may hold policies of their own (apply removes them)
        own = draw(st.lists(st.sampled_from(STATEMENTS), max_size=1))
        users[f"u{i}"] = User(
            f"u{i}", path=draw(st.sampled_from(["/", "/ops/"])),
            groups=frozenset(draw(st.sets(st.sampled_from(GROUPS)))),
            inline_policies=(("own", document(own)),) if own else (),
            attached_policies=frozenset({MANAGED}) if i == 0 and draw(st.booleans())
            else frozenset())
    return State(users, groups, {"shared": shared})


@settings(max_examples=150, deadline=None, derandomize=True)
@given(states(), states())
def test_the_shortcut_never_hides_a_finding_or_an_administrator(before: State,
                                                                 after: State) -> None:
    assert_same_as_the_full_analysis(before, after)


def assert_same_as_the_full_analysis(before: State, after: State) -> None:
    """The plan's findings and admin flags are what analysing both states in full gives:
    the same findings as with the shortcut switched off; every (id, principal) found only
    after is new unless its user was an administrator throughout; every one found only
    before is gone unless the user still has the path through a group."""
    meaning = consequences(CONFIG, before, after, {})
    with patch.object(consequences_module, "_may_change_findings", lambda *_: True):
        full = consequences(CONFIG, before, after, {})
    assert set(meaning.findings) == set(full.findings)
    ctx = Context(ACCOUNT)
    old = state_findings(before, ctx, PermissionEngine(ctx))
    new = state_findings(after, ctx, PermissionEngine(ctx))
    was, now = administrators(before, ctx), administrators(after, ctx)
    throughout = {f"user/{n}" for n in set(was) & set(now) if was[n].admin and now[n].admin}
    claimed = {(f.id, f.principal, f.status) for f in meaning.findings
               if f.id != "UNREADABLE-POLICY"}
    had = set(old) | set(member_findings(before, ctx))  # through a group, before
    assert {(k[0], k[1], "new") for k in set(new) - had if k[1] not in throughout} <= claimed
    through_groups = set(member_findings(after, ctx))  # the path stays, through a group
    assert {(f, p) for f, p, status in claimed if status == "gone"} == \
        set(old) - set(new) - through_groups
    for name, change in meaning.users.items():
        assert change.admin == (name in now and now[name].admin)


@st.composite
def documents_changed(draw: st.DrawFn) -> tuple[State, State]:
    """A state, and the same state with only documents changed: one group's inline policy
    or the shared managed policy. Names, paths, memberships and attachments stay, so the
    shortcut is the one that decides (independent states almost always move someone)."""
    before = draw(states())
    target = draw(st.sampled_from([*GROUPS, "shared", "u0", "u1"]))
    statements = draw(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=3))
    if target == "shared":
        policies = {"shared": ManagedPolicy("shared", document(statements))}
        return before, State(before.users, before.groups, policies)
    if target in before.users:
        user = before.users[target]
        if not user.inline_policies:
            return before, before
        changed_user = dataclasses.replace(user, inline_policies=(("own", document(statements)),))
        return before, State({**before.users, target: changed_user}, before.groups,
                             before.policies)
    group = before.groups[target]
    if not group.inline_policies:
        return before, before
    changed = Group(target, inline_policies=(("p", document(statements)),),
                    managed_policies=group.managed_policies)
    return before, State(before.users, {**before.groups, target: changed}, before.policies)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(documents_changed())
def test_the_shortcut_is_exact_when_only_documents_change(states: tuple[State, State]) -> None:
    before, after = states
    assert_same_as_the_full_analysis(before, after)


ADD = {"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": "*"}
ADD_WITH_MFA = {"Effect": "Allow", "Action": ["iam:AddUserToGroup", "s3:PutObject"],
                "Resource": "*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
S3 = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}


def _group_only(inline: dict[str, Any], managed: dict[str, Any] | None = None) -> State:
    """Group A, no members (so no user's permissions change), with a finding of its own."""
    policies = {"shared": ManagedPolicy("shared", document([managed]))} if managed else {}
    group = Group("A", inline_policies=(("p", document([inline])),),
                  managed_policies=frozenset({MANAGED}) if managed else frozenset())
    return State({}, {"A": group}, policies)


def test_a_path_that_loses_its_condition_is_new_and_one_that_gains_one_is_not() -> None:
    """Status is about reach: dropping the MFA condition widens the path (new again);
    adding it narrows the path (nothing the reviewer has not seen)."""
    assert_same_as_the_full_analysis(_group_only(ADD), _group_only(ADD_WITH_MFA))
    assert consequences(CONFIG, _group_only(ADD), _group_only(ADD_WITH_MFA), {}).findings == ()
    widened = consequences(CONFIG, _group_only(ADD_WITH_MFA), _group_only(ADD), {})
    assert [(f.id, f.status) for f in widened.findings] == [("ESC-ADD-USER-TO-GROUP", "new")]


def test_a_path_that_moves_to_another_policy_is_the_same_power() -> None:
    before, after = _group_only(ADD, managed=S3), _group_only(S3, managed=ADD)
    assert_same_as_the_full_analysis(before, after)
    assert consequences(CONFIG, before, after, {}).findings == ()


def test_a_path_that_moves_between_a_users_own_policies_is_the_same_power() -> None:
    """A live user's own attached policies swap documents: nobody gains anything, and the
    path reaches what it reached: the route changed, not the power."""
    pass_role = {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"],
                 "Resource": "*"}
    other = f"arn:aws:iam::{ACCOUNT}:policy/other"

    def state(first: dict[str, Any], second: dict[str, Any]) -> State:
        bob = User("bob", attached_policies=frozenset({MANAGED, other}))
        return State({"bob": bob}, {}, {"shared": ManagedPolicy("shared", document([first])),
                                        "other": ManagedPolicy("other", document([second]))})

    before, after = state(pass_role, S3), state(S3, pass_role)
    assert_same_as_the_full_analysis(before, after)
    assert consequences(CONFIG, before, after, {}).findings == ()
