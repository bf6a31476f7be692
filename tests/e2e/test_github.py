"""The GitHub loop through the real CLI: sticky PR comment, apply of the reviewed plan on
merge, drift issue — against a moto server and a local fake of GitHub's REST API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.fake_github import TOKEN, FakeGitHub, fake_github


@pytest.fixture
def github(cli: Cli) -> Iterator[FakeGitHub]:
    with fake_github() as fake:
        cli.env.update({"GITHUB_API_URL": fake.url, "GITHUB_TOKEN": TOKEN,
                        "GITHUB_REPOSITORY": "acme/iam"})
        yield fake


def test_one_sticky_comment_per_account_updated_on_every_push(
    cli: Cli, github: FakeGitHub
) -> None:
    github.comments[7] = [{"id": 1, "body": "LGTM from a human"}]
    assert cli("plan", "--out", "p.json").code == 0
    first = cli("ci", "comment", "p.json", "--pr", "7")
    assert first.code == 0, first.both
    assert "created the plan comment for sandbox on #7" in first.out
    (cli.repo / "accounts/sandbox/users.yaml").write_text(
        (cli.repo / "accounts/sandbox/users.yaml").read_text().replace("payments", "billing"))
    assert cli("plan", "--out", "p.json").code == 0
    second = cli("ci", "comment", "p.json", "--pr", "7")
    assert "updated the plan comment for sandbox on #7" in second.out
    thread = github.comments[7]
    assert len(thread) == 2 and thread[0]["body"] == "LGTM from a human"
    body = thread[1]["body"]
    assert body.startswith("<!-- iamstate-plan account=sandbox digest=sha256:")
    assert "team = billing" in body and "Plan: 32 to add" in body


def test_merge_applies_exactly_the_reviewed_plan_or_nothing(
    cli: Cli, github: FakeGitHub
) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    assert cli("ci", "comment", "p.json", "--pr", "9").code == 0
    github.pulls_of_commit["abc123"] = [9]
    cli.iam.create_group(GroupName="AllUsers")  # live state moves on after the review
    before = cli.snapshot()
    refused = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "abc123")
    assert refused.code == 1 and "not the plan reviewed on the pull request" in refused.err
    assert cli.snapshot() == before
    cli.iam.delete_group(GroupName="AllUsers")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "abc123")
    assert applied.code == 0, applied.both
    assert "Apply complete: 32 change(s) made." in applied.out
    assert "one-time password of jdoe encrypted to its public_key in" in applied.out
    assert cli("plan", "--detailed-exitcode").code == 0
    unreviewed = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "fff999")
    assert unreviewed.code == 1 and "belongs to no pull request" in unreviewed.err


def test_drift_opens_one_issue_and_updates_it(cli: Cli, github: FakeGitHub) -> None:
    assert cli("apply", "--auto-approve").code == 0
    assert cli("ci", "drift").code == 0 and not github.issues
    cli.iam.create_user(UserName="intruder")
    first = cli("ci", "drift")
    assert first.code == 2 and "created #" in first.out
    cli.iam.create_user(UserName="intruder2")
    second = cli("ci", "drift")
    assert second.code == 2 and "updated #" in second.out
    [issue] = github.issues
    assert "intruder2" in issue["body"] and "drifted" in issue["title"]
