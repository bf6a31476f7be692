"""The last-accessed reader against AWS's own shapes (botocore's Stubber validates every
answer against IAM's service model): a job still in progress, pages, tracked actions named
without their service prefix, the members who used a service. moto implements none of these
calls; the sandbox's answers are tested end to end in tests/e2e/test_unused.py."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from iamstate.analysis.unused import analyse
from iamstate.aws.lastaccess import Reader
from iamstate.errors import AwsError
from iamstate.repository.loader import load_repository
from tests.helpers import minimal_repo

JOB = "6f1c0e2a-4c2a-4f0e-9d55-0123456789ab"
GROUP_ARN = "arn:aws:iam::123456789012:group/Data"
KIM = "arn:aws:iam::123456789012:user/kim"
CREATED = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
DONE = datetime.datetime(2026, 12, 1, 9, 0, 7, tzinfo=datetime.UTC)
USED = datetime.datetime(2026, 11, 20, 14, 3, tzinfo=datetime.UTC)

# What AWS answered for a group whose members used S3 (ListAllMyBuckets only), not DynamoDB
# (recorded shape; account and names changed).
PAGE_1: dict[str, Any] = {
    "JobStatus": "COMPLETED", "JobType": "ACTION_LEVEL", "JobCreationDate": CREATED,
    "JobCompletionDate": DONE, "IsTruncated": True, "Marker": "AQ==",
    "ServicesLastAccessed": [{
        "ServiceName": "Amazon S3", "ServiceNamespace": "s3", "LastAuthenticated": USED,
        "LastAuthenticatedEntity": KIM, "LastAuthenticatedRegion": "eu-west-1",
        "TotalAuthenticatedEntities": 1,
        "TrackedActionsLastAccessed": [
            {"ActionName": "ListAllMyBuckets", "LastAccessedEntity": KIM,
             "LastAccessedTime": USED, "LastAccessedRegion": "eu-west-1"},
            {"ActionName": "CreateBucket"}]}]}
PAGE_2: dict[str, Any] = {
    "JobStatus": "COMPLETED", "JobType": "ACTION_LEVEL", "JobCreationDate": CREATED,
    "JobCompletionDate": DONE, "IsTruncated": False,
    "ServicesLastAccessed": [{"ServiceName": "Amazon DynamoDB",
                              "ServiceNamespace": "dynamodb",
                              "TotalAuthenticatedEntities": 0}]}
ENTITIES: dict[str, Any] = {
    "JobStatus": "COMPLETED", "JobCreationDate": CREATED, "JobCompletionDate": DONE,
    "IsTruncated": False, "EntityDetailsList": [
        {"EntityInfo": {"Arn": KIM, "Name": "kim", "Type": "USER", "Id": "AIDAEXAMPLEKIM0001",
                        "Path": "/"}, "LastAuthenticated": USED},
        {"EntityInfo": {"Arn": KIM.replace("kim", "lee"), "Name": "lee", "Type": "USER",
                        "Id": "AIDAEXAMPLELEE0001", "Path": "/"}}]}


def stubbed() -> tuple[Any, Stubber]:
    iam = botocore.session.get_session().create_client(
        "iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return iam, Stubber(iam)


def answer_job(stub: Stubber, in_progress: int) -> None:
    stub.add_response("generate_service_last_accessed_details", {"JobId": JOB},
                      {"Arn": GROUP_ARN, "Granularity": "ACTION_LEVEL"})
    for _ in range(in_progress):
        stub.add_response("get_service_last_accessed_details", {
            "JobStatus": "IN_PROGRESS", "JobCreationDate": CREATED, "JobCompletionDate": DONE,
            "ServicesLastAccessed": []}, {"JobId": JOB})
    stub.add_response("get_service_last_accessed_details", PAGE_1, {"JobId": JOB})
    stub.add_response("get_service_last_accessed_details", PAGE_2,
                      {"JobId": JOB, "Marker": "AQ=="})
    stub.add_response("get_service_last_accessed_details_with_entities", ENTITIES,
                      {"JobId": JOB, "ServiceNamespace": "s3"})


def test_reader_polls_with_back_off_pages_and_names_who_used_what() -> None:
    iam, stub = stubbed()
    answer_job(stub, in_progress=3)
    slept: list[float] = []
    with stub:
        access = Reader(iam, sleep=slept.append).group("Data", GROUP_ARN)
        stub.assert_no_pending_responses()
    assert slept == [0.1, 0.2, 0.4]  # back-off between polls, never a fixed busy loop
    assert access.reported == DONE
    s3, dynamodb = access.services
    assert (s3.namespace, s3.last and s3.last.by, s3.users) == ("s3", "kim", {"kim": USED})
    assert s3.actions == {"s3:ListAllMyBuckets": s3.last, "s3:CreateBucket": None}
    # an unused service: no WithEntities call (the Stubber would fail on an extra call)
    assert (dynamodb.last, dynamodb.actions, dynamodb.users) == (None, None, {})


def test_a_failed_job_is_an_error_naming_the_group() -> None:
    iam, stub = stubbed()
    stub.add_response("generate_service_last_accessed_details", {"JobId": JOB})
    stub.add_response("get_service_last_accessed_details", {
        "JobStatus": "FAILED", "JobCreationDate": CREATED, "JobCompletionDate": DONE,
        "ServicesLastAccessed": [], "Error": {"Code": "InternalError", "Message": "retry"}})
    with stub, pytest.raises(AwsError, match=r"group Data: AWS could not .*InternalError"):
        Reader(iam, sleep=lambda _: None).group("Data", GROUP_ARN)


def committed_long_ago(repo: Path, when: datetime.datetime) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_AUTHOR_DATE": when.isoformat(), "GIT_COMMITTER_DATE": when.isoformat()}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "policies"]):
        subprocess.run(["git", *command], cwd=repo, env=env, check=True, capture_output=True)


def test_analysis_on_aws_answer_trims_the_unused_service_and_untouched_actions(
        tmp_path: Path) -> None:
    """AWS names tracked actions without their prefix: CreateBucket (never used) and the
    whole of DynamoDB go; ListAllMyBuckets (used by kim) and s3:GetObject (not tracked by
    AWS's list here: no evidence) stay."""
    repo = minimal_repo(tmp_path, files={"accounts/acme/groups.yaml": """
        users:
          kim:
            category: AllHumans
            groups: [Data]
        groups:
          AllUsers: {}
          AllHumans: {}
          AllHeadlessUsers: {}
          Data:
            inline_policies:
              Lake:
                Version: "2012-10-17"
                Statement:
                  - Effect: Allow
                    Action: [s3:ListAllMyBuckets, s3:CreateBucket, s3:GetObject,
                             dynamodb:GetItem]
                    Resource: "*"
        """})
    iam, stub = stubbed()
    answer_job(stub, in_progress=0)
    with stub:
        access = Reader(iam).group("Data", GROUP_ARN)
    committed_long_ago(repo, DONE - datetime.timedelta(days=60))
    account = load_repository(repo)[0]
    reports, _ = analyse(repo, account, {"Data": access}, 90, DONE)
    (report,) = reports
    assert report.unused_services == ["dynamodb"]
    assert report.unused_actions == ["s3:CreateBucket"]
    assert sorted(g.pattern for g in report.removals) == ["dynamodb:GetItem", "s3:CreateBucket"]
    assert report.kept == []
