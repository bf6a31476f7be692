"""`iamstate unused` against the sandbox's own server (its own process): users call AWS with
their own access keys, the sandbox records it, and `unused` reports and trims exactly what
nobody used. History is made by setting the sandbox's clock, never by sleeping; the grants'
age comes from a git repository with back-dated commits."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from iamstate.aws.live import READ_ACTIONS
from tests.e2e.conftest import Cli, set_clock

NOW = datetime.datetime.now(datetime.UTC)
DEPLOYERS = """
  Deployers:
    inline_policies:
      Deploy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: [iam:PassRole, lambda:CreateFunction]
            Resource: "arn:${partition}:iam::${account_id}:role/deploy"
          - Effect: Allow   # only from next year: nobody could have used it yet
            Action: sqs:SendMessage
            Resource: "*"
            Condition: {DateGreaterThan: {"aws:CurrentTime": "2099-01-01T00:00:00Z"}}
"""

def git(repo: Path, *args: str, when: datetime.datetime | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                          text=True).stdout


def commit(repo: Path, message: str, days_ago: int) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message, when=NOW - datetime.timedelta(days=days_ago))


def add_deployers(repo: Path) -> None:
    groups = repo / "accounts/sandbox/groups.yaml"
    text = groups.read_text()
    groups.write_text(text.replace("\npolicies:", DEPLOYERS + "\npolicies:"))
    users = repo / "accounts/sandbox/users.yaml"
    users.write_text(users.read_text().replace(
        "  HeadlessUser-ci:\n", "  HeadlessUser-ci:\n    groups: [Deployers]\n"))


def grant_young(repo: Path) -> None:
    """s3:GetObject added to WriteBackups 3 days ago: unused, but too young to trim."""
    groups = repo / "accounts/sandbox/groups.yaml"
    groups.write_text(groups.read_text().replace(
        "[s3:PutObject, s3:AbortMultipartUpload]",
        "[s3:PutObject, s3:AbortMultipartUpload, s3:GetObject]"))


def keys(iam: Any, user: str, endpoint: str) -> dict[str, Any]:
    """boto3 arguments for the user's own new access key."""
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"endpoint_url": endpoint, "region_name": "us-east-1",
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"]}


@pytest.fixture
def used(sandbox: Cli, sandbox_server: str) -> Cli:
    """The example (plus Deployers), in git 60 days ago and one grant 3 days ago, applied;
    HeadlessUser-backup wrote a backup 120 days ago, jdoe read IAM and STS today."""
    repo = sandbox.repo
    add_deployers(repo)
    git(repo, "init", "-q")
    commit(repo, "the example", 60)
    grant_young(repo)
    commit(repo, "backups may be read", 3)
    done = sandbox("apply", "--auto-approve")
    assert done.code == 0, done.both
    backup = keys(sandbox.iam, "HeadlessUser-backup", sandbox_server)
    jdoe = keys(sandbox.iam, "jdoe", sandbox_server)
    set_clock(sandbox_server, NOW - datetime.timedelta(days=120))
    s3 = boto3.client("s3", **backup)
    s3.create_bucket(Bucket="backups")
    s3.put_object(Bucket="backups", Key="db.dump", Body=b"x")
    set_clock(sandbox_server, None)
    boto3.client("iam", **jdoe).get_user(UserName="jdoe")
    boto3.client("sts", **jdoe).get_caller_identity()
    return sandbox


def _json(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    done = cli("unused", "--format", "json", *args)
    assert done.code in (0, 2), done.both
    return done.code, json.loads(done.out)


def _group(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in report["accounts"][0]["groups"] if g["group"] == name)


def _self_manage_actions() -> set[str]:
    document = json.loads((Path(__file__).parents[2] / "policies"
                           / "self-manage-credentials.json").read_text())
    return {a for s in document["Statement"] if s["Effect"] == "Allow"
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


def test_reports_exactly_what_nobody_used_with_last_use_and_who(used: Cli) -> None:
    code, report = _json(used)
    assert code == 2
    backups = _group(report, "BackupWriters")
    # s3 was used, but 120 days ago: unused in 90 days, its last use and user named
    assert backups["unused_services"] == ["s3"]
    assert {g["action"] for g in backups["removals"]} == {"s3:PutObject",
                                                          "s3:AbortMultipartUpload"}
    assert [(k["action"], "last 14 days" in k["reason"]) for k in backups["kept"]] == [
        ("s3:GetObject", True)]  # young: added 3 days ago
    developers = _group(report, "Developers")
    in_use = {s["service"]: s for s in developers["in_use"]}
    assert set(in_use) == {"iam", "sts"}
    assert in_use["sts"]["last"]["by"] == "jdoe" and set(in_use["sts"]["users"]) == {"jdoe"}
    assert any("ReadOnlyAccess" in a and "sts:GetCallerIdentity" in a
               for a in developers["advice"])  # never edited: a narrower policy instead
    everyone = _group(report, "AllUsers")
    # jdoe used iam:GetUser (a tracked action): every other self-management action goes
    assert {g["action"] for g in everyone["removals"]} == _self_manage_actions() - {
        "iam:GetUser"}
    deployers = _group(report, "Deployers")
    assert set(deployers["unused_services"]) == {"iam", "lambda", "sqs"}
    assert [g["action"] for g in deployers["removals"]] == ["lambda:CreateFunction"]
    reasons = {k["action"]: k["reason"] for k in deployers["kept"]}
    assert "iam:PassRole" in reasons["iam:PassRole"]
    assert "aws:CurrentTime" in reasons["sqs:SendMessage"]

    text = used("unused")
    assert text.code == 2
    first = text.out.index("Unused by every member:")
    assert first < text.out.index("group BackupWriters:")  # the whole-group view first
    assert "BackupWriters: 1 service: s3" in text.out
    last_use = (NOW - datetime.timedelta(days=120)).strftime("%Y-%m-%d")
    assert f"s3: unused, last {last_use} by HeadlessUser-backup" in text.out


def test_write_removes_exactly_that_and_the_plan_shows_the_losses(used: Cli) -> None:
    before = git(used.repo, "show", "HEAD:accounts/sandbox/groups.yaml")
    done = used("unused", "--write")
    assert done.code == 2, done.both
    groups = (used.repo / "accounts/sandbox/groups.yaml").read_text()
    assert "[s3:GetObject]" in groups  # the young grant stays
    assert "s3:PutObject" not in groups and "lambda:CreateFunction" not in groups
    assert "iam:PassRole" in groups and "sqs:SendMessage" in groups
    assert "# only from next year" in groups  # comments kept (ruamel round trip)
    removed = [line for line in git(used.repo, "diff", "-U0", "--",
                                    "accounts/sandbox/groups.yaml").splitlines()
               if line.startswith("-") and not line.startswith("---")]
    assert len(removed) == 2 and len(before.splitlines()) == len(groups.splitlines())
    document = json.loads((used.repo / "policies/self-manage-credentials.json").read_text())
    left = {a for s in document["Statement"] for a in s["Action"]}
    assert left == {"iam:GetUser"}
    assert git(used.repo, "status", "--short", "--", "accounts", "policies").split() == [
        "M", "accounts/sandbox/groups.yaml", "M", "policies/self-manage-credentials.json"]

    plan = used("plan")
    assert plan.code == 0, plan.both
    assert "loses s3:AbortMultipartUpload, s3:PutObject" in plan.out
    assert "loses lambda:CreateFunction" in plan.out
    assert "~ update group inline policy BackupWriters/WriteBackups" in plan.out


def test_data_older_than_four_hours_decides_nothing(used: Cli, sandbox_server: str) -> None:
    set_clock(sandbox_server, NOW - datetime.timedelta(hours=5))  # AWS's report time
    done = used("unused", "--write")
    assert done.code == 1 and "older than 4 hours" in done.err, done.both
    assert git(used.repo, "status", "--short", "--", "accounts", "policies") == ""


def test_not_git_is_conservative_and_says_so(used: Cli) -> None:
    subprocess.run(["rm", "-rf", str(used.repo / ".git")], check=True)
    code, report = _json(used, "--write")
    assert code == 2
    account = report["accounts"][0]
    assert account["written"] == [] and "not a git repository" in account["notes"][0]
    assert all(not g["removals"] for g in account["groups"])


def test_nothing_unused_exits_0(sandbox: Cli, sandbox_server: str) -> None:
    """Only a group whose one grant its member used: nothing to report."""
    repo = sandbox.repo
    (repo / "accounts/sandbox/groups.yaml").write_text(
        "groups:\n  AllUsers: {}\n  AllHumans: {}\n  AllHeadlessUsers: {}\n"
        "  AllMisconfiguredUsers: {}\n  Callers:\n    inline_policies:\n      Who:\n"
        "        Version: '2012-10-17'\n        Statement:\n          - Effect: Allow\n"
        "            Action: sts:GetCallerIdentity\n            Resource: '*'\n")
    (repo / "accounts/sandbox/users.yaml").write_text(
        "users:\n  HeadlessUser-ci:\n    groups: [Callers]\n")
    assert sandbox("apply", "--auto-approve").code == 0
    boto3.client("sts", **keys(sandbox.iam, "HeadlessUser-ci", sandbox_server)
                 ).get_caller_identity()
    done = sandbox("unused")
    assert done.code == 0, done.both
    assert "Unused by every member:\n  nothing" in done.out


def test_calls_are_the_plan_roles_and_jobs_belong_to_their_creator(
        used: Cli, sandbox_server: str) -> None:
    from iamstate.analysis.unused import run
    from iamstate.aws.session import CallCounter

    counter = CallCounter()
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in used.env.items() if k.startswith("AWS_")})
    try:
        outcomes = run(used.repo, None, 90, False, counter=counter)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert outcomes[0].found
    iam_calls = {f"iam:{name}" for name in counter.calls} - {"iam:GetCallerIdentity"}
    assert iam_calls - READ_ACTIONS == set()
    assert counter.calls["GenerateServiceLastAccessedDetails"] == 7  # one job per group

    arn = used.iam.get_group(GroupName="Developers")["Group"]["Arn"]
    job = used.iam.generate_service_last_accessed_details(Arn=arn)["JobId"]
    other = boto3.client("iam", **keys(used.iam, "jdoe", sandbox_server))
    with pytest.raises(other.exceptions.NoSuchEntityException):
        other.get_service_last_accessed_details(JobId=job)


def test_credential_report_has_the_root_row_first(sandbox: Cli) -> None:
    sandbox.iam.create_user(UserName="kim")
    sandbox.iam.generate_credential_report()
    text = sandbox.iam.get_credential_report()["Content"].decode()
    rows = text.splitlines()
    assert rows[1].startswith("<root_account>,arn:aws:iam::123456789012:root,")
    root = dict(zip(rows[0].split(","), rows[1].split(","), strict=True))
    assert root["password_enabled"] == "not_supported"
    assert root["mfa_active"] == "false" and root["access_key_1_active"] == "false"
    assert rows[2].startswith("kim,") and len(rows) == 3
