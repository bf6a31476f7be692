"""The registry: every kind is complete, and an apply that exercises every kind (and every
sort of change of each) calls only IAM actions some kind declares — recorded through
botocore's event hooks, on top of the apply client's own refusal of undeclared actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iamstate.aws.live import READ_ACTIONS, read_live
from iamstate.aws.session import Connection
from iamstate.model.account import AccountConfig, Ignore
from iamstate.model.changes import Create, Delete, Replace, Update
from iamstate.model.state import State
from iamstate.plan.kinds import KINDS, Kind, all_actions, kind_of
from iamstate.plan.kinds.base import PlanContext
from iamstate.plan.planner import plan_changes
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, apply_changes, copy_example, write

DOC = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_is_complete(name: str) -> None:
    kind = KINDS[name]
    for method in ("diff", "apply"):
        assert getattr(type(kind), method) is not getattr(Kind, method), (name, method)
    assert kind.actions and all(a.startswith("iam:") for a in kind.actions)
    assert kind.label and kind.model is not None
    assert set(kind.after) <= set(KINDS)
    empty = PlanContext(AccountConfig("a", ACCOUNT_ID, Path("."), ignore=Ignore()), State(),
                        State())
    assert list(kind.diff(empty)) == []


def _seed_for_every_kind(iam: Any) -> None:
    """Live state that the example repository (edited below) changes in every way."""
    doc = json.dumps(DOC)
    iam.update_account_password_policy(MinimumPasswordLength=8)
    iam.create_policy(PolicyName="assume-readonly-role", PolicyDocument=doc,
                      Description="old words")  # description changes: replaced
    iam.create_policy(PolicyName="gone", PolicyDocument=doc)  # undeclared: deleted
    iam.create_policy(PolicyName="versioned", PolicyDocument=doc)  # new document: updated
    # renamed in place (a move is one UpdateGroup too, but moto ignores NewPath alone; the
    # Stubber test in test_apply.py holds that call)
    iam.create_group(GroupName="developers")
    iam.create_group(GroupName="Leaving")  # undeclared: deleted
    iam.create_group(GroupName="AllUsers")
    iam.put_group_policy(GroupName="AllUsers", PolicyName="SelfManageCredentials",
                         PolicyDocument=doc)  # updated
    iam.put_group_policy(GroupName="AllUsers", PolicyName="stale", PolicyDocument=doc)
    iam.attach_group_policy(GroupName="AllUsers",
                            PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")  # detached
    iam.create_user(UserName="asmith", Path="/")  # moved, tagged
    iam.create_user(UserName="jdoe")
    iam.create_login_profile(UserName="asmith", Password="Aa1!aaaaaaaaaaaaaaaa")  # removed
    iam.add_user_to_group(UserName="asmith", GroupName="Leaving")
    iam.put_user_policy(UserName="jdoe", PolicyName="own", PolicyDocument=doc)
    iam.attach_user_policy(UserName="jdoe", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.create_user(UserName="intruder")  # undeclared: torn down
    iam.create_access_key(UserName="intruder")


def test_an_apply_of_every_kind_calls_only_declared_actions(conn: Connection,
                                                           tmp_path: Path) -> None:
    repo = copy_example(tmp_path)
    write(repo, "accounts/sandbox/more.yaml", """
        policies:
          versioned:
            document:
              Version: "2012-10-17"
              Statement: [{Effect: Allow, Action: "s3:PutObject", Resource: "*"}]
        """)
    [account] = load_repository(repo)
    _seed_for_every_kind(conn.iam)
    live = read_live(conn, account.config, account.desired)
    changes = plan_changes(account.config, account.desired, live)
    seen = {(kind_of(c).name, type(c)) for c in changes}
    assert {name for name, _ in seen} == set(KINDS)
    for sort in (Create, Update, Delete, Replace):
        assert any(t is sort for _, t in seen), sort
    called: set[str] = set()
    conn.iam.meta.events.register(
        "before-call.iam.*", lambda model, **_: called.add(f"iam:{model.name}"))
    apply_changes(conn, account.config, changes, repo)
    assert called and called <= all_actions(), sorted(called - all_actions())
    assert not called & (READ_ACTIONS - all_actions()) - {"iam:ListEntitiesForPolicy"}
    after = read_live(conn, account.config, account.desired)
    assert plan_changes(account.config, account.desired, after) == []
