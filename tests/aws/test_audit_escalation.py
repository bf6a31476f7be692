"""Audit on live state has the plan's escalation rules: the four dangerous-permission
groups cloudsplaining finds from one GAAD file, each found, per group and per user."""

from __future__ import annotations

import json
from pathlib import Path

from iamstate.aws.session import Connection
from iamstate.repository.loader import load_repository
from iamstate.workflow import audit_all
from tests.helpers import seed

DANGEROUS = {
    "IamAdmins": ([{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}],
                  "ADMIN-EQUIVALENT"),
    "Launchers": ([{"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"],
                    "Resource": "*"}], "ESC-PASSROLE-EC2"),
    "Versioners": ([{"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*"}],
                   "ESC-CREATE-POLICY-VERSION"),
    "Joiners": ([{"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": "*"}],
                "ESC-ADD-USER-TO-GROUP"),
}


def test_audit_finds_the_four_dangerous_groups_and_who_is_admin(conn: Connection,
                                                                example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    seed(conn.iam, account.desired)
    # Passing a role carries its power: an administrator role EC2 may use is there to pass.
    conn.iam.create_role(RoleName="ec2-admin", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    conn.iam.attach_role_policy(RoleName="ec2-admin",
                                PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    for group, (statements, _) in DANGEROUS.items():
        conn.iam.create_group(GroupName=group)
        conn.iam.put_group_policy(GroupName=group, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
        conn.iam.create_user(UserName=f"member-of-{group}")
        conn.iam.add_user_to_group(UserName=f"member-of-{group}", GroupName=group)
    findings = {(f.rule, f.subject) for f in audit_all(example_repo)["sandbox"]}
    for group, (_, rule) in DANGEROUS.items():
        assert (rule, f"group/{group}") in findings, (group, sorted(findings))
    assert ("ADMIN-EQUIVALENT", "user/member-of-IamAdmins") in findings
    # the shipped policies of the example give nobody anything to escalate with
    assert not {f for f in findings if f[0].startswith(("ESC-", "ADMIN"))
                and f[1] in ("group/AllUsers", "group/AllHumans", "group/Developers",
                             "user/jdoe", "user/asmith")}
