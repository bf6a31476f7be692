"""Apply against in-process moto, and against Stubber where AWS is stricter than moto."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pyrage
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from iamstate.aws.client import RetryPolicy
from iamstate.aws.live import read_credentials, read_live
from iamstate.aws.session import Connection
from iamstate.entities.group.model import Group, GroupPolicy
from iamstate.entities.user.model import Credentials, Membership, User
from iamstate.errors import ApplyFailed
from iamstate.model.account import Account, AccountConfig
from iamstate.model.changes import Change, Create, Delete, Update
from iamstate.outputs.jsondoc import render_json
from iamstate.outputs.report import report_lines
from iamstate.plan.apply import ApplyReport
from iamstate.plan.planner import plan_account, plan_changes
from iamstate.repository.loader import load_repository
from iamstate.repository.policy import PolicyDocument
from tests.helpers import ACCOUNT_ID, apply_changes, summary_of, write

FAST = RetryPolicy(seconds=5, first_delay=0.001, max_delay=0.01)
ADMIN = json.dumps({"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def converge(conn: Connection, account: Account, out: Path, workers: int = 4) -> list[Change]:
    live = read_live(conn, account.config, account.desired)
    changes = plan_changes(account.config, account.desired, live)
    apply_changes(conn, account.config, changes, out, workers=workers, retry=FAST)
    return changes


def remaining(conn: Connection, account: Account) -> list[Change]:
    return plan_changes(account.config, account.desired,
                        read_live(conn, account.config, account.desired))


def test_apply_then_plan_shows_no_changes(conn: Connection, example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    assert converge(conn, account, example_repo)
    assert remaining(conn, account) == []
    groups = conn.iam.list_groups_for_user(UserName="HeadlessUser-ci")["Groups"]
    assert sorted(g["GroupName"] for g in groups) == ["AllHeadlessUsers", "AllUsers"]


def test_drifted_user_with_every_credential_is_torn_down(conn: Connection,
                                                         example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    converge(conn, account, example_repo)
    iam = conn.iam
    iam.create_user(UserName="intruder")
    iam.create_access_key(UserName="intruder")
    iam.create_login_profile(UserName="intruder", Password="Aa1!aaaaaaaaaaaaaa")
    serial = iam.create_virtual_mfa_device(
        VirtualMFADeviceName="intruder")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="intruder", SerialNumber=serial,
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
    iam.upload_ssh_public_key(UserName="intruder", SSHPublicKeyBody=SSH_RSA)
    iam.put_user_policy(UserName="intruder", PolicyName="admin", PolicyDocument=ADMIN)
    iam.attach_user_policy(UserName="intruder",
                           PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.add_user_to_group(UserName="intruder", GroupName="Developers")
    changes = converge(conn, account, example_repo)
    assert summary_of(changes) == [("delete", "user", "intruder")]
    assert [u["UserName"] for u in iam.list_users()["Users"]].count("intruder") == 0
    # moto would delete the user and leave its device assigned; the teardown removed it.
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    group = iam.get_group(GroupName="Developers")["Users"]
    assert "intruder" not in [u["UserName"] for u in group]
    assert remaining(conn, account) == []


NOW = datetime.datetime(2026, 1, 1)
MFA = f"arn:aws:iam::{ACCOUNT_ID}:mfa/old"
CREDENTIAL_LISTS: list[tuple[str, dict[str, Any]]] = [
    ("get_login_profile", {"LoginProfile": {"UserName": "old", "CreateDate": NOW}}),
    ("list_access_keys", {"AccessKeyMetadata": [{"AccessKeyId": "AKIAOLD0000000000000"}]}),
    ("list_signing_certificates", {"Certificates": [{
        "UserName": "old", "CertificateId": "C" * 24, "CertificateBody": "b",
        "Status": "Active"}]}),
    ("list_ssh_public_keys", {"SSHPublicKeys": [{
        "UserName": "old", "SSHPublicKeyId": "APKA" + "A" * 16, "Status": "Active",
        "UploadDate": NOW}]}),
    ("list_service_specific_credentials", {"ServiceSpecificCredentials": [{
        "UserName": "old", "Status": "Active", "ServiceUserName": "old-at-1",
        "CreateDate": NOW, "ServiceSpecificCredentialId": "ACCA" + "A" * 16,
        "ServiceName": "codecommit.amazonaws.com"}]}),
    ("list_mfa_devices", {"MFADevices": [{"UserName": "old", "SerialNumber": MFA,
                                          "EnableDate": NOW}]}),
]
DOC = PolicyDocument(json.loads(ADMIN))


def _client() -> Any:
    return boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")


def test_credentials_of_a_user_to_delete_are_listed_exactly() -> None:
    """The live reader lists every kind of credential of a user about to be deleted (the
    credential report is too coarse and may be hours old)."""
    iam = _client()
    stub = Stubber(iam)
    for operation, response in CREDENTIAL_LISTS:
        stub.add_response(operation, response)
    with stub:
        creds = read_credentials(Connection(iam, None, ACCOUNT_ID), "old")
    stub.assert_no_pending_responses()
    assert creds == Credentials(True, ("AKIAOLD0000000000000",), ("C" * 24,),
                                ("APKA" + "A" * 16,), ("ACCA" + "A" * 16,), (MFA,))


def test_user_teardown_follows_the_order_aws_requires() -> None:
    """moto deletes a user that still has credentials; AWS answers DeleteConflict. Stubber
    holds the teardown to AWS's order: every credential and link goes before DeleteUser,
    and only what the plan listed (nothing is listed again behind the reviewer's back)."""
    iam = _client()
    stub = Stubber(iam)
    for operation in ("delete_login_profile", "delete_access_key", "delete_signing_certificate",
                      "delete_ssh_public_key", "delete_service_specific_credential",
                      "deactivate_mfa_device", "delete_virtual_mfa_device",
                      "delete_user_policy", "detach_user_policy", "remove_user_from_group",
                      "delete_user"):
        stub.add_response(operation, {})
    user = User("old", groups=frozenset({"Devs"}), console_access=True,
                inline_policies=(("admin", DOC),),
                attached_policies=frozenset({"arn:aws:iam::aws:policy/A"}),
                credentials=Credentials(True, ("AKIAOLD0000000000000",), ("C" * 24,),
                                        ("APKA" + "A" * 16,), ("ACCA" + "A" * 16,), (MFA,)))
    with stub:
        apply_changes(Connection(iam, None, ACCOUNT_ID), CONFIG, [Delete(user)], Path("."),
                      retry=FAST)
    stub.assert_no_pending_responses()


CONFIG = AccountConfig("acme", ACCOUNT_ID, Path("."))


def _stubbed() -> tuple[Connection, Stubber]:
    iam = _client()
    return Connection(iam, None, ACCOUNT_ID), Stubber(iam)


def test_no_such_entity_right_after_create_is_retried() -> None:
    """IAM is eventually consistent: a group created a moment ago may not be visible yet."""
    conn, stub = _stubbed()
    stub.add_response("create_group", {"Group": {
        "Path": "/", "GroupName": "Devs", "GroupId": "AGPA" + "A" * 16,
        "Arn": f"arn:aws:iam::{ACCOUNT_ID}:group/Devs", "CreateDate": NOW}})
    stub.add_client_error("add_user_to_group", "NoSuchEntity", http_status_code=404)
    stub.add_client_error("add_user_to_group", "NoSuchEntity", http_status_code=404)
    stub.add_response("add_user_to_group", {})
    with stub:
        apply_changes(conn, CONFIG, [Create(Group("Devs")), Create(Membership("jdoe", "Devs"))],
                      Path("."), workers=1, retry=FAST)
    stub.assert_no_pending_responses()


def test_no_such_entity_for_something_not_created_now_fails_at_once() -> None:
    conn, stub = _stubbed()
    stub.add_client_error("add_user_to_group", "NoSuchEntity", http_status_code=404)
    with stub, pytest.raises(ApplyFailed) as caught:
        apply_changes(conn, CONFIG, [Create(Membership("jdoe", "Devs"))], Path("."),
                      workers=1, retry=FAST)
    assert "Failed (1):" in "\n".join(report_lines(caught.value.report))


def test_concurrent_modification_is_retried() -> None:
    conn, stub = _stubbed()
    stub.add_client_error("put_group_policy", "ConcurrentModification", http_status_code=409)
    stub.add_client_error("put_group_policy", "EntityTemporarilyUnmodifiable",
                          http_status_code=409)
    stub.add_response("put_group_policy", {})
    with stub:
        apply_changes(conn, CONFIG, [Create(GroupPolicy("Devs", "x", DOC))], Path("."),
                      workers=1, retry=FAST)
    stub.assert_no_pending_responses()


def test_failure_halfway_stops_reports_and_a_new_plan_shows_exactly_the_rest(
    conn: Connection, example_repo: Path
) -> None:
    [account] = load_repository(example_repo)

    def fail_for_jdoe(params: dict[str, Any], **_: Any) -> None:
        if params.get("UserName") == "jdoe":
            raise ClientError({"Error": {"Code": "ServiceFailure", "Message": "injected"}},
                              "CreateUser")

    conn.iam.meta.events.register("before-parameter-build.iam.CreateUser", fail_for_jdoe)
    before = remaining(conn, account)
    with pytest.raises(ApplyFailed) as caught:
        apply_changes(conn, account.config, before, example_repo, workers=1,
                      retry=RetryPolicy(seconds=0.05, first_delay=0.01))
    report = caught.value.report
    assert isinstance(report, ApplyReport)
    message = "\n".join(report_lines(report))
    assert "Failed (1):\n  + create user jdoe: " in message and "injected" in message
    assert "Not done (" in message and "+ create group membership jdoe AllUsers" in message
    left = remaining(conn, account)
    assert len(left) == len(before) - len(report.done)
    assert {name for _, _, name in summary_of(left)} >= {"jdoe", "jdoe AllUsers",
                                                          "jdoe Developers"}
    conn.iam.meta.events.unregister("before-parameter-build.iam.CreateUser", fail_for_jdoe)
    converge(conn, account, example_repo)
    assert remaining(conn, account) == []


def test_policy_update_keeps_at_most_five_versions(conn: Connection, tmp_path: Path) -> None:
    write(tmp_path, "accounts/acme/account.yaml", f'account_id: "{ACCOUNT_ID}"\n')
    actions = ["GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketTagging",
               "GetObjectAcl", "PutObjectAcl"]
    for action in actions:  # seven documents: more versions than IAM keeps
        write(tmp_path, "accounts/acme/p.yaml", f"""
            policies:
              p:
                document:
                  Version: "2012-10-17"
                  Statement: [{{Effect: Allow, Action: "s3:{action}", Resource: "*"}}]
            """)
        [account] = load_repository(tmp_path)
        converge(conn, account, tmp_path)
        assert remaining(conn, account) == []
    arn = f"arn:aws:iam::{ACCOUNT_ID}:policy/p"
    versions = conn.iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5


def test_console_password_is_encrypted_to_the_user_and_never_in_the_plan(
    conn: Connection, example_repo: Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    write(example_repo, "accounts/sandbox/console.yaml", f"""
        users:
          alice:
            category: AllHumans
            console_access: true
            public_key: {identity.to_public()}
        """)
    [account] = load_repository(example_repo)
    sent: dict[str, dict[str, Any]] = {}  # user -> the CreateLoginProfile parameters
    conn.iam.meta.events.register("before-parameter-build.iam.CreateLoginProfile",
                                  lambda params, **_: sent.update({params["UserName"]:
                                                                   dict(params)}))
    live = read_live(conn, account.config, account.desired)
    plan = plan_account(account.config, account.desired, live)
    apply_changes(conn, account.config, plan.changes, example_repo, retry=FAST)
    secret = (example_repo / ".iamstate/out/sandbox/alice.age").read_bytes()
    assert secret.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    password = pyrage.decrypt(secret, [identity]).decode()
    assert password == sent["alice"]["Password"]
    # moto drops it on read; the call had it
    assert sent["alice"]["PasswordResetRequired"] is True
    assert len(password) >= 24 and all(re.search(p, password) for p in
                                       ("[A-Z]", "[a-z]", "[0-9]", r"[^A-Za-z0-9]"))
    assert password not in render_json([plan])
    assert remaining(conn, account) == []


SSH_RSA = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDDbcJxtXZnyWpVQH1Y5xCQcOmR7mS0zQ+EGfj9QmuyNsfo"
    "JyXx1TQ3h5t6fV9m4y2bYTvm3a1G8tVo9xMjm6ZCj8V9rYw5lsQ0aG0C+ftLhC0tqS2Cz1rkGFMI9CIBHcA"
    "GLHcd9WMtJfNpJtKqO1hAg3u3UG5kbJkbqZbh5FOlPmeknB9S0wPfOP9mWkgnUaK5/sUnT/MSTFHzGPVTFi"
    "s9EIY8E/G0bXWbEkZmVBLvcDjYhgPeJbUvB8vhx6H8lkC5wmdNbG7rrQChPgCgP5bsD6e1Qv3qTnmhn+fSH"
    "m3gWb3ZbaNhPBwNsJ/6yWJYgKxkcrDs4qZ+vI1XpMQp5SNT test@example")


def test_group_path_change_is_sent_as_update_group() -> None:
    """moto ignores update_group with only NewPath; AWS moves the group. Stubber checks
    the call iamstate makes."""
    conn, stub = _stubbed()
    stub.add_response("update_group", {}, {"GroupName": "Devs", "NewPath": "/eng/"})
    with stub:
        apply_changes(conn, CONFIG, [Update(Group("Devs"), Group("Devs", "/eng/"))],
                      Path("."), retry=FAST)
    stub.assert_no_pending_responses()
