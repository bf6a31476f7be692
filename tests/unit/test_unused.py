"""What `unused --write` does to the repository, from last-accessed data given as data (the
reader and the sandbox that produce it are tested in tests/aws/test_lastaccess.py and
tests/e2e/test_unused.py): shared documents, documents left empty, Deny statements,
comments, and the 14-day rule from a real git history."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
from pathlib import Path

from iamstate.analysis.unused import analyse, write
from iamstate.aws.lastaccess import GroupAccess, ServiceAccess, Use
from iamstate.repository.loader import load_repository
from tests.helpers import minimal_repo

NOW = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
RECENT = Use(NOW - datetime.timedelta(days=2), "kim")

GROUPS = """
users:
  kim:
    category: AllHumans
    groups: [Data, Analysts]
groups:
  AllUsers: {}
  AllHumans: {}
  AllHeadlessUsers: {}
  # the data team
  Data:
    inline_policies:
      Lake: lake            # shared with Analysts
      Queue:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: sqs:SendMessage   # nobody sends
            Resource: "*"
  Analysts:
    inline_policies:
      Lake: lake
"""
LAKE = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "dynamodb:GetItem"], "Resource": "*"},
    {"Effect": "Deny", "Action": "dynamodb:DeleteTable", "Resource": "*"}]}


def access(group: str, used: dict[str, Use | None]) -> GroupAccess:
    return GroupAccess(group, NOW, tuple(
        ServiceAccess(service, service, use, None, {use.by: use.when} if use else {})
        for service, use in used.items()))


def repo_in_git(tmp_path: Path, days_ago: int = 60) -> Path:
    repo = minimal_repo(tmp_path, files={"accounts/acme/groups.yaml": GROUPS,
                                         "policies/lake.json": json.dumps(LAKE, indent=2)})
    when = (NOW - datetime.timedelta(days=days_ago)).isoformat()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "start"]):
        subprocess.run(["git", *command], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def trim(repo: Path, accesses: dict[str, GroupAccess]) -> list[Path]:
    account = load_repository(repo)[0]
    reports, found = analyse(repo, account, accesses, 90, NOW)
    return write(repo, reports, found)


def test_a_shared_document_loses_only_what_every_holder_left_unused(tmp_path: Path) -> None:
    repo = repo_in_git(tmp_path)
    written = trim(repo, {
        "Data": access("Data", {"s3": None, "dynamodb": None, "sqs": None}),
        "Analysts": access("Analysts", {"s3": RECENT, "dynamodb": None})})
    lake = json.loads((repo / "policies/lake.json").read_text())
    # s3 is used by Analysts: it stays for both; dynamodb nobody used: gone; the Deny stays
    assert lake["Statement"][0]["Action"] == ["s3:GetObject"]
    assert lake["Statement"][1] == LAKE["Statement"][1]
    assert sorted(p.name for p in written) == ["groups.yaml", "lake.json"]


def test_a_document_left_empty_is_detached_and_comments_stay(tmp_path: Path) -> None:
    repo = repo_in_git(tmp_path)
    trim(repo, {"Data": access("Data", {"s3": RECENT, "dynamodb": RECENT, "sqs": None}),
                "Analysts": access("Analysts", {"s3": RECENT, "dynamodb": RECENT})})
    groups = (repo / "accounts/acme/groups.yaml").read_text()
    assert "Queue" not in groups and "sqs:SendMessage" not in groups
    assert "# the data team" in groups and "Lake: lake            # shared with Analysts" in groups
    assert json.loads((repo / "policies/lake.json").read_text()) == LAKE
    load_repository(repo)  # still valid


def test_grants_younger_than_14_days_in_git_stay(tmp_path: Path) -> None:
    repo = repo_in_git(tmp_path, days_ago=10)
    account = load_repository(repo)[0]
    reports, _ = analyse(repo, account, {"Data": access("Data", {"sqs": None})}, 90, NOW)
    (report,) = reports
    assert report.unused_services == ["sqs"] and report.removals == []
    assert [k.grant.pattern for k in report.kept] == ["sqs:SendMessage"]
    assert "last 14 days" in report.kept[0].reason


def test_a_use_older_than_the_window_is_unused(tmp_path: Path) -> None:
    repo = repo_in_git(tmp_path)
    old = Use(NOW - datetime.timedelta(days=91), "kim")
    account = load_repository(repo)[0]
    reports, _ = analyse(repo, account, {"Data": access("Data", {"sqs": old})}, 90, NOW)
    assert [g.pattern for g in reports[0].removals] == ["sqs:SendMessage"]
    reports, _ = analyse(repo, account, {"Data": access("Data", {"sqs": old})}, 120, NOW)
    assert reports[0].removals == [] and not reports[0].found


def test_an_allow_with_not_action_stays_with_the_reason(tmp_path: Path) -> None:
    repo = repo_in_git(tmp_path)
    groups = repo / "accounts/acme/groups.yaml"
    groups.write_text(groups.read_text().replace(
        "            Action: sqs:SendMessage   # nobody sends\n",
        "            NotAction: [iam:*, organizations:*]\n"))
    account = load_repository(repo)[0]
    reports, _ = analyse(repo, account, {"Data": access("Data", {"sqs": None})}, 90, NOW)
    (report,) = reports
    assert report.removals == []
    assert [(k.grant.pattern, "NotAction" in k.reason) for k in report.kept] == [
        ("NotAction", True)]
