"""Paths the gate missed or over-claimed (issue 19), each with a positive and a negative
control; the IAM simulator referees what a condition allows."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from iamstate.analysis.consequences import state_findings
from iamstate.analysis.escalation import PATHS, administrators
from iamstate.analysis.permissions import Context
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.user.model import User
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from tests.helpers import allow, doc
from tests.simulator import needs_node, simulate

ACCOUNT = "123456789012"
IAM = f"arn:aws:iam::{ACCOUNT}"
CONFIG = AccountConfig("acme", ACCOUNT, Path("."))
CTX = Context(ACCOUNT)



def found(state: State) -> set[tuple[str, str]]:
    return set(state_findings(state, CTX))


def with_group(*statements: dict[str, Any], users: dict[str, User] | None = None) -> State:
    group = Group("G", inline_policies=(("p", doc(*statements)),))
    members = {"mia": User("mia", groups=frozenset({"G"})), **(users or {})}
    return State(members, {"G": group})


NOT_ADMIN = {"ArnNotEquals": {"iam:PolicyARN": ["arn:aws:iam::aws:policy/AdministratorAccess",
                                                "arn:aws:iam::aws:policy/IAMFullAccess"]}}
ONLY_READ = {"ArnEquals": {"iam:PolicyARN": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}}


@needs_node
def test_a_condition_excluding_a_few_policies_is_no_fence_an_allow_list_is() -> None:
    excluding = allow("iam:AttachUserPolicy", f"{IAM}:user/${{aws:username}}", NOT_ADMIN)
    listing = allow("iam:AttachUserPolicy", f"{IAM}:user/${{aws:username}}", ONLY_READ)
    other = "arn:aws:iam::aws:policy/AWSCodeStarServiceRole"  # one of the iam:* ones
    # the referee: the exclusion lets another AWS managed policy through, the list does not
    decisions = simulate([{"principal": f"{IAM}:user/mia", "action": "iam:AttachUserPolicy",
                           "resource": f"{IAM}:user/mia", "account": ACCOUNT,
                           "context": {"aws:username": "mia", "iam:PolicyARN": other},
                           "policies": [{"name": "p", "policy": doc(s).document}]}
                          for s in (excluding, listing)])
    assert decisions[0] == "Allowed" and decisions[1] != "Allowed"
    assert ("ADMIN-EQUIVALENT", "user/mia") in found(with_group(excluding))
    assert found(with_group(listing)) == set()


def test_update_login_profile_takes_over_only_users_that_have_a_password() -> None:
    boss = User("boss", inline_policies=(("own", doc(allow("*"))),), console_access=True)
    state = with_group(allow("iam:UpdateLoginProfile", f"{IAM}:user/boss"),
                       users={"boss": boss})
    assert administrators(state, CTX)["mia"].admin
    keyless = dataclasses.replace(boss, console_access=False)
    state = with_group(allow("iam:UpdateLoginProfile", f"{IAM}:user/boss"),
                       users={"boss": keyless})
    assert not administrators(state, CTX)["mia"].admin
    # and CreateLoginProfile the other way round: only where there is no password yet
    state = with_group(allow("iam:CreateLoginProfile", f"{IAM}:user/boss"),
                       users={"boss": boss})
    assert not administrators(state, CTX)["mia"].admin


def test_set_default_policy_version_on_ones_own_policy_is_admin_equivalent() -> None:
    own = f"{IAM}:policy/team"

    def state(old_versions: tuple[str, ...]) -> State:
        policy = ManagedPolicy("team", doc(allow("s3:GetObject")),
                               old_versions=old_versions)
        group = Group("G", inline_policies=(("p", doc(allow("iam:SetDefaultPolicyVersion",
                                                            own))),),
                      managed_policies=frozenset({own}))
        return State({"mia": User("mia", groups=frozenset({"G"}))}, {"G": group},
                     {"team": policy})

    assert administrators(state(("v1",)), CTX)["mia"].admin  # an older version may say *
    assert not administrators(state(()), CTX)["mia"].admin  # no version to switch back to


def test_add_user_to_group_limited_to_ones_own_groups_grants_nothing() -> None:
    assert found(with_group(allow("iam:AddUserToGroup", f"{IAM}:group/G"))) == set()
    assert ("ESC-ADD-USER-TO-GROUP", "group/G") in found(
        with_group(allow("iam:AddUserToGroup", f"{IAM}:group/Admins")))


ROLE = f"{IAM}:role/worker"


@pytest.mark.parametrize(("path_id", "service", "actions"), [
    ("ESC-PASSROLE-STEPFUNCTIONS", "states",
     ["states:CreateStateMachine", "states:StartExecution"]),
    ("ESC-PASSROLE-BATCH", "ecs-tasks", ["batch:RegisterJobDefinition", "batch:SubmitJob"]),
    ("ESC-PASSROLE-BATCH", "batch", ["batch:RegisterJobDefinition", "batch:SubmitJob"]),
    ("ESC-PASSROLE-EC2-ASSOCIATE", "ec2", ["ec2:AssociateIamInstanceProfile"]),
    ("ESC-PASSROLE-EC2-ASSOCIATE", "ec2", ["ec2:ReplaceIamInstanceProfileAssociation"]),
])
def test_more_services_that_run_code_with_a_passed_role(path_id: str, service: str,
                                                        actions: list[str]) -> None:
    def passing(to: str) -> State:
        return with_group(allow("iam:PassRole", ROLE, {"StringEquals": {
            "iam:PassedToService": f"{to}.amazonaws.com"}}), allow(actions))

    assert (path_id, "group/G") in found(passing(service))
    assert (path_id, "group/G") not in found(passing("glue"))  # passed elsewhere only


def test_findings_carry_the_public_catalogue_ids() -> None:
    [finding] = state_findings(with_group(allow("iam:CreateAccessKey")), CTX).values()
    assert finding.references == ("pathfinding.cloud/iam-002", "pathfinding.cloud/iam-003")
    assert finding.to_json()["references"] == list(finding.references)
    assert all(ref.startswith("pathfinding.cloud/") for p in PATHS for ref in p.references)


NEW_CATALOGUE_PATHS = ["ESC-UPDATE-CLOUDFORMATION-STACK", "ESC-CODEBUILD-START-BUILD",
                       "ESC-APPRUNNER-UPDATE-SERVICE", "ESC-EC2-LAUNCH-TEMPLATE",
                       "ESC-SAGEMAKER-LIFECYCLE-CONFIG", "ESC-BEDROCK-CODE-INTERPRETER",
                       "ESC-BATCH-SUBMIT-JOB", "ESC-CODEDEPLOY-DEPLOYMENT",
                       "ESC-PASSROLE-BEDROCK-CODE-INTERPRETER"]


@pytest.mark.parametrize("path_id", NEW_CATALOGUE_PATHS)
def test_catalogue_paths_need_every_action_they_name(path_id: str) -> None:
    """Positive: every action of the first alternative (PassRole to its service); negative:
    the same less its last action."""
    [path] = [p for p in PATHS if p.id == path_id]
    needs = path.alternatives[0]

    def statements(kept: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [allow(n.action, "*", {"StringEquals": dict(n.context)} if n.context else None)
                for n in kept]

    assert (path_id, "group/G") in found(with_group(*statements(needs)))
    assert (path_id, "group/G") not in found(with_group(*statements(needs[:-1])))
    assert path.references and path.references[0].startswith("pathfinding.cloud/")


def test_a_role_that_trusts_one_user_makes_only_that_user_an_administrator() -> None:
    from iamstate.entities.role.model import Role

    trust = doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"AWS": f"{IAM}:user/bob"}})
    boss = Role("boss", trust=trust, inline_policies=(("p", doc(allow("*"))),))
    ctx = Context(ACCOUNT, roles={"boss": boss})
    group = Group("G", inline_policies=(("p", doc(allow("sts:AssumeRole",
                                                        f"{IAM}:role/boss"))),))
    state = State({"bob": User("bob", groups=frozenset({"G"})),
                   "mia": User("mia", groups=frozenset({"G"}))}, {"G": group})
    admins = administrators(state, ctx)
    assert admins["bob"].admin and not admins["mia"].admin
    # the group finding says members can assume it (bob can); trusting the account: both
    assert ("ESC-ASSUME-ROLE", "group/G") in set(state_findings(state, ctx))
    everyone = dataclasses.replace(boss, trust=doc({
        "Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": ACCOUNT}}))
    admins = administrators(state, Context(ACCOUNT, roles={"boss": everyone}))
    assert admins["bob"].admin and admins["mia"].admin
