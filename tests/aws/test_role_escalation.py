"""Roles are read (never changed) so that assuming or passing one carries its power, and
users left out of the plan by `ignore` are still targets (issue 19). Each with a positive
and a negative control, through the same reads `plan` and `audit` make (moto in-process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iamstate.aws.session import Connection
from iamstate.repository.loader import load_repository
from iamstate.workflow import audit_all, plan_all
from tests.helpers import ACCOUNT_ID, seed

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def trust(principal: dict[str, str]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": principal}]})


def make_role(iam: Any, name: str, principal: dict[str, str], policy: str) -> None:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust(principal))
    iam.attach_role_policy(RoleName=name, PolicyArn=policy)


def seeded(conn: Connection, repo: Path) -> None:
    [account] = load_repository(repo)
    seed(conn.iam, account.desired)


def add_group(repo: Path, statements: list[dict[str, Any]], user: str = "HeadlessUser-ci"
              ) -> None:
    """A pull request: group Ops with `statements`, and `user` joining it."""
    (repo / "accounts/sandbox/ops.yaml").write_text(json.dumps({"groups": {"Ops": {
        "inline_policies": {"p": {"Version": "2012-10-17", "Statement": statements}}}}}))
    users = repo / "accounts/sandbox/users.yaml"
    text = users.read_text()
    if f"  {user}:\n    groups: [Ops]\n" not in text:
        users.write_text(text.replace(f"  {user}:\n", f"  {user}:\n    groups: [Ops]\n"))


def new_findings(repo: Path) -> set[tuple[str, str]]:
    [planned] = plan_all(repo)
    assert planned.plan.consequences is not None
    return {(f.id, f.principal) for f in planned.plan.consequences.new_findings}


def audit_admins(repo: Path) -> set[str]:
    return {f.subject for f in audit_all(repo)["sandbox"] if f.rule == "ADMIN-EQUIVALENT"}


ROOT_TRUST = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}


def test_assuming_an_administrator_role_is_administrator(conn: Connection,
                                                         example_repo: Path) -> None:
    seeded(conn, example_repo)
    make_role(conn.iam, "OrganizationAccountAccessRole", ROOT_TRUST, ADMIN)
    make_role(conn.iam, "Auditor", ROOT_TRUST, READ_ONLY)
    add_group(example_repo, [{"Effect": "Allow", "Action": "sts:AssumeRole",
                              "Resource": f"arn:aws:iam::{ACCOUNT_ID}:role/Auditor"}])
    assert new_findings(example_repo) == set()  # the control: a read-only role
    add_group(example_repo, [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource":
                              f"arn:aws:iam::{ACCOUNT_ID}:role/OrganizationAccountAccessRole"}])
    found = new_findings(example_repo)
    assert ("ADMIN-EQUIVALENT", "user/HeadlessUser-ci") in found
    assert ("ESC-ASSUME-ROLE", "group/Ops") in found
    # audit and plan agree on who is an administrator: not yet on live state; once the
    # group exists there as planned, the audit says what the plan said
    assert "user/HeadlessUser-ci" not in audit_admins(example_repo)
    conn.iam.create_group(GroupName="Ops")
    conn.iam.put_group_policy(GroupName="Ops", PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Resource": f"arn:aws:iam::{ACCOUNT_ID}:role/OrganizationAccountAccessRole"}]}))
    conn.iam.add_user_to_group(UserName="HeadlessUser-ci", GroupName="Ops")
    assert "user/HeadlessUser-ci" in audit_admins(example_repo)


def test_passing_a_harmless_role_is_no_finding_passing_an_administrator_role_is(
        conn: Connection, example_repo: Path) -> None:
    seeded(conn, example_repo)
    ec2 = {"Service": "ec2.amazonaws.com"}
    make_role(conn.iam, "s3-reader", ec2, "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess")
    launch = {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}
    add_group(example_repo, [launch, {"Effect": "Allow", "Action": "iam:PassRole",
                                      "Resource": "*"}])
    assert new_findings(example_repo) == set()  # only a harmless role to pass
    make_role(conn.iam, "ec2-admin", ec2, ADMIN)
    found = new_findings(example_repo)
    assert ("ESC-PASSROLE-EC2", "group/Ops") in found
    assert ("ADMIN-EQUIVALENT", "user/HeadlessUser-ci") in found
    # a role EC2 cannot assume cannot be passed to it: no way up through it
    conn.iam.update_assume_role_policy(RoleName="ec2-admin",
                                       PolicyDocument=trust({"Service": "glue.amazonaws.com"}))
    assert new_findings(example_repo) == set()


def test_an_ignored_administrator_is_still_a_target(conn: Connection,
                                                    example_repo: Path) -> None:
    seeded(conn, example_repo)
    conn.iam.create_user(UserName="break-glass-admin")  # ignored: break-glass-*
    conn.iam.attach_user_policy(UserName="break-glass-admin", PolicyArn=ADMIN)
    conn.iam.create_user(UserName="break-glass-reader")
    conn.iam.attach_user_policy(UserName="break-glass-reader", PolicyArn=READ_ONLY)
    keys = f"arn:aws:iam::{ACCOUNT_ID}:user/break-glass-"
    add_group(example_repo, [{"Effect": "Allow", "Action": "iam:CreateAccessKey",
                              "Resource": keys + "reader"}])
    assert ("ADMIN-EQUIVALENT", "user/HeadlessUser-ci") not in new_findings(example_repo)
    add_group(example_repo, [{"Effect": "Allow", "Action": "iam:CreateAccessKey",
                              "Resource": keys + "admin"}])
    assert ("ADMIN-EQUIVALENT", "user/HeadlessUser-ci") in new_findings(example_repo)


def test_an_ignored_group_still_makes_its_members_administrators(conn: Connection,
                                                                 example_repo: Path) -> None:
    """Hiding an administrator behind `ignore: {groups: ...}` hides nothing: a declared user
    in an ignored admin group is an administrator for plan and audit, and so a target."""
    account = example_repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text().replace(
        'ignore:\n  users: ["break-glass-*"]\n',
        'ignore:\n  users: ["break-glass-*"]\n  groups: ["legacy-*"]\n'))
    seeded(conn, example_repo)
    conn.iam.create_group(GroupName="legacy-admins")
    conn.iam.attach_group_policy(GroupName="legacy-admins", PolicyArn=ADMIN)
    conn.iam.create_group(GroupName="legacy-readers")
    conn.iam.attach_group_policy(GroupName="legacy-readers", PolicyArn=READ_ONLY)
    conn.iam.add_user_to_group(UserName="asmith", GroupName="legacy-admins")
    conn.iam.add_user_to_group(UserName="jdoe", GroupName="legacy-readers")
    admins = audit_admins(example_repo)
    assert "user/asmith" in admins and "user/jdoe" not in admins
    keys = f"arn:aws:iam::{ACCOUNT_ID}:user/"
    add_group(example_repo, [{"Effect": "Allow", "Action": "iam:CreateAccessKey",
                              "Resource": keys + "jdoe"}])
    assert ("ADMIN-EQUIVALENT", "user/HeadlessUser-ci") not in new_findings(example_repo)
    add_group(example_repo, [{"Effect": "Allow", "Action": "iam:CreateAccessKey",
                              "Resource": keys + "engineering/asmith"}])
    assert ("ADMIN-EQUIVALENT", "user/HeadlessUser-ci") in new_findings(example_repo)
