"""`ignore.paths` protects what a user or group under the path holds, as a name glob does:
a policy deleted, or replaced, would be detached from it, and a group deleted would lose it
as a member. Each variant is tried with the holder ignored by path and, as the control, by
name (which always kept it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from iamstate.aws.live import read_live
from iamstate.aws.session import Connection
from iamstate.errors import RepoError
from iamstate.model.changes import Delete, Replace
from iamstate.plan.planner import plan_account
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, minimal_repo

DOC = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
BASE = f"""
account_id: "{ACCOUNT_ID}"
common_groups: [AllUsers]
categories:
  AllHumans: {{}}
"""
BY = {"path": 'ignore:\n  paths: ["/emergency/"]\n',
      "name": 'ignore:\n  users: ["oncall*"]\n  groups: ["Responders*"]\n'}
GROUPS = "groups:\n  AllUsers: {}\n  AllHumans: {}\n"
SHARED = """policies:
  shared:
    document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject",
               Resource: "*"}]}
    description: new words
"""


def plan(conn: Connection, tmp_path: Path, by: str, extra: str = "") -> Any:
    repo = minimal_repo(tmp_path, account_yaml=BASE + BY[by],
                        files={"accounts/acme/iam.yaml": GROUPS + extra})
    account = load_repository(repo)[0]
    live = read_live(conn, account.config, account.desired)
    return plan_account(account.config, account.desired, live, with_consequences=False)


def holders(iam: Any) -> None:
    for group in ("AllUsers", "AllHumans"):
        iam.create_group(GroupName=group)
    iam.create_user(UserName="oncall-1", Path="/emergency/")
    iam.create_group(GroupName="Responders", Path="/emergency/")


def policy(iam: Any, name: str, description: str = "") -> str:
    made = iam.create_policy(PolicyName=name, PolicyDocument=DOC,
                             **({"Description": description} if description else {}))
    return str(made["Policy"]["Arn"])


def attach(iam: Any, holder: str, arn: str) -> None:
    """`arn` attached to the ignored user or to the ignored group."""
    if holder == "user":
        iam.attach_user_policy(UserName="oncall-1", PolicyArn=arn)
    else:
        iam.attach_group_policy(GroupName="Responders", PolicyArn=arn)


@pytest.mark.parametrize("by", ["path", "name"])
@pytest.mark.parametrize("holder", ["user", "group"])
def test_an_undeclared_policy_an_ignored_holder_uses_is_kept(
        conn: Connection, tmp_path: Path, by: str, holder: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    holders(iam)
    arn = policy(iam, "stray")
    attach(iam, holder, arn)
    planned = plan(conn, tmp_path, by)
    assert not [c for c in planned.changes if isinstance(c, Delete)], planned.changes
    assert [(k.kind, k.name) for k in planned.kept] == [("policy", "stray")]


@pytest.mark.parametrize("by", ["path", "name"])
def test_an_undeclared_group_an_ignored_user_is_in_is_kept(
        conn: Connection, tmp_path: Path, by: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    holders(iam)
    iam.create_group(GroupName="Contractors")
    iam.add_user_to_group(GroupName="Contractors", UserName="oncall-1")
    planned = plan(conn, tmp_path, by)
    assert not [c for c in planned.changes if isinstance(c, Delete)], planned.changes
    assert [(k.kind, k.name) for k in planned.kept] == [("group", "Contractors")]


@pytest.mark.parametrize("by", ["path", "name"])
@pytest.mark.parametrize("holder", ["user", "group"])
def test_a_replacement_that_would_detach_from_an_ignored_holder_is_refused(
        conn: Connection, tmp_path: Path, by: str, holder: str) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    holders(iam)
    arn = policy(iam, "shared", "old words")
    attach(iam, holder, arn)
    with pytest.raises(RepoError) as refused:
        planned = plan(conn, tmp_path, by, SHARED)
        assert not [c for c in planned.changes if isinstance(c, Replace)], planned.changes
    assert "would detach it from ignored" in str(refused.value)
