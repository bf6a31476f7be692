"""The planner is a pure function: (desired, live) -> ordered typed changes. No AWS here."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.entities.user.model import Credentials, User
from iamstate.errors import UnsafePlan
from iamstate.model.account import AccountConfig
from iamstate.model.changes import CREATE, DELETE, UPDATE, Delete, Replace, Update
from iamstate.model.state import State
from iamstate.outputs.lines import diff_lines
from iamstate.plan.checks import DeletionThreshold, Overrides
from iamstate.plan.kinds import KINDS, kind_of, stage
from iamstate.plan.planner import plan_account, plan_changes
from iamstate.repository.policy import PolicyDocument
from tests.helpers import extended, summary_of

CONFIG = AccountConfig("acme", "123456789012", Path("."), max_deletions=1)
DOC = PolicyDocument({"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                     "Resource": "*"}]})
DOC2 = PolicyDocument({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "s3:PutObject",
                                      "Resource": "*"}]})
ARN = "arn:aws:iam::123456789012:policy/p"


def desired_state() -> State:
    return State(
        users={"jdoe": User("jdoe", groups=frozenset({"AllUsers", "Devs"}),
                            tags=(("team", "a"),))},
        groups={"AllUsers": Group("AllUsers"),
                "Devs": Group("Devs", inline_policies=(("read", DOC),),
                              managed_policies=frozenset({ARN}))},
        policies={"p": ManagedPolicy("p", DOC, description="d")},
        password_policy=PasswordPolicy.from_fields({"MinimumPasswordLength": 14}),
    )


def test_from_nothing_everything_is_created_in_dependency_order() -> None:
    changes = plan_changes(CONFIG, desired_state(), State())
    assert all(c.action == CREATE for c in changes)
    order = [kind_of(c).name for c in changes]
    assert order == ["password_policy", "policy", "group", "group", "group_attachment",
                     "group_policy", "user", "membership", "membership"]
    assert [stage(c) for c in changes] == sorted(stage(c) for c in changes)


def test_equal_states_plan_nothing() -> None:
    live = extended(desired_state(), password_policy=PasswordPolicy.from_fields(
        {"MinimumPasswordLength": 14}, complete=True))
    assert plan_changes(CONFIG, desired_state(), live) == []


def test_removals_run_in_reverse_dependency_order() -> None:
    live = extended(desired_state(), users={
        "old": User("old", groups=frozenset({"Devs"}), console_access=True,
                    credentials=Credentials(access_keys=("AKIA1",)))},
        groups={"Gone": Group("Gone", inline_policies=(("x", DOC),))},
        policies={"gone": ManagedPolicy("gone", DOC)})
    changes = [c for c in plan_changes(CONFIG, desired_state(), live)
               if kind_of(c).name != "password_policy"]
    assert summary_of(changes) == [
        (DELETE, "user", "old"), (DELETE, "group", "Gone"), (DELETE, "policy", "gone")]
    assert kind_of(changes[0]).describe(changes[0]) == [
        "teardown removes: login profile, access key AKIA1, membership of Devs"]


def test_user_policies_are_always_removed_and_memberships_fixed() -> None:
    live = extended(desired_state(), users={
        "jdoe": User("jdoe", groups=frozenset({"AllUsers", "Old"}),
                     tags=(("team", "b"), ("x", "y")), inline_policies=(("admin", DOC),),
                     attached_policies=frozenset({"arn:aws:iam::aws:policy/Admin"}))},
        groups={"Old": Group("Old")})
    changes = plan_changes(CONFIG, desired_state(), live)
    named = dict(zip(summary_of(changes), changes, strict=True))
    assert (DELETE, "user_policy", "jdoe/admin") in named
    assert (DELETE, "user_attachment", "jdoe arn:aws:iam::aws:policy/Admin") in named
    assert (CREATE, "membership", "jdoe Devs") in named
    assert (DELETE, "membership", "jdoe Old") in named
    update = named[(UPDATE, "user", "jdoe")]
    assert isinstance(update, Update)
    assert kind_of(update).describe(update) == ["tag team = a", "tag x removed"]


def test_policy_document_change_is_a_new_version_with_a_diff() -> None:
    live = extended(desired_state(), policies={
        "p": ManagedPolicy("p", DOC2, description="d", old_versions=("v1", "v2", "v3", "v4"))})
    [change] = [c for c in plan_changes(CONFIG, desired_state(), live)
                if kind_of(c).name == "policy"]
    assert isinstance(change, Update) and change.before.old_versions[0] == "v1"
    assert "deletes old version v1 (IAM keeps 5 at most)" in kind_of(change).describe(change)
    assert any("s3:PutObject" in line and line.startswith("-") for line in diff_lines(change))


def test_description_change_replaces_the_policy() -> None:
    live = extended(desired_state(), policies={"p": ManagedPolicy("p", DOC, description="old")})
    [change] = [c for c in plan_changes(CONFIG, desired_state(), live)
                if kind_of(c).name == "policy"]
    assert isinstance(change, Replace)
    assert change.before.description == "old" and change.after.description == "d"


def test_policies_used_by_roles_are_never_deleted() -> None:
    live = extended(desired_state(), policies={
        "role-only": ManagedPolicy("role-only", DOC, attached=("role/Lambda",))})
    result = plan_account(CONFIG, desired_state(), live)
    assert not [c for c in result.changes if isinstance(c, Delete)]
    [kept] = result.kept
    assert kept.name == "role-only" and "role/Lambda" in kept.reason


def test_absent_password_policy_is_left_alone() -> None:
    desired = State(users={}, groups={}, policies={}, password_policy=None)
    live = State(password_policy=PasswordPolicy.from_fields({"MinimumPasswordLength": 8}))
    assert plan_changes(CONFIG, desired, live) == []


def test_safety_threshold_counts_users_groups_and_policies() -> None:
    live = extended(desired_state(), users={"a": User("a"), "b": User("b")})
    result = plan_account(CONFIG, desired_state(), live)
    with pytest.raises(UnsafePlan, match="--allow-deletions 2"):
        DeletionThreshold().check(result, Overrides())
    DeletionThreshold().check(result, Overrides(allow_deletions=2))


def test_every_kind_is_ordered_and_digests_are_stable() -> None:
    changes = plan_changes(CONFIG, desired_state(), State())
    assert {kind_of(c).name for c in changes} <= set(KINDS)
    assert desired_state().digest() == desired_state().digest()
    assert desired_state().digest() != State().digest()


def test_states_cannot_be_changed_in_place() -> None:
    state = desired_state()
    with pytest.raises(TypeError):
        state.users["x"] = User("x")  # type: ignore[index]
    document = state.groups["Devs"].inline_policies[0][1].document
    with pytest.raises(TypeError):
        document["Statement"].append({})
    with pytest.raises(TypeError):
        document["Version"] = "2008-10-17"  # type: ignore[index]
