"""Class: a managed policy replaced (its path or description changed; IAM cannot change
either in place). Nothing that had it may lose it: roles outside iamstate, users, groups;
a permissions boundary is never touched; a failure halfway restores the old policy and its
attachments; the plan says `-/+ replace` and what is detached and re-attached."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from iamstate.aws.session import Connection
from iamstate.entities.managed_policy.live import with_usage
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.errors import RepoError
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.plan.planner import plan_account
from iamstate.repository.policy import PolicyDocument
from tests.e2e.conftest import Cli
from tests.e2e.fault_proxy import Faults, fault_proxy
from tests.helpers import ACCOUNT_ID, exists

OLD = f"arn:aws:iam::{ACCOUNT_ID}:policy/assume-readonly-role"
NEW = f"arn:aws:iam::{ACCOUNT_ID}:policy/team/assume-readonly-role"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})


def apply_example(cli: Cli) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    assert cli("apply", "p.json").code == 0


def edit_policy(cli: Cli, line: str) -> None:
    path = cli.repo / "accounts/sandbox/groups.yaml"
    text = path.read_text()
    if line.startswith("description:"):
        text = text.replace("    description: Lets members assume the ReadOnly role\n", "")
    path.write_text(text.replace("    document: assume-readonly-role\n",
                                 f"    document: assume-readonly-role\n    {line}\n"))


def attached_to(cli: Cli, arn: str) -> set[str]:
    found = cli.iam.list_entities_for_policy(PolicyArn=arn)
    return ({f"group/{g['GroupName']}" for g in found["PolicyGroups"]}
            | {f"user/{u['UserName']}" for u in found["PolicyUsers"]}
            | {f"role/{r['RoleName']}" for r in found["PolicyRoles"]})


def policy_exists(cli: Cli, arn: str) -> bool:
    return exists(cli.iam, "get_policy", PolicyArn=arn)


def replace_a_policy_a_role_holds(cli: Cli) -> None:
    """The example applied; a role outside iamstate holds the policy; its path changes."""
    apply_example(cli)
    cli.iam.create_role(RoleName="Lambda", AssumeRolePolicyDocument=TRUST)
    cli.iam.attach_role_policy(RoleName="Lambda", PolicyArn=OLD)
    edit_policy(cli, "path: /team/")


def apply_cancelled_at(cli: Cli, on_call: Callable[[subprocess.Popen[str], Faults, str,
                                                    dict[str, str]], tuple[int, str] | None],
                       ) -> tuple[int, str, str]:
    """Plan, then apply as its own process through a fault proxy whose rule may signal it:
    (exit code, stdout, stderr)."""
    with fault_proxy(cli.env["AWS_ENDPOINT_URL"]) as (url, faults):
        env = {**cli.env, "AWS_ENDPOINT_URL": url}
        assert dataclasses.replace(cli, env=env)("plan", "--out", "p.json").code == 0
        process = subprocess.Popen(cli.command("apply", "p.json", "--allow-deletions", "1"),
                                   env=env, cwd=cli.repo, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        faults.rule = lambda name, params: on_call(process, faults, name, params)
        out, err = process.communicate(timeout=120)
    return process.returncode, out, err


@pytest.mark.parametrize("change,new_arn", [("path: /team/", NEW),
                                            ("description: Assume ReadOnly (reworded)", OLD)],
                         ids=["path", "description"])
def test_a_replacement_re_attaches_everything_that_had_it(cli: Cli, change: str,
                                                          new_arn: str) -> None:
    apply_example(cli)
    cli.iam.create_role(RoleName="Lambda", AssumeRolePolicyDocument=TRUST)
    cli.iam.attach_role_policy(RoleName="Lambda", PolicyArn=OLD)
    edit_policy(cli, change)
    plan = cli("plan", "--out", "p.json")
    assert plan.code == 0, plan.both
    assert "-/+ replace managed policy assume-readonly-role" in plan.out
    assert "detaches and re-attaches: group/Developers, role/Lambda" in plan.out
    assert "1 to add" in plan.out and "1 to destroy" in plan.out
    applied = cli("apply", "p.json")
    assert applied.code == 0, applied.both
    assert attached_to(cli, new_arn) == {"group/Developers", "role/Lambda"}
    assert new_arn == OLD or not policy_exists(cli, OLD)
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_replacement_counts_against_max_deletions(cli: Cli) -> None:
    apply_example(cli)
    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text().replace("max_deletions: 5", "max_deletions: 0"))
    edit_policy(cli, "path: /team/")
    assert cli("plan", "--out", "p.json").code == 0
    before = cli.snapshot()
    refused = cli("apply", "p.json")
    assert refused.code == 1 and "--allow-deletions 1" in refused.err
    assert cli.snapshot() == before
    assert cli("apply", "p.json", "--allow-deletions", "1").code == 0


FAILING_STEPS = {
    # AWS refuses the new policy (say, a document it will not take): nothing half-done
    "creating the new policy": ("CreatePolicy", "Path", "/team/", 400,
                                "MalformedPolicyDocument"),
    # re-attaching to the role fails after the new policy exists: it is removed again
    "re-attaching": ("AttachRolePolicy", "PolicyArn", NEW, 409, "LimitExceeded"),
}


@pytest.mark.parametrize("step", FAILING_STEPS)
def test_a_replacement_that_fails_halfway_restores_the_old_policy(cli: Cli, step: str) -> None:
    action, key, value, status, code = FAILING_STEPS[step]
    replace_a_policy_a_role_holds(cli)
    with fault_proxy(cli.env["AWS_ENDPOINT_URL"]) as (url, faults):
        faults.rule = lambda name, params: (
            (status, code) if name == action and params.get(key) == value else None)
        proxied = dataclasses.replace(cli, env={**cli.env, "AWS_ENDPOINT_URL": url})
        assert proxied("plan", "--out", "p.json").code == 0
        failed = proxied("apply", "p.json")
    assert failed.code == 1, failed.both
    assert f"replacing managed policy assume-readonly-role failed while {step}" in failed.err
    assert "The old policy and its attachments were restored" in failed.err
    assert action in faults.injected
    assert attached_to(cli, OLD) == {"group/Developers", "role/Lambda"}
    assert not policy_exists(cli, NEW)
    again = cli("plan", "--out", "p.json")  # exactly the rest: the replacement, again
    assert "-/+ replace managed policy assume-readonly-role" in again.out
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in again.out
    assert cli("apply", "p.json").code == 0
    assert attached_to(cli, NEW) == {"group/Developers", "role/Lambda"}


def test_a_failure_after_the_old_versions_went_says_they_are_gone(cli: Cli) -> None:
    """AWS deletes a policy's versions one by one before the policy: if DeletePolicy then
    fails, the policy is still there (restored in place) but its old versions are not, and
    the report says so rather than "nothing remains" (found by a red-team review)."""
    replace_a_policy_a_role_holds(cli)
    document = _doc(cli, OLD)
    for _ in range(2):
        cli.iam.create_policy_version(PolicyArn=OLD, PolicyDocument=document,
                                      SetAsDefault=False)
    with fault_proxy(cli.env["AWS_ENDPOINT_URL"]) as (url, faults):
        faults.rule = lambda name, params: (
            (409, "DeleteConflict") if name == "DeletePolicy" else None)
        proxied = dataclasses.replace(cli, env={**cli.env, "AWS_ENDPOINT_URL": url})
        assert proxied("plan", "--out", "p.json").code == 0
        failed = proxied("apply", "p.json", "--allow-deletions", "1")
    assert failed.code == 1, failed.both
    assert "failed while deleting the old policy" in failed.err
    assert "its old versions v2, v3 are gone" in failed.err, failed.err
    assert attached_to(cli, OLD) == {"group/Developers", "role/Lambda"}
    assert _doc(cli, OLD) == document
    assert "-/+ replace managed policy assume-readonly-role" in cli("plan").out


def test_an_ignored_holder_stops_the_plan_naming_both(cli: Cli) -> None:
    apply_example(cli)
    cli.iam.create_user(UserName="break-glass-1")
    cli.iam.attach_user_policy(UserName="break-glass-1", PolicyArn=OLD)
    edit_policy(cli, "path: /team/")
    before = cli.snapshot()
    result = cli("plan")
    assert result.code == 1
    assert "groups.yaml:" in result.err and "user/break-glass-1" in result.err
    assert "policy assume-readonly-role" in result.err
    assert cli("apply", "--auto-approve").code == 1
    assert cli.snapshot() == before


DOC = PolicyDocument({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
CONFIG = AccountConfig("acme", ACCOUNT_ID, Path("."))


def test_a_permissions_boundary_is_never_replaced() -> None:
    live = State(policies={"b": ManagedPolicy("b", DOC, boundary_of=("role/Workers",))})
    desired = State(policies={"b": ManagedPolicy("b", DOC, path="/new/")})
    with pytest.raises(RepoError, match="permissions boundary of role/Workers"):
        plan_account(CONFIG, desired, live)


def test_an_undeclared_boundary_policy_is_kept_not_deleted() -> None:
    live = State(policies={"b": ManagedPolicy("b", DOC, boundary_of=("user/x",))})
    plan = plan_account(CONFIG, State(), live)
    assert plan.changes == () and [k.name for k in plan.kept] == ["b"]


def test_usage_is_read_by_permissions_and_boundaries_apart() -> None:
    """moto ignores PolicyUsageFilter; on AWS, without it, ListEntitiesForPolicy mixes
    boundaries into attachments, and a boundary would be re-attached as a permissions
    policy. Stubber holds the reader to the two filtered calls."""
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    stub = Stubber(iam)
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/b"
    group = {"GroupName": "Devs", "GroupId": "AGPA" + "A" * 16}
    role = {"RoleName": "Workers", "RoleId": "AROA" + "A" * 16}
    empty: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": []}
    stub.add_response("list_entities_for_policy", {**empty, "PolicyGroups": [group]},
                      {"PolicyArn": arn, "PolicyUsageFilter": "PermissionsPolicy"})
    stub.add_response("list_entities_for_policy", {**empty, "PolicyRoles": [role]},
                      {"PolicyArn": arn, "PolicyUsageFilter": "PermissionsBoundary"})
    with stub:
        policy = with_usage(Connection(iam, None, ACCOUNT_ID, emulated=False), CONFIG,
                             ManagedPolicy("b", DOC))
    stub.assert_no_pending_responses()
    assert policy.attached == ("group/Devs",) and policy.boundary_of == ("role/Workers",)


def test_ctrl_c_during_a_replacement_puts_the_old_policy_back(cli: Cli) -> None:
    """Ctrl-C (or a cancelled CI job's SIGTERM) while the policy is deleted and not yet
    created again: the old policy and every attachment come back before the exit."""
    replace_a_policy_a_role_holds(cli)

    def interrupt(process: subprocess.Popen[str], faults: Faults, action: str,
                  params: dict[str, str]) -> None:
        if action == "CreatePolicy" and params.get("Path") == "/team/":
            process.send_signal(signal.SIGTERM)  # the CI job is cancelled right here
            faults.rule = lambda action, params: None
        return None

    code, out, err = apply_cancelled_at(cli, interrupt)
    assert code == 130, (out, err)
    assert "interrupted while creating the new policy" in err
    assert "The old policy and its attachments were restored" in err
    assert attached_to(cli, OLD) == {"group/Developers", "role/Lambda"}
    assert "-/+ replace managed policy assume-readonly-role" in cli("plan").out


def _doc(cli: Cli, arn: str) -> str:
    policy = cli.iam.get_policy(PolicyArn=arn)["Policy"]
    return json.dumps(cli.iam.get_policy_version(
        PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]["Document"])


# The interruption lands while a call is in flight, after IAM did the work and before its
# answer came back: only the account knows the step happened. Each rule makes the change
# in moto itself, cancels the job, and answers too late to matter.
IN_FLIGHT = {
    "DeletePolicy": lambda cli, params: cli.iam.delete_policy(PolicyArn=params["PolicyArn"]),
    "CreatePolicy": lambda cli, params: cli.iam.create_policy(
        PolicyName=params["PolicyName"], Path=params["Path"],
        PolicyDocument=params["PolicyDocument"]),
}


@pytest.mark.parametrize("action", IN_FLIGHT)
def test_an_interruption_after_iam_did_the_step_is_undone_from_the_account(
        cli: Cli, action: str) -> None:
    replace_a_policy_a_role_holds(cli)
    document = _doc(cli, OLD)  # the repository changed; the account not yet

    def done_then_cancelled(process: subprocess.Popen[str], faults: Faults, name: str,
                            params: dict[str, str]) -> tuple[int, str] | None:
        if name != action:
            return None
        faults.rule = lambda name, params: None
        IN_FLIGHT[action](cli, params)  # IAM did it ...
        process.send_signal(signal.SIGTERM)  # ... and the job is cancelled before it hears
        time.sleep(1.0)
        return 500, "ServiceUnavailable"

    code, out, err = apply_cancelled_at(cli, done_then_cancelled)
    assert code == 130, (out, err)
    assert "The old policy and its attachments were restored" in err, err
    assert attached_to(cli, OLD) == {"group/Developers", "role/Lambda"}
    assert _doc(cli, OLD) == document
    assert not policy_exists(cli, NEW)  # no second policy of the same name left behind
    assert "-/+ replace managed policy assume-readonly-role" in cli("plan").out
