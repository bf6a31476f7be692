"""Class: what `ignore` protects. No ignored user, group or policy, nor any attachment or
membership of one, is ever changed — also when the repository would otherwise delete what
holds it. Such things are kept, and the plan says so (`= keep ...`)."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Cli
from tests.helpers import ACCOUNT_ID

DOC = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})


def arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:policy/{name}"


def ignored_holdings(cli: Cli) -> dict[str, Any]:
    """Everything an ignored resource holds, and everything holding one."""
    iam = cli.iam
    users = {u: sorted(g["GroupName"] for g in iam.list_groups_for_user(UserName=u)["Groups"])
             for u in ("break-glass-1", "Break-Glass-2", "ghost")}
    attached = {u: sorted(p["PolicyArn"] for p in
                          iam.list_attached_user_policies(UserName=u)["AttachedPolicies"])
                for u in ("break-glass-1", "jdoe", "ghost")}
    groups = {g: sorted(u["UserName"] for u in iam.get_group(GroupName=g)["Users"])
              for g in ("legacy-admins", "Contractors", "Vendors")}
    policies = {p: sorted(str(e) for e in iam.list_entities_for_policy(
        PolicyArn=arn(p))["PolicyGroups"]) for p in ("stray-policy", "legacy-readonly")}
    return {"users": users, "attached": attached, "groups": groups, "policies": policies}


def test_nothing_an_ignored_resource_holds_is_changed(cli: Cli) -> None:
    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text().replace(
        'ignore:\n  users: ["break-glass-*"]\n',
        'ignore:\n  users: ["break-glass-*"]\n  groups: ["legacy-*"]\n'
        '  policies: ["legacy-*"]\n'))
    assert cli("apply", "--auto-approve").code == 0
    iam = cli.iam
    for user in ("break-glass-1", "Break-Glass-2", "ghost"):
        iam.create_user(UserName=user)
    iam.create_access_key(UserName="Break-Glass-2")
    for name in ("stray-policy", "legacy-readonly"):
        iam.create_policy(PolicyName=name, PolicyDocument=DOC)
    # 1. an undeclared policy attached to an ignored user
    iam.attach_user_policy(UserName="break-glass-1", PolicyArn=arn("stray-policy"))
    # 2. an undeclared group with an ignored member
    iam.create_group(GroupName="Contractors")
    iam.add_user_to_group(UserName="break-glass-1", GroupName="Contractors")
    # 3. an undeclared user in an ignored group
    iam.create_group(GroupName="legacy-admins")
    iam.add_user_to_group(UserName="ghost", GroupName="legacy-admins")
    # 4. an ignored policy attached to a declared group, 5. to a declared user,
    # 6. to an undeclared group
    iam.attach_group_policy(GroupName="Developers", PolicyArn=arn("legacy-readonly"))
    iam.attach_user_policy(UserName="jdoe", PolicyArn=arn("legacy-readonly"))
    iam.create_group(GroupName="Vendors")
    iam.attach_group_policy(GroupName="Vendors", PolicyArn=arn("legacy-readonly"))
    before = ignored_holdings(cli)

    plan = cli("plan", "--out", "p.json")
    assert plan.code == 0, plan.both
    for kept in ("= keep managed policy stray-policy: not declared, but used by "
                 "user/break-glass-1",
                 "= keep group Contractors: not declared, but ignored user break-glass-1 is "
                 "a member",
                 "= keep user ghost: not declared, but deleting it would change ignored "
                 "group legacy-admins",
                 "= keep group policy attachment Developers " + arn("legacy-readonly"),
                 "= keep user policy attachment jdoe " + arn("legacy-readonly"),
                 "= keep group Vendors: not declared, but ignored policy"):
        assert kept in plan.out, (kept, plan.out)
    assert "Break-Glass-2" not in plan.out and "break-glass-1" not in plan.out.replace(
        "ignored user break-glass-1", "").replace("user/break-glass-1", "")
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in plan.out
    applied = cli("apply", "p.json")
    assert applied.code == 0, applied.both
    assert ignored_holdings(cli) == before
    assert len(iam.list_access_keys(UserName="Break-Glass-2")["AccessKeyMetadata"]) == 1


def test_a_doomed_group_lists_the_members_it_removes(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    cli.iam.create_group(GroupName="Temps")
    cli.iam.add_user_to_group(UserName="jdoe", GroupName="Temps")
    cli.iam.put_group_policy(GroupName="Temps", PolicyName="t", PolicyDocument=DOC)
    plan = cli("plan")
    assert "- destroy group Temps" in plan.out
    assert "members removed: jdoe" in plan.out and "inline policies deleted: t" in plan.out


def test_an_ignored_policy_a_group_starts_using_is_read_and_gated(cli: Cli) -> None:
    """An ignored policy is not iamstate's to change, but what it grants the users of a
    group that starts using it is part of what the plan means: it is read, and an
    administrator it makes is a new finding that apply refuses."""
    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text().replace(
        'ignore:\n  users: ["break-glass-*"]\n',
        'ignore:\n  users: ["break-glass-*"]\n  policies: ["break-glass-*"]\n'))
    assert cli("apply", "--auto-approve").code == 0
    admin = json.dumps({"Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    cli.iam.create_policy(PolicyName="break-glass-admin", PolicyDocument=admin)
    groups = cli.repo / "accounts/sandbox/groups.yaml"
    groups.write_text(groups.read_text().replace(
        "  BackupWriters:\n", "  BackupWriters:\n    managed_policies: "
        f"['{arn('break-glass-admin')}']\n"))
    plan = cli("plan", "--out", "p.json")
    assert plan.code == 0, plan.both
    assert "! HeadlessUser-backup becomes administrator-equivalent" in plan.out
    assert "new       ADMIN-EQUIVALENT" in plan.out
    before = cli.snapshot()
    refused = cli("apply", "p.json")
    assert refused.code == 1 and "privilege-escalation finding" in refused.err
    assert "accepted_risks:" in refused.err
    assert cli.snapshot() == before


def test_users_and_groups_under_an_ignored_path_are_never_read_changed_or_deleted(
        cli: Cli) -> None:
    """`ignore: {paths: [/emergency/]}`: what a writer of `users: ["/emergency/*"]` meant
    (a glob never matches a name with `/`, and is refused)."""
    account = cli.repo / "accounts/sandbox/account.yaml"
    assert cli("apply", "--auto-approve").code == 0
    iam = cli.iam
    iam.create_group(GroupName="Responders", Path="/emergency/")
    iam.create_user(UserName="oncall-admin", Path="/emergency/team/")
    iam.add_user_to_group(UserName="oncall-admin", GroupName="Responders")
    iam.add_user_to_group(UserName="jdoe", GroupName="Responders")
    iam.put_group_policy(GroupName="Responders", PolicyName="r", PolicyDocument=DOC)
    iam.create_access_key(UserName="oncall-admin")
    unprotected = cli("plan")
    assert "- destroy user oncall-admin" in unprotected.out  # the control: today's fate
    account.write_text(account.read_text().replace(
        'ignore:\n  users: ["break-glass-*"]\n',
        'ignore:\n  users: ["break-glass-*"]\n  paths: ["/emergency/"]\n'))
    before = cli.snapshot()
    plan = cli("plan", "--out", "p.json")
    assert plan.code == 0, plan.both
    assert "oncall-admin" not in plan.out and "destroy group Responders" not in plan.out
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in plan.out, plan.out
    assert cli("apply", "p.json").code == 0
    assert cli.snapshot() == before
