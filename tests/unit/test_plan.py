"""The planner is a pure function: (desired, live) -> ordered changes. No AWS here."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import UnsafePlan
from iamstate.model import (
    AccountConfig,
    Credentials,
    Group,
    ManagedPolicy,
    PasswordPolicy,
    State,
    User,
)
from iamstate.plan import CREATE, DELETE, PHASES, UPDATE, plan_account, plan_changes
from iamstate.policy import PolicyDocument

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
    changes = plan_changes(desired_state(), State())
    assert all(c.action == CREATE for c in changes)
    order = [c.kind for c in changes]
    assert order == ["password_policy", "policy", "group", "group", "group_attachment",
                     "group_policy", "user", "membership", "membership"]
    assert [c.phase for c in changes] == sorted(c.phase for c in changes)


def test_equal_states_plan_nothing() -> None:
    assert plan_changes(desired_state(), desired_state()) == []


def test_removals_run_in_reverse_dependency_order() -> None:
    live = desired_state()
    live.users["old"] = User("old", groups=frozenset({"Devs"}), console_access=True,
                             credentials=Credentials(access_keys=("AKIA1",)))
    live.groups["Gone"] = Group("Gone", inline_policies=(("x", DOC),))
    live.policies["gone"] = ManagedPolicy("gone", DOC)
    changes = plan_changes(desired_state(), live)
    assert [(c.action, c.kind, c.name) for c in changes] == [
        (DELETE, "user", "old"), (DELETE, "group", "Gone"), (DELETE, "policy", "gone")]
    removes = changes[0].detail["removes"]
    assert removes == ["login profile", "access key AKIA1", "membership of Devs"]


def test_user_policies_are_always_removed_and_memberships_fixed() -> None:
    live = desired_state()
    live.users["jdoe"] = User("jdoe", groups=frozenset({"AllUsers", "Old"}),
                              tags=(("team", "b"), ("x", "y")),
                              inline_policies=(("admin", DOC),),
                              attached_policies=frozenset({"arn:aws:iam::aws:policy/Admin"}))
    live.groups["Old"] = Group("Old")
    changes = {(c.action, c.kind, c.name): c for c in plan_changes(desired_state(), live)}
    assert (DELETE, "user_policy", "jdoe/admin") in changes
    assert (DELETE, "user_attachment", "jdoe arn:aws:iam::aws:policy/Admin") in changes
    assert (CREATE, "membership", "jdoe Devs") in changes
    assert (DELETE, "membership", "jdoe Old") in changes
    tags = changes[(UPDATE, "user", "jdoe")].detail["tags"]
    assert tags == {"set": {"team": "a"}, "remove": ["x"]}


def test_policy_document_change_is_a_new_version_with_a_diff() -> None:
    live = desired_state()
    live.policies["p"] = ManagedPolicy("p", DOC2, description="d",
                                       old_versions=("v1", "v2", "v3", "v4"))
    [change] = plan_changes(desired_state(), live)
    assert (change.action, change.kind) == (UPDATE, "policy")
    assert change.detail["delete_version"] == "v1"  # room for a 5th version
    assert any("s3:PutObject" in line and line.startswith("-") for line in change.detail["diff"])


def test_description_change_replaces_the_policy() -> None:
    live = desired_state()
    live.policies["p"] = ManagedPolicy("p", DOC, description="old")
    [change] = plan_changes(desired_state(), live)
    assert change.detail["replace"] == ["description"]


def test_policies_used_by_roles_are_never_deleted() -> None:
    live = desired_state()
    live.policies["role-only"] = ManagedPolicy("role-only", DOC, used_by_roles=("Lambda",))
    assert plan_changes(desired_state(), live) == []


def test_absent_password_policy_is_left_alone() -> None:
    desired = State(users={}, groups={}, policies={}, password_policy=None)
    live = State(password_policy=PasswordPolicy.from_fields({"MinimumPasswordLength": 8}))
    assert plan_changes(desired, live) == []


def test_safety_threshold_counts_users_groups_and_policies() -> None:
    live = desired_state()
    live.users["a"] = User("a")
    live.users["b"] = User("b")
    plan = plan_account(CONFIG, desired_state(), live)
    with pytest.raises(UnsafePlan, match="--allow-deletions 2"):
        plan.check_safety(None)
    plan.check_safety(2)


def test_every_change_kind_has_a_phase_and_digests_are_stable() -> None:
    changes = plan_changes(desired_state(), State())
    assert all((c.action, c.kind) in PHASES for c in changes)
    assert desired_state().digest() == desired_state().digest()
    assert desired_state().digest() != State().digest()
