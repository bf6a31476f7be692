"""The live reader against in-process moto (and Stubber where moto is kinder than AWS)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from botocore.stub import Stubber

from iamstate.aws.live import _authorization_details, read_live
from iamstate.aws.session import CallCounter, Connection
from iamstate.entities.user.model import User
from iamstate.model.state import State
from iamstate.plan.planner import plan_changes
from iamstate.repository.loader import load_repository
from iamstate.repository.policy import PolicyDocument
from iamstate.workflow import audit_all, plan_all
from tests.helpers import ACCOUNT_ID, seed

ADMIN = json.dumps({"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def test_reading_what_was_seeded_gives_the_same_model(conn: Connection,
                                                      example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    seed(conn.iam, account.desired)
    live = read_live(conn, account.config, account.desired)
    desired = account.desired
    assert (live.users, live.groups, live.policies) == (desired.users, desired.groups,
                                                        desired.policies)
    # The repository declares some settings; live has them all, equal where declared.
    assert desired.password_policy is not None
    assert desired.password_policy.over(live.password_policy) == live.password_policy
    assert plan_changes(account.config, desired, live) == []


def test_ignored_users_and_service_role_policies_are_never_read(
    conn: Connection, example_repo: Path
) -> None:
    [account] = load_repository(example_repo)
    conn.iam.create_user(UserName="break-glass-admin")
    conn.iam.create_policy(PolicyName="svc", Path="/aws-service-role/", PolicyDocument=ADMIN)
    live = read_live(conn, account.config, account.desired)
    assert "break-glass-admin" not in live.users
    assert "svc" not in live.policies


def test_undeclared_users_are_read_with_everything_their_teardown_removes(
    conn: Connection, example_repo: Path
) -> None:
    [account] = load_repository(example_repo)
    iam = conn.iam
    iam.create_user(UserName="intruder")
    key = iam.create_access_key(UserName="intruder")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="intruder", Password="Aa1!aaaaaaaaaaaaaa")
    iam.put_user_policy(UserName="intruder", PolicyName="admin", PolicyDocument=ADMIN)
    live = read_live(conn, account.config, account.desired)
    intruder = live.users["intruder"]
    assert intruder.credentials.access_keys == (key,)
    assert intruder.credentials.login_profile and intruder.console_access
    assert [name for name, _ in intruder.inline_policies] == ["admin"]


def test_read_cost_does_not_grow_with_users(conn: Connection, example_repo: Path) -> None:
    """GAAD pages + password policy + credential report: the same count at 10 and 200
    users when live matches the repository (per-user calls only where a change is due)."""
    [account] = load_repository(example_repo)
    seed(conn.iam, account.desired)
    counts = []
    desired = account.desired
    for size in (10, 200):
        extra = {f"HeadlessUser-{i}": User(f"HeadlessUser-{i}",
                                           groups=frozenset({"AllUsers", "AllHeadlessUsers"}))
                 for i in range(len(desired.users), size)}
        seed(conn.iam, State(users=extra))
        desired = State({**desired.users, **extra}, desired.groups, desired.policies,
                        desired.password_policy)
        counter = CallCounter()
        counter.attach(conn.iam)
        live = read_live(conn, account.config, desired)
        conn.iam.meta.events.unregister("before-call.*.*", counter)
        assert plan_changes(account.config, desired, live) == []
        # moto's report may answer STARTED once before COMPLETE: polling is not per user.
        counts.append(counter.total - counter.calls.get("GenerateCredentialReport", 0))
        assert "GetLoginProfile" not in counter.calls and "GetUser" not in counter.calls
    assert counts[0] == counts[1] <= 3 + 40, counts


def test_an_audit_reads_the_credential_report_once(conn: Connection,
                                                   example_repo: Path) -> None:
    """The report is the audit's source and the live reader's hint: one generation cycle
    serves both."""
    [account] = load_repository(example_repo)
    seed(conn.iam, account.desired)
    counter = CallCounter()
    findings = audit_all(example_repo, counter=counter)
    assert counter.calls.get("GetCredentialReport") == 1, counter.calls
    assert [(f.rule, f.subject) for f in findings["sandbox"]] == [
        ("IAM-004", "user/asmith"), ("IAM-004", "user/jdoe"),
        ("IAM-013", "account/root"), ("IAM-020", "account/support-role")]  # moto's account


def test_authorization_details_follows_every_page() -> None:
    """moto ignores MaxItems (one page only), so pagination is proven with Stubber, and with
    a short page, as AWS may return fewer than MaxItems with IsTruncated still true."""
    iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="x")
    stub = Stubber(iam)
    user = {"UserName": "a", "UserId": "AIDA" + "A" * 16, "Path": "/",
            "Arn": f"arn:aws:iam::{ACCOUNT_ID}:user/a", "CreateDate": "2026-01-01T00:00:00Z"}
    filters = ["User", "Group", "LocalManagedPolicy", "Role"]
    stub.add_response("get_account_authorization_details",
                      {"UserDetailList": [user], "IsTruncated": True, "Marker": "m1"},
                      {"Filter": filters, "MaxItems": 1000})
    stub.add_response("get_account_authorization_details",
                      {"UserDetailList": [{**user, "UserName": "b"}], "IsTruncated": False},
                      {"Filter": filters, "MaxItems": 1000, "Marker": "m1"})
    with stub:
        users, _, _, _ = _authorization_details(iam)
    stub.assert_no_pending_responses()
    assert [u["UserName"] for u in users] == ["a", "b"]


def test_url_encoded_documents_are_decoded() -> None:
    from iamstate.aws.live import _document
    raw = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D"
    assert _document(raw) == PolicyDocument({"Version": "2012-10-17", "Statement": []})


def test_a_plan_in_sync_asks_for_no_policy_documents(conn: Connection,
                                                      example_repo: Path) -> None:
    """The AWS managed policies' documents serve only to explain changes: an account in
    sync costs no GetPolicy / GetPolicyVersion; a plan with a change reads them (jdoe's
    ReadOnlyAccess through Developers is part of what rejoining means)."""
    [account] = load_repository(example_repo)
    seed(conn.iam, account.desired)
    counter = CallCounter()
    [planned] = plan_all(example_repo, counter=counter)
    assert planned.plan.changes == ()
    assert "GetPolicy" not in counter.calls and "GetPolicyVersion" not in counter.calls
    conn.iam.remove_user_from_group(UserName="jdoe", GroupName="Developers")
    counter = CallCounter()
    [planned] = plan_all(example_repo, counter=counter)
    assert counter.calls.get("GetPolicyVersion")
    assert planned.plan.consequences is not None
    gains = planned.plan.consequences.users["jdoe"].gains
    assert any("ReadOnlyAccess" in via for grant in gains for via in grant.via), gains
