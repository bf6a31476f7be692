"""The GitHub loop through the real CLI: one plan comment per PR, apply of the reviewed plan
on merge (word for word what the comment shows), follow-ups, the merge queue, the drift
issue — against a moto server and a local fake of GitHub's REST API."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cli
from tests.e2e.fake_github import BOT, FakeGitHub


def plan_and_comment(cli: Cli, pr: int) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    result = cli("ci", "comment", "p.json", "--pr", str(pr))
    assert result.code == 0, result.both


def test_one_plan_comment_per_pr_updated_on_every_push(cli: Cli, github: FakeGitHub) -> None:
    github.comments[7] = [{"id": 1, "body": "LGTM from a human", "user": {"login": "kim"}}]
    plan_and_comment(cli, 7)
    (cli.repo / "accounts/sandbox/users.yaml").write_text(
        (cli.repo / "accounts/sandbox/users.yaml").read_text().replace("payments", "billing"))
    plan_and_comment(cli, 7)
    thread = github.comments[7]
    assert len(thread) == 2 and thread[0]["body"] == "LGTM from a human"
    body = thread[1]["body"]
    assert body.startswith("<!-- iamstate-plan -->\n")
    assert "**iamstate 0.2.0: Plan: 32 to add" in body
    assert "team = billing" in body and "| `sandbox` | 123456789012 | 32 | 0 | 0 | 0 |" in body


def test_merge_applies_exactly_the_reviewed_plan_or_nothing(
    cli: Cli, github: FakeGitHub
) -> None:
    plan_and_comment(cli, 9)
    github.pulls_of_commit["abc123"] = [9]
    cli.iam.create_group(GroupName="AllUsers")  # live state moves on after the review
    before = cli.snapshot()
    refused = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "abc123")
    assert refused.code == 1 and "is not the plan reviewed on the pull request" in refused.out
    assert cli.snapshot() == before
    cli.iam.delete_group(GroupName="AllUsers")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "abc123")
    assert applied.code == 0, applied.both
    assert "Apply complete: 32 change(s) made." in applied.out
    assert "one-time password of jdoe encrypted to its public_key in" in applied.out
    assert cli("plan", "--detailed-exitcode").code == 0
    unreviewed = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "fff999")
    assert unreviewed.code == 1 and "belongs to no pull request" in unreviewed.err


def _forge(github: FakeGitHub, pr: int, body: str, login: str = BOT) -> None:
    github.next_id += 1
    github.comments.setdefault(pr, []).append({"id": github.next_id, "body": body,
                                               "user": {"login": login}})


def test_a_comment_that_does_not_show_the_plan_applies_nothing(
    cli: Cli, github: FakeGitHub
) -> None:
    """The digest alone proves nothing: the comment must be, word for word, the rendering of
    the fresh plan. Edited by the PR's author, written by someone else, or posted by a
    workflow the PR changed: all refused."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(
        "groups:\n  Admins:\n    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n")
    plan_and_comment(cli, 11)
    real = github.comments[11][-1]["body"]
    harmless = real.replace("+ create group Admins", "~ update user HeadlessUser-ci")
    assert harmless != real
    github.pulls_of_commit["c0ffee"] = [11]
    before = cli.snapshot()
    for forged, login in ((harmless, BOT), (real, "mallory")):
        github.comments[11] = []
        _forge(github, 11, forged, login)
        result = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "c0ffee")
        assert result.code == 1, result.both
        assert cli.snapshot() == before
    assert "does not show this plan" in result.out or "no iamstate plan comment" in \
        result.err


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


def test_the_plan_json_and_comment_hold_no_secret(cli: Cli, github: FakeGitHub) -> None:
    plan_and_comment(cli, 12)
    body = github.comments[12][-1]["body"]
    text = (cli.repo / "p.json").read_text() + body
    data = json.loads((cli.repo / "p.json").read_text())

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    assert not keys(data) & {"Password", "SecretAccessKey", "SessionToken", "PrivateKey",
                             "password", "secret"}
    assert "BEGIN" not in text  # no key material, only the recipient's public key
    assert not (cli.repo / ".iamstate/out").exists()  # planning makes no password
