"""Privilege-escalation findings (iamstate.analysis.escalation): pure, no AWS.

The four dangerous groups of the brief, the shipped policies (none), one case per path,
the group-vs-user rule, conditions and Deny, administrators by escalation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from moto.iam.aws_managed_policies import aws_managed_policies_data

from iamstate.analysis.escalation import (
    ADMIN_EQUIVALENT,
    ANY_GROUP,
    ANY_POLICY,
    ANY_ROLE,
    ANY_USER,
    OTHER_USERS,
    OWN_GROUPS,
    PATHS,
    ROLES_BY_WILDCARD,
    SEVERITIES,
    EscalationPath,
    administrators,
    combine_admin,
    escalation_findings,
)
from iamstate.analysis.meaning import EscalationFinding
from iamstate.analysis.permissions import ActionSet, Context, permission_diff
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.role.model import Role
from iamstate.entities.user.model import User
from iamstate.model.state import State
from iamstate.repository.loader import load_repository
from iamstate.repository.policy import PolicyDocument

ACCOUNT = "123456789012"
CTX = Context(ACCOUNT)
IAM = f"arn:aws:iam::{ACCOUNT}"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def doc(*statements: dict[str, Any]) -> PolicyDocument:
    return PolicyDocument({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*",
          **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*") -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource}


def make_state(groups: dict[str, list[dict[str, Any]]], users: dict[str, set[str]],
               managed: dict[str, frozenset[str]] | None = None,
               policies: dict[str, PolicyDocument] | None = None) -> State:
    managed = managed or {}
    return State(
        users={n: User(n, groups=frozenset(g)) for n, g in users.items()},
        groups={n: Group(n, inline_policies=(("Policy", doc(*s)),) if s else (),
                         managed_policies=managed.get(n, frozenset()))
                for n, s in groups.items()},
        policies={n: ManagedPolicy(n, d) for n, d in (policies or {}).items()})


def ids(findings: list[EscalationFinding]) -> set[tuple[str, str]]:
    return {(f.id, f.principal) for f in findings}


def only_group(statements: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """Findings for a group G holding `statements`, with one member."""
    return ids(escalation_findings(make_state({"G": statements}, {"alice": {"G"}}), CTX))


# -- the four the brief names ---------------------------------------------------------------

def test_the_four_dangerous_groups_are_found() -> None:
    state = make_state({
        "IamAll": [allow("iam:*")],
        "PassAndRun": [allow("iam:PassRole"), allow("ec2:RunInstances")],
        "PolicyVersions": [allow("iam:CreatePolicyVersion")],
        "Joiners": [allow("iam:AddUserToGroup")],
    }, {})
    findings = escalation_findings(state, CTX)
    assert ids(findings) == {(ADMIN_EQUIVALENT, "group/IamAll"),
                             ("ESC-PASSROLE-EC2", "group/PassAndRun"),
                             ("ESC-CREATE-POLICY-VERSION", "group/PolicyVersions"),
                             ("ESC-ADD-USER-TO-GROUP", "group/Joiners")}
    by_group = {f.principal: f for f in findings}
    assert by_group["group/IamAll"].severity == "critical"
    assert by_group["group/Joiners"].severity == "high"  # as SPEC §3's example
    assert by_group["group/PassAndRun"].via == ("group/PassAndRun inline Policy",)
    assert by_group["group/Joiners"].to_json() == {
        "id": "ESC-ADD-USER-TO-GROUP", "principal": "group/Joiners", "severity": "high",
        "detail": by_group["group/Joiners"].detail, "via": ["group/Joiners inline Policy"],
        "reach": [{"action": "iam:AddUserToGroup", "resources": ["*"]}],
        "references": ["pathfinding.cloud/iam-013"]}
    assert "iam:AddUserToGroup" in by_group["group/Joiners"].detail


# -- the shipped policies -------------------------------------------------------------------

def test_the_shipped_policies_produce_no_finding(example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    documents = json.loads(aws_managed_policies_data)
    ctx = Context(account.config.account_id,
                  managed_documents={READ_ONLY: documents["ReadOnlyAccess"]["Document"]})
    state = account.desired
    # What is being judged: self-manage-credentials, require-mfa, assume-readonly-role.
    assert [n for n, _ in state.groups["AllUsers"].inline_policies] == ["SelfManageCredentials"]
    assert [n for n, _ in state.groups["AllHumans"].inline_policies] == ["RequireMFA"]
    assert f"{IAM}:policy/assume-readonly-role" in state.groups["Developers"].managed_policies
    assert escalation_findings(state, ctx) == []
    assert not any(s.admin for s in administrators(state, ctx).values())


def test_self_service_is_not_escalation_but_other_users_are() -> None:
    own = [f"{IAM}:user/${{aws:username}}", f"{IAM}:user/*/${{aws:username}}"]
    assert only_group([allow("iam:CreateAccessKey", own)]) == set()
    assert only_group([allow("iam:CreateAccessKey", f"{IAM}:user/*")]) == {
        ("ESC-CREATE-ACCESS-KEY", "group/G")}
    assert only_group([allow("iam:UpdateLoginProfile", f"{IAM}:user/bob")]) == {
        ("ESC-UPDATE-LOGIN-PROFILE", "group/G")}
    # Writing one's own user policy is escalation (the strategy bans user policies anyway).
    assert only_group([allow("iam:PutUserPolicy", own[0])]) == {
        ("ESC-PUT-USER-POLICY", "group/G")}


# -- one case per path ----------------------------------------------------------------------

RESOURCE_FOR = {OTHER_USERS: f"{IAM}:user/*", ANY_USER: f"{IAM}:user/*",
                OWN_GROUPS: f"{IAM}:group/G", ANY_GROUP: f"{IAM}:group/*",
                ANY_POLICY: f"{IAM}:policy/*", ANY_ROLE: f"{IAM}:role/*",
                ROLES_BY_WILDCARD: f"{IAM}:role/*"}


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.id)
def test_every_path_is_found_from_its_first_alternative(path: EscalationPath) -> None:
    statements = [allow(need.action, RESOURCE_FOR.get(need.target, "*"))
                  for need in path.alternatives[0]]
    if path.id == "ESC-ASSUME-ROLE":  # only about roles that were read: one that escalates
        trust = PolicyDocument({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": f"{IAM}:root"}}]})
        writer = Role("writer", trust=trust, inline_policies=(("p", PolicyDocument({
            "Version": "2012-10-17", "Statement": [allow("iam:CreateAccessKey")]})),))
        ctx = Context(ACCOUNT, roles={"writer": writer})
        found = ids(escalation_findings(make_state({"G": statements}, {"alice": {"G"}}), ctx))
    else:
        found = only_group(statements)
    assert (path.id, "group/G") in found
    assert (ADMIN_EQUIVALENT, "group/G") not in found


@pytest.mark.parametrize("path", [p for p in PATHS if len(p.alternatives[0]) > 1],
                         ids=lambda p: p.id)
def test_a_path_needs_every_action_of_an_alternative(path: EscalationPath) -> None:
    partial = [allow(need.action, RESOURCE_FOR.get(need.target, "*"))
               for need in path.alternatives[0][:-1]]
    assert (path.id, "group/G") not in only_group(partial)


def test_the_registry_is_stable_and_names_real_actions() -> None:
    assert len({p.id for p in PATHS}) == len(PATHS)
    assert all(re.fullmatch(r"ESC-[A-Z0-9-]+", p.id) for p in PATHS)
    assert set(SEVERITIES.values()) <= {"critical", "high", "medium"}
    assert SEVERITIES[ADMIN_EQUIVALENT] == "critical"
    assert SEVERITIES["ESC-ADD-USER-TO-GROUP"] == "high"
    actions = {n.action for p in PATHS for alt in p.alternatives for n in alt}
    assert [a for a in sorted(actions) if a not in ActionSet.of([a])] == []
    assert {"ESC-CREATE-ACCESS-KEY", "ESC-CREATE-LOGIN-PROFILE", "ESC-UPDATE-LOGIN-PROFILE",
            "ESC-CREATE-POLICY-VERSION", "ESC-SET-DEFAULT-POLICY-VERSION",
            "ESC-ATTACH-USER-POLICY", "ESC-ATTACH-GROUP-POLICY", "ESC-ATTACH-ROLE-POLICY",
            "ESC-PUT-USER-POLICY", "ESC-PUT-GROUP-POLICY", "ESC-PUT-ROLE-POLICY",
            "ESC-UPDATE-ASSUME-ROLE-POLICY", "ESC-PASSROLE-EC2", "ESC-PASSROLE-LAMBDA",
            "ESC-PASSROLE-CLOUDFORMATION"} <= set(SEVERITIES)


# -- groups a user belongs to ---------------------------------------------------------------

@pytest.mark.parametrize("resource", [f"{IAM}:group/G", f"{IAM}:group/*", "*"])
@pytest.mark.parametrize(("action", "path_id"), [
    ("iam:AddUserToGroup", "ESC-ADD-USER-TO-GROUP"),
    ("iam:PutGroupPolicy", "ESC-PUT-GROUP-POLICY"),
    ("iam:AttachGroupPolicy", "ESC-ATTACH-GROUP-POLICY")])
def test_group_policy_rights_on_ones_own_group_are_found(resource: str, action: str,
                                                         path_id: str) -> None:
    found = only_group([allow(action, resource)])
    if action == "iam:AddUserToGroup" and resource == f"{IAM}:group/G":
        assert found == set()  # adding members to one's own group grants nothing new
    else:
        assert found == {(path_id, "group/G")}


def test_group_policy_rights_on_another_group_only_matter_to_its_members() -> None:
    state = make_state({"Editors": [allow("iam:PutGroupPolicy", f"{IAM}:group/Data")],
                        "Data": [allow("s3:GetObject")]},
                       {"alice": {"Editors"}, "bob": {"Editors", "Data"}})
    findings = escalation_findings(state, CTX)
    assert ids(findings) == {("ESC-PUT-GROUP-POLICY", "user/bob"),
                             (ADMIN_EQUIVALENT, "user/bob")}
    bob = next(f for f in findings if f.id == ADMIN_EQUIVALENT)
    assert "ESC-PUT-GROUP-POLICY" in bob.detail


# -- combinations: reported on the user, once -----------------------------------------------

def test_a_path_only_the_combination_of_groups_enables_is_reported_on_the_user() -> None:
    groups = {"Passers": [allow("iam:PassRole", f"{IAM}:role/*")],
              "Runners": [allow("ec2:RunInstances")]}
    state = make_state(groups, {"alice": {"Passers", "Runners"}, "bob": {"Runners"}})
    findings = escalation_findings(state, CTX)
    assert ids(findings) == {("ESC-PASSROLE-EC2", "user/alice")}
    assert findings[0].via == ("group/Passers inline Policy", "group/Runners inline Policy")


def test_a_path_one_group_enables_is_not_repeated_on_its_members() -> None:
    state = make_state({"Ops": [allow("iam:AddUserToGroup")], "Other": []},
                       {"alice": {"Ops", "Other"}, "bob": {"Ops"}})
    assert ids(escalation_findings(state, CTX)) == {("ESC-ADD-USER-TO-GROUP", "group/Ops")}


def test_administrator_by_combination_is_one_finding_on_the_user() -> None:
    half = [a for a in ActionSet.of(["iam:*"]).names() if a < "iam:L"]
    rest = [a for a in ActionSet.of(["iam:*"]).names() if a >= "iam:L"]
    state = make_state({"A": [allow(half)], "B": [allow(rest)]}, {"alice": {"A", "B"}})
    findings = [f for f in escalation_findings(state, CTX) if f.principal == "user/alice"]
    assert [f.id for f in findings] == [ADMIN_EQUIVALENT]
    assert findings[0].via == ("group/A inline Policy", "group/B inline Policy")


def test_a_live_users_own_policies_are_reported_on_the_user() -> None:
    alice = User("alice", groups=frozenset({"G"}),
                 inline_policies=(("Mine", doc(allow("iam:AddUserToGroup"))),))
    state = State(users={"alice": alice}, groups={"G": Group("G")})
    [finding] = escalation_findings(state, CTX)
    assert (finding.id, finding.principal, finding.via) == (
        "ESC-ADD-USER-TO-GROUP", "user/alice", ("user/alice inline Mine",))


def test_findings_are_unique_sorted_and_stable() -> None:
    state = make_state({"IamAll": [allow("iam:*")], "Joiners": [allow("iam:AddUserToGroup")],
                        "Passers": [allow("iam:PassRole")],
                        "Runners": [allow("lambda:*")]},
                       {"alice": {"Passers", "Runners"}, "bob": {"IamAll", "Joiners"}})
    first = escalation_findings(state, CTX)
    keys = [(f.principal, f.id) for f in first]
    assert keys == sorted(set(keys))
    assert first == escalation_findings(state, CTX)


# -- conditions and Deny --------------------------------------------------------------------

def test_passrole_limited_to_another_service_does_not_enable_ec2() -> None:
    to_lambda = {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}
    statements = [allow("iam:PassRole", Condition=to_lambda), allow("ec2:RunInstances")]
    assert only_group(statements) == set()
    statements.append(allow(["lambda:CreateFunction", "lambda:InvokeFunction"]))
    assert only_group(statements) == {("ESC-PASSROLE-LAMBDA", "group/G")}


def test_attaching_only_a_named_harmless_policy_is_not_escalation() -> None:
    harmless = {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}}
    assert only_group([allow("iam:AttachGroupPolicy", Condition=harmless)]) == set()
    assert only_group([allow("iam:AttachGroupPolicy")]) == {
        ("ESC-ATTACH-GROUP-POLICY", "group/G")}


def test_an_mfa_condition_does_not_make_a_path_safe_and_the_detail_says_so() -> None:
    findings = escalation_findings(make_state({"G": [allow("iam:AddUserToGroup",
                                                           Condition=MFA)]}, {}), CTX)
    assert [f.id for f in findings] == ["ESC-ADD-USER-TO-GROUP"]
    assert "under conditions" in findings[0].detail
    admin = escalation_findings(make_state({"G": [allow("iam:*", Condition=MFA)]}, {}), CTX)
    assert [f.id for f in admin] == [ADMIN_EQUIVALENT]


def test_a_deny_removes_the_path() -> None:
    assert only_group([allow("iam:AddUserToGroup"), deny("iam:AddUserToGroup")]) == set()
    assert only_group([allow("iam:*"), deny("iam:*", f"{IAM}:*")]) == set()
    # A Deny in another group of the user takes the combination away too.
    state = make_state({"Passers": [allow("iam:PassRole")],
                        "Runners": [allow("ec2:RunInstances")],
                        "Guard": [deny("iam:PassRole")]},
                       {"alice": {"Passers", "Runners", "Guard"}})
    assert escalation_findings(state, CTX) == []


def test_a_deny_on_part_of_the_resources_leaves_the_rest() -> None:
    assert only_group([allow("iam:CreateAccessKey"),
                       deny("iam:CreateAccessKey", f"{IAM}:user/admin-*")]) == {
        ("ESC-CREATE-ACCESS-KEY", "group/G")}
    assert only_group([allow("iam:CreateAccessKey"),
                       deny("iam:CreateAccessKey", f"{IAM}:user/*")]) == set()


# -- administrators by escalation -----------------------------------------------------------

def helpdesk_state(bob_is_admin: bool) -> State:
    return make_state({"Helpdesk": [allow("iam:CreateAccessKey", f"{IAM}:user/*")],
                       "Admins": [allow("*")]},
                      {"alice": {"Helpdesk"}, "bob": {"Admins"} if bob_is_admin else set()})


def test_taking_over_an_administrator_makes_one() -> None:
    state = helpdesk_state(True)
    status = administrators(state, CTX)
    assert status["bob"].direct and not status["bob"].paths
    assert status["alice"].admin and status["alice"].paths == ("ESC-CREATE-ACCESS-KEY",)
    # Explained by the group findings: no extra finding on alice.
    assert ids(escalation_findings(state, CTX)) == {
        (ADMIN_EQUIVALENT, "group/Admins"), ("ESC-CREATE-ACCESS-KEY", "group/Helpdesk")}


def test_joining_an_admin_group_or_rewriting_ones_policy_makes_one() -> None:
    arn = f"{IAM}:policy/team"
    state = make_state({"Joiners": [allow("iam:AddUserToGroup", f"{IAM}:group/Admins")],
                        "Admins": [allow("iam:*")],
                        "Team": [allow("iam:CreatePolicyVersion", arn)]},
                       {"alice": {"Joiners"}, "carol": {"Team"}, "dave": {"Joiners"}},
                       managed={"Team": frozenset({arn})},
                       policies={"team": doc(allow("s3:GetObject"))})
    status = administrators(state, CTX)
    assert status["alice"].paths == ("ESC-ADD-USER-TO-GROUP",)
    assert status["carol"].paths == ("ESC-CREATE-POLICY-VERSION",)
    elsewhere = make_state({"Team": [allow("iam:CreatePolicyVersion", f"{IAM}:policy/x")]},
                           {"carol": {"Team"}}, managed={"Team": frozenset({arn})},
                           policies={"team": doc(allow("s3:GetObject"))})
    assert not administrators(elsewhere, CTX)["carol"].admin


def test_joining_a_group_that_can_take_over_an_administrator_makes_one() -> None:
    """Two steps: eve may add herself to Keys, whose members may create an access key for
    root-ops, an administrator (found by a red-team review). Joining only a group that can
    take over eve herself, or a non-administrator, makes nobody one."""
    keys = [allow("iam:CreateAccessKey", f"{IAM}:user/root-ops")]
    state = make_state({"Admins": [allow("iam:*")], "Keys": keys,
                        "Joiner": [allow("iam:AddUserToGroup", f"{IAM}:group/Keys")]},
                       {"root-ops": {"Admins"}, "eve": {"Joiner"}})
    status = administrators(state, CTX)
    assert status["eve"].admin and status["eve"].paths == ("ESC-ADD-USER-TO-GROUP",)
    not_an_admin = make_state({"Keys": keys, "Ops": [allow("s3:*")],
                               "Joiner": [allow("iam:AddUserToGroup", f"{IAM}:group/Keys")]},
                              {"root-ops": {"Ops"}, "eve": {"Joiner"}})
    assert not administrators(not_an_admin, CTX)["eve"].admin
    own_keys = make_state({"Admins": [allow("iam:*")],
                           "Keys": [allow("iam:CreateAccessKey", f"{IAM}:user/eve")],
                           "Joiner": [allow("iam:AddUserToGroup", f"{IAM}:group/Keys")]},
                          {"root-ops": {"Admins"}, "eve": {"Joiner"}})
    assert not administrators(own_keys, CTX)["eve"].admin


def test_combine_admin_adds_users_whose_escalation_status_changes() -> None:
    before, after = helpdesk_state(False), helpdesk_state(True)
    changes = permission_diff(before, after, CTX)
    assert set(changes) == {"bob"}  # alice's own permissions did not change
    combined = combine_admin(changes, before, after, CTX)
    assert set(combined) == {"alice", "bob"}
    assert (combined["alice"].admin_before, combined["alice"].admin_after) == (False, True)
    assert combined["alice"].gains == () and combined["bob"].admin_after
