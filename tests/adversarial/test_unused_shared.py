"""`unused --write` judges one account at a time: a policies/ file that another account's
group also holds must not be trimmed from what this account's groups left unused (the
other account's group may use it every day)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iamstate.analysis.unused import analyse, layout, write
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID
from tests.helpers import write as write_file
from tests.unit.test_unused import LAKE, NOW, access, repo_in_git

OTHER = """
groups:
  AllUsers: {}
  AllHumans: {}
  AllHeadlessUsers: {}
  Ops:
    inline_policies:
      Lake: lake            # the same file, in another account
"""


def test_a_file_another_account_holds_is_not_trimmed(tmp_path: Path) -> None:
    write_file(tmp_path, "accounts/beta/account.yaml", f"""
        account_id: "{str(int(ACCOUNT_ID) + 1).zfill(12)}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
          AllHeadlessUsers: {{match: "^HeadlessUser-"}}
        """)
    write_file(tmp_path, "accounts/beta/groups.yaml", OTHER)
    repo = repo_in_git(tmp_path)
    acme = next(a for a in load_repository(repo) if a.config.name == "acme")
    reports, found = analyse(repo, acme, {
        "Data": access("Data", {"s3": None, "dynamodb": None, "sqs": None}),
        "Analysts": access("Analysts", {"s3": None, "dynamodb": None})}, 90, NOW)
    write(repo, reports, found)
    # beta's Ops may use s3 and dynamodb every day: acme's data says nothing about it
    assert json.loads((repo / "policies/lake.json").read_text()) == LAKE
    groups = (repo / "accounts/acme/groups.yaml").read_text()
    assert "Lake: lake" in groups  # not detached either
    kept = {k.grant.pattern: k.reason for r in reports for k in r.kept}
    assert "beta" in kept["s3:GetObject"] and "beta" in kept["dynamodb:GetItem"]
    assert "sqs:SendMessage" not in groups  # acme's own in-place document is still trimmed


MANAGED = """
users:
  lee:
    category: AllHumans
    groups: [Loaders]
policies:
  Reader:
    document:
      Version: "2012-10-17"
      Statement:
        - Effect: Allow
          Action: ["s3:GetObject", "sqs:ReceiveMessage"]
          Resource: "*"
groups:
  Loaders:
    managed_policies: [Reader]
"""


def test_a_managed_policy_a_role_also_has_is_not_trimmed(
        conn: object, tmp_path: Path) -> None:
    """Roles are not iamstate's and have no group last-accessed data: a customer managed
    policy of the repository attached to a role (or a user) outside the groups stays whole,
    whatever the groups did (the role may read s3 every minute). Proven with moto's IAM."""
    import boto3

    from iamstate.analysis.unused import mark_other_holders

    write_file(tmp_path, "accounts/acme/managed.yaml", MANAGED)
    repo = repo_in_git(tmp_path)  # committed 60 days ago with the rest
    account = load_repository(repo)[0]
    iam = boto3.client("iam", region_name="us-east-1")
    arn = iam.create_policy(PolicyName="Reader", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                 "Resource": "*"}]}))["Policy"]["Arn"]
    iam.create_group(GroupName="Loaders")
    iam.attach_group_policy(GroupName="Loaders", PolicyArn=arn)
    found = layout(repo, account)
    mark_other_holders(iam, account, found)
    assert all(d.elsewhere == () for d in found.documents.values())  # the group alone
    iam.create_role(RoleName="etl", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
         "sts:AssumeRole", "Principal": {"Service": "glue.amazonaws.com"}}]}))
    iam.attach_role_policy(RoleName="etl", PolicyArn=arn)
    before = (repo / "accounts/acme/managed.yaml").read_text()
    unused = {"Loaders": access("Loaders", {"s3": None, "sqs": None})}
    control, _ = analyse(repo, account, unused, 90, NOW)  # the groups' data alone (before)
    assert len(next(r for r in control if r.group == "Loaders").removals) == 2
    found = layout(repo, account)
    mark_other_holders(iam, account, found)
    reports, found = analyse(repo, account, unused, 90, NOW, found=found)
    write(repo, reports, found)
    assert (repo / "accounts/acme/managed.yaml").read_text() == before
    (loaders,) = [r for r in reports if r.group == "Loaders"]
    assert loaders.removals == [] and len(loaders.kept) == 2
    assert all("role/etl" in k.reason for k in loaders.kept)


EXPIRED = """
users:
  ann:
    category: AllHumans
    groups: [{group: Incident, expires: 2026-11-20}]   # the last incident ended
"""
INCIDENT = """
groups:
  Incident:             # people join it during an incident, with expires:
    inline_policies:
      Break:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: ["ec2:RebootInstances", "rds:RebootDBInstance"]
            Resource: "*"
"""


@pytest.mark.parametrize("members", ["", EXPIRED])
def test_a_group_with_no_members_keeps_its_grants(tmp_path: Path, members: str) -> None:
    """AWS's last-accessed data for a group is its current members' use: a group nobody is
    in (an incident group between incidents, its memberships expired) has no evidence of
    disuse, so nothing of it is trimmed — the next on-call would join a group of nothing."""
    write_file(tmp_path, "accounts/acme/incident.yaml", members + INCIDENT)
    repo = repo_in_git(tmp_path)
    account = load_repository(repo)[0]
    before = (repo / "accounts/acme/incident.yaml").read_text()
    reports, found = analyse(repo, account, {
        "Incident": access("Incident", {"ec2": None, "rds": None})}, 90, NOW)
    write(repo, reports, found)
    assert (repo / "accounts/acme/incident.yaml").read_text() == before
    (incident,) = reports
    assert incident.removals == [] and len(incident.kept) == 2
    assert all("no members" in k.reason for k in incident.kept)


def test_a_managed_policy_whose_holders_cannot_be_read_stays(tmp_path: Path) -> None:
    """AWS's answer when the role may not list a policy's entities (botocore's Stubber with
    AWS's error): unsure who else holds it, the document stays whole."""
    import boto3
    from botocore.stub import Stubber

    from iamstate.analysis.unused import mark_other_holders

    write_file(tmp_path, "accounts/acme/managed.yaml", MANAGED)
    repo = repo_in_git(tmp_path)
    account = load_repository(repo)[0]
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    found = layout(repo, account)
    with Stubber(iam) as stub:
        stub.add_client_error("list_entities_for_policy", "AccessDenied",
                              "not authorized to perform: iam:ListEntitiesForPolicy", 403)
        mark_other_holders(iam, account, found)
    (reader,) = [d for d in found.documents.values() if d.label == "policy Reader"]
    assert reader.elsewhere == ("unknown holders (AccessDenied)",)
    reports, found = analyse(repo, account, {
        "Loaders": access("Loaders", {"s3": None, "sqs": None})}, 90, NOW, found=found)
    (loaders,) = [r for r in reports if r.group == "Loaders"]
    assert loaders.removals == [] and len(loaders.kept) == 2
