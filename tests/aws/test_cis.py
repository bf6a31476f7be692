"""Reading the CIS controls' facts from IAM: in-process moto where it has the data, and
botocore's Stubber with AWS's own shapes where moto lacks it (the credential report's
`<root_account>` row, a virtual MFA device on root, ListOrganizationsFeatures, a server
certificate that has not expired: moto answers every certificate with Expiration 2012)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from iamstate.analysis.cis import (
    CLOUDSHELL_POLICY,
    SUPPORT_POLICY,
    AccountFacts,
    cis_findings,
    read_facts,
)
from iamstate.aws.live import credential_report
from iamstate.aws.session import Connection
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.model.state import State
from tests.helpers import ACCOUNT_ID

NOW = datetime.datetime(2026, 12, 4, 12, tzinfo=datetime.UTC)
STRONG = State(password_policy=PasswordPolicy.from_fields(
    {"MinimumPasswordLength": 14, "PasswordReusePrevention": 24}, complete=True))
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"},
    "Action": "sts:AssumeRole"}]})


def facts_of(conn: Connection) -> AccountFacts:
    return read_facts(conn, credential_report(conn.iam, with_root=True))


def rules(facts: AccountFacts) -> list[tuple[str, str]]:
    return [(f.rule, f.subject) for f in cis_findings(facts, STRONG, [], NOW)]


def test_a_new_moto_account(conn: Connection) -> None:
    facts = facts_of(conn)
    assert facts.root is None  # moto's report has no root row (the sandbox adds it)
    assert facts.summary["AccountMFAEnabled"] == 0
    assert facts.summary["AccountAccessKeysPresent"] == 0
    assert (facts.support_holders, facts.cloudshell_holders) == ((), ())
    assert facts.organization_features is None  # an emulator: no Organization
    assert rules(facts) == [("IAM-013", "account/root"), ("IAM-020", "account/support-role")]


def test_support_role_cloudshell_and_certificates_in_moto(conn: Connection) -> None:
    iam = conn.iam
    iam.create_role(RoleName="support", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="support", PolicyArn=SUPPORT_POLICY)
    iam.create_group(GroupName="Devs")
    iam.attach_group_policy(GroupName="Devs", PolicyArn=CLOUDSHELL_POLICY)
    iam.upload_server_certificate(ServerCertificateName="web", CertificateBody="body",
                                  PrivateKey="key")
    facts = facts_of(conn)
    assert facts.support_holders == ("role/support",)
    assert facts.cloudshell_holders == ("group/Devs",)
    assert [name for name, _ in facts.server_certificates] == ["web"]
    assert rules(facts) == [("IAM-013", "account/root"),
                            ("IAM-021", "server-certificate/web"),  # moto: always 2012
                            ("IAM-022", "group/Devs")]


HEADER = ("user,arn,user_creation_time,password_enabled,password_last_used,"
          "password_last_changed,password_next_rotation,mfa_active,access_key_1_active,"
          "access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,"
          "access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
          "access_key_2_last_used_date,access_key_2_last_used_region,"
          "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,"
          "cert_2_last_rotated")
# AWS's root row: password fields "not_supported", last use as a timestamp
ROOT = (f"<root_account>,arn:aws:iam::{ACCOUNT_ID}:root,2020-01-01T00:00:00+00:00,"
        "not_supported,2026-12-03T10:00:00+00:00,not_supported,not_supported,true,false,N/A,"
        "N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A")


def stubbed(organizations: dict[str, Any] | str) -> tuple[Any, Stubber]:
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    stub = Stubber(iam)
    stub.add_response("generate_credential_report", {"State": "COMPLETE"})
    stub.add_response("get_credential_report", {
        "Content": f"{HEADER}\n{ROOT}\n".encode(), "ReportFormat": "text/csv",
        "GeneratedTime": NOW})
    stub.add_response("get_account_summary", {"SummaryMap": {
        "AccountMFAEnabled": 1, "AccountAccessKeysPresent": 0, "Users": 3}})
    stub.add_response("list_virtual_mfa_devices", {"VirtualMFADevices": [{
        "SerialNumber": f"arn:aws:iam::{ACCOUNT_ID}:mfa/root-account-mfa-device",
        # AWS gives root's account id as UserId; the model's minimum (16) makes Stubber
        # refuse that, so a longer one stands in: the reader looks at the ARN only
        "User": {"Path": "/", "UserName": "root", "UserId": ACCOUNT_ID + "0000",
                 "Arn": f"arn:aws:iam::{ACCOUNT_ID}:root", "CreateDate": NOW}}],
        "IsTruncated": False}, {"AssignmentStatus": "Assigned"})
    stub.add_response("list_server_certificates", {"ServerCertificateMetadataList": [{
        "Path": "/", "ServerCertificateName": "web", "ServerCertificateId": "ASCA" + "X" * 17,
        "Arn": f"arn:aws:iam::{ACCOUNT_ID}:server-certificate/web",
        "UploadDate": NOW, "Expiration": NOW + datetime.timedelta(days=90)}],
        "IsTruncated": False})
    for arn, roles in ((SUPPORT_POLICY, [{"RoleName": "support", "RoleId": "AROA" + "X" * 17}]),
                       (CLOUDSHELL_POLICY, [])):
        stub.add_response("list_entities_for_policy", {
            "PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": roles,
            "IsTruncated": False}, {"PolicyArn": arn})
    if isinstance(organizations, str):
        stub.add_client_error("list_organizations_features", organizations,
                              "not in an organization")
    else:
        stub.add_response("list_organizations_features", organizations)
    return iam, stub


def test_root_row_virtual_mfa_and_organization_in_aws_shapes() -> None:
    iam, stub = stubbed({"OrganizationId": "o-a1b2c3d4e5",
                         "EnabledFeatures": ["RootSessions"]})
    with stub:
        facts = facts_of(Connection(iam, None, ACCOUNT_ID))
    stub.assert_no_pending_responses()
    assert facts.root is not None and facts.root["mfa_active"] == "true"
    assert facts.root_virtual_mfa is True
    assert facts.organization_features == ("RootSessions",)
    assert rules(facts) == [("IAM-014", "account/root"),  # virtual, not hardware
                            ("IAM-015", "account/root"),  # password used yesterday
                            ("IAM-023", "account/root")]  # no RootCredentialsManagement


@pytest.mark.parametrize("code", ["OrganizationNotFoundException",
                                  "AccountNotManagementOrDelegatedAdministratorException",
                                  "AccessDenied"])
def test_outside_an_organization_the_control_does_not_apply(code: str) -> None:
    iam, stub = stubbed(code)
    with stub:
        facts = facts_of(Connection(iam, None, ACCOUNT_ID))
    assert facts.organization_features is None
    assert ("IAM-023", "account/root") not in rules(facts)


def test_other_organization_errors_are_not_hidden() -> None:
    from botocore.exceptions import ClientError

    iam, stub = stubbed("ThrottlingException")
    with stub, pytest.raises(ClientError):
        facts_of(Connection(iam, None, ACCOUNT_ID))

