"""Class: plans that say something other than what the team meant. A partial password
policy must not weaken what it leaves out; a name that differs only by case is the same IAM
entity (renamed in place, keeping credentials and memberships); documents that mean the
same are not changes."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from botocore.stub import Stubber

from iamstate.aws.session import Connection
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.model.account import AccountConfig
from iamstate.model.changes import Update
from iamstate.model.state import State
from iamstate.plan.planner import plan_account
from tests.e2e.conftest import Cli
from tests.helpers import ACCOUNT_ID, apply_changes

STRICT = {"MinimumPasswordLength": 16, "RequireSymbols": True, "RequireNumbers": True,
          "RequireUppercaseCharacters": True, "RequireLowercaseCharacters": True,
          "AllowUsersToChangePassword": True, "MaxPasswordAge": 30,
          "PasswordReusePrevention": 12, "HardExpiry": True}


def set_account_yaml(cli: Cli, password_policy: str) -> None:
    path = cli.repo / "accounts/sandbox/account.yaml"
    text = path.read_text()
    start = text.index("password_policy:")
    end = text.index("safety:")
    path.write_text(text[:start] + password_policy + text[end:])


def test_a_partial_password_policy_keeps_every_other_setting(cli: Cli) -> None:
    cli.iam.update_account_password_policy(**STRICT)
    set_account_yaml(cli, "password_policy:\n  minimum_password_length: 20\n")
    plan = cli("plan", "--out", "p.json")
    assert "~ update account password policy account" in plan.out
    assert "MinimumPasswordLength: 16 -> 20" in plan.out
    assert "other settings: kept as they are" in plan.out
    assert "RequireSymbols" not in plan.out and "MaxPasswordAge" not in plan.out
    assert cli("apply", "p.json").code == 0
    live = cli.iam.get_account_password_policy()["PasswordPolicy"]
    assert {k: live[k] for k in STRICT} == {**STRICT, "MinimumPasswordLength": 20}
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_password_policy_that_only_matches_declared_settings_is_not_a_change(
    cli: Cli,
) -> None:
    cli.iam.update_account_password_policy(**STRICT)
    set_account_yaml(cli, "password_policy:\n  require_symbols: true\n  max_password_age: 30\n")
    assert cli("apply", "--auto-approve").code == 0
    plan = cli("plan")
    assert "password policy" not in plan.out


def rename_in_repo(cli: Cli, old: str, new: str) -> None:
    for path in (cli.repo / "accounts/sandbox").glob("*.yaml"):
        text = path.read_text()
        path.write_text(text.replace(f"  {old}:", f"  {new}:").replace(f"[{old}]", f"[{new}]"))


def test_a_case_change_is_a_rename_that_keeps_credentials_and_memberships(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    key = cli.iam.create_access_key(UserName="asmith")["AccessKey"]["AccessKeyId"]
    rename_in_repo(cli, "asmith", "ASmith")
    rename_in_repo(cli, "Developers", "developers")
    plan = cli("plan", "--out", "p.json")
    assert plan.code == 0, plan.both
    assert "destroy" not in plan.out.replace("0 to destroy", "")
    assert "~ update user ASmith" in plan.out and "renamed: asmith -> ASmith" in plan.out
    assert "~ update group developers" in plan.out and \
        "renamed: Developers -> developers" in plan.out
    applied = cli("apply", "p.json")
    assert applied.code == 0, applied.both
    users = {u["UserName"] for u in cli.iam.list_users()["Users"]}
    assert "ASmith" in users and "asmith" not in users
    keys = cli.iam.list_access_keys(UserName="ASmith")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key]
    groups = {g["GroupName"] for g in
              cli.iam.list_groups_for_user(UserName="ASmith")["Groups"]}
    assert groups == {"AllUsers", "AllHumans", "developers"}
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_rename_is_one_update_user_call_and_tags_follow() -> None:
    """moto drops a user's tags on a rename (AWS keeps them); Stubber holds the apply to
    AWS's calls: UpdateUser with the new name, then the tags sent again."""
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    stub = Stubber(iam)
    stub.add_response("update_user", {}, {"UserName": "asmith", "NewUserName": "ASmith"})
    stub.add_response("tag_user", {}, {"UserName": "ASmith",
                                       "Tags": [{"Key": "team", "Value": "a"}]})
    before = User("asmith", tags=(("team", "a"),))
    after = User("ASmith", tags=(("team", "a"),))
    config = AccountConfig("acme", ACCOUNT_ID, Path("."))
    with stub:
        apply_changes(Connection(iam, None, ACCOUNT_ID), config, [Update(before, after)],
                      Path("."))
    stub.assert_no_pending_responses()


def test_a_live_policy_name_in_another_case_is_an_error_not_a_delete_and_create() -> None:
    from iamstate.entities.managed_policy.model import ManagedPolicy
    from iamstate.errors import RepoError
    from iamstate.repository.policy import PolicyDocument

    doc = PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    config = AccountConfig("acme", ACCOUNT_ID, Path("."))
    try:
        plan_account(config, State(policies={"Read": ManagedPolicy("Read", doc)}),
                     State(policies={"read": ManagedPolicy("read", doc)}))
    except RepoError as error:
        assert "exists in AWS as read;" in str(error)
    else:
        raise AssertionError("planned a delete and a create of one policy")


def test_groups_and_users_match_live_names_in_any_case() -> None:
    config = AccountConfig("acme", ACCOUNT_ID, Path("."))
    desired = State(users={"Kim": User("Kim", groups=frozenset({"Ops"}))},
                    groups={"Ops": Group("Ops")})
    live = State(users={"kim": User("kim", groups=frozenset({"OPS"}))},
                 groups={"OPS": Group("OPS", members=("kim",))})
    plan = plan_account(config, desired, live)
    assert [type(c).__name__ for c in plan.changes] == ["Update", "Update"]


def test_documents_that_mean_the_same_are_not_changes(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    require = cli.repo / "policies/require-mfa.json"
    data = json.loads(require.read_text())
    # the same condition: a boolean for "false", the key in another case, a list of one
    data["Statement"][0]["Condition"] = {"BoolIfExists": {"aws:multifactorauthpresent": [False]}}
    data["Statement"][0]["NotAction"] = list(reversed(data["Statement"][0]["NotAction"]))
    require.write_text(json.dumps(data))
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.out
