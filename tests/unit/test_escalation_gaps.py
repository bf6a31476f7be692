"""Ways around the escalation gate a red-team review found, each now a finding: reach by
path or by attachment, attach conditions that exclude only AdministratorAccess, removing a
restriction, widening an accepted path, an ignored administrator policy kept on a group."""

from __future__ import annotations

from pathlib import Path

from iamstate.analysis.consequences import consequences
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.user.model import User
from iamstate.model.account import AcceptedRisk, AccountConfig, Ignore
from iamstate.model.state import State
from iamstate.plan.planner import plan_account
from tests.helpers import allow, doc

ACCOUNT = "123456789012"
CONFIG = AccountConfig("acme", ACCOUNT, Path("."))



def new_ids(before: State, after: State, config: AccountConfig = CONFIG) -> set[tuple[str, str]]:
    meaning = consequences(config, before, after, {})
    return {(f.id, f.principal) for f in meaning.findings if f.status == "new"}


def test_moving_a_user_under_a_path_a_grant_covers_makes_an_administrator() -> None:
    ops = Group("SandboxOps", inline_policies=(("p", doc(allow(
        "iam:PutUserPolicy", f"arn:aws:iam::{ACCOUNT}:user/sandbox/*"))),))
    bob = User("bob", groups=frozenset({"SandboxOps"}))
    before = State({"bob": bob}, {"SandboxOps": ops})
    after = State({"bob": User("bob", "/sandbox/", frozenset({"SandboxOps"}))},
                  {"SandboxOps": ops})
    assert ("ADMIN-EQUIVALENT", "user/bob") in new_ids(before, after)


def test_attaching_a_harmless_policy_a_member_may_rewrite_makes_an_administrator() -> None:
    editors = Group("PolicyEditors", inline_policies=(("p", doc(allow(
        "iam:CreatePolicyVersion", f"arn:aws:iam::{ACCOUNT}:policy/team-*"))),))
    read = ManagedPolicy("team-s3-read", doc(allow("s3:GetObject")))
    carol = User("carol", groups=frozenset({"PolicyEditors", "Backup"}))
    before = State({"carol": carol}, {"PolicyEditors": editors, "Backup": Group("Backup")},
                   {"team-s3-read": read})
    after = State({"carol": carol}, {"PolicyEditors": editors, "Backup": Group(
        "Backup", managed_policies=frozenset({f"arn:aws:iam::{ACCOUNT}:policy/team-s3-read"}))},
        {"team-s3-read": read})
    assert ("ADMIN-EQUIVALENT", "user/carol") in new_ids(before, after)


def test_an_attach_condition_that_only_excludes_administrator_access_is_no_barrier() -> None:
    not_admin = {"ArnNotEquals": {
        "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"}}
    own = {"ArnLike": {"iam:PolicyARN": f"arn:aws:iam::{ACCOUNT}:policy/*"}}
    for statements in ([allow(["iam:AttachUserPolicy", "iam:AttachGroupPolicy"], "*",
                              not_admin)],
                       [allow("iam:CreatePolicy"), allow("iam:AttachUserPolicy", "*", own)]):
        group = Group("Helpers", inline_policies=(("p", doc(*statements)),))
        after = State({"dan": User("dan", groups=frozenset({"Helpers"}))}, {"Helpers": group})
        found = new_ids(State(), after)
        assert ("ADMIN-EQUIVALENT", "user/dan") in found, statements


def test_removing_a_restriction_is_a_finding() -> None:
    for action, path in (("iam:RemoveUserFromGroup", "ESC-LEAVE-GROUP"),
                         ("iam:DeleteGroupPolicy", "ESC-DELETE-GROUP-POLICY"),
                         ("iam:DetachGroupPolicy", "ESC-DETACH-GROUP-POLICY"),
                         ("iam:DeleteUserPermissionsBoundary",
                          "ESC-DELETE-PERMISSIONS-BOUNDARY"),
                         ("iam:UpdateUser", "ESC-MOVE-USER"),
                         ("iam:UpdateGroup", "ESC-MOVE-GROUP")):
        group = Group("G", inline_policies=(("p", doc(allow(action))),))
        after = State({"eve": User("eve", groups=frozenset({"G"}))}, {"G": group})
        assert (path, "group/G") in new_ids(State(), after), action


def test_widening_an_accepted_path_is_shown_again_to_the_reviewer() -> None:
    def ops(resource: str) -> Group:
        return Group("Ops", inline_policies=(("p", doc(allow("iam:AddUserToGroup", resource))),))

    config = AccountConfig("acme", ACCOUNT, Path("."), accepted_risks=(
        AcceptedRisk("ESC-ADD-USER-TO-GROUP", "group/Ops", "on-call adds responders"),))
    narrow = State({}, {"Ops": ops(f"arn:aws:iam::{ACCOUNT}:group/Incident")})
    wide = State({}, {"Ops": ops(f"arn:aws:iam::{ACCOUNT}:group/*")})
    meaning = consequences(config, narrow, wide, {})
    [finding] = [f for f in meaning.findings if f.principal == "group/Ops"]
    assert finding.status == "accepted" and "group/*" in finding.detail  # shown again


def test_an_ignored_administrator_policy_kept_on_a_group_counts_for_its_members() -> None:
    admin_arn = f"arn:aws:iam::{ACCOUNT}:policy/legacy-admin"
    config = AccountConfig("acme", ACCOUNT, Path("."), ignore=Ignore(policies=("legacy-*",)))
    live = State({}, {"Ops": Group("Ops", managed_policies=frozenset({admin_arn}))})
    desired = State({"zed": User("zed", groups=frozenset({"Ops"}))}, {"Ops": Group("Ops")})
    plan = plan_account(config, desired, live, {admin_arn: {
        "Version": "2012-10-17", "Statement": [allow("*")]}})
    assert plan.consequences is not None
    new = {(f.id, f.principal) for f in plan.consequences.new_findings}
    assert ("ADMIN-EQUIVALENT", "user/zed") in new
    assert not [f for f in plan.consequences.findings if f.status == "gone"]
