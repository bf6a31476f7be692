"""The CI host seam: which host a job runs on, and GitLab's side of it (hosts/gitlab.py)
against a local fake of its REST API v4 — merge requests and the commits that merged them,
notes (the bot's by user id, system notes left out, every page), merge bases, pipelines,
issues, rate limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from iamstate import hosts
from iamstate.errors import GitLabError, HostError
from iamstate.hosts.github import GitHub
from iamstate.hosts.gitlab import GitLab
from iamstate.hosts.rest import retry_after
from tests.e2e.fake_github import Fault
from tests.e2e.fake_gitlab import BOT, PROJECT, PROJECT_ID, TOKEN, FakeGitLab, fake_gitlab, person

SUMMARY = "<!-- iamstate-plan -->\nthe plan"
FOLLOW_UP = "<!-- iamstate-plan follow-up -->\nthe fresh plan"


@pytest.fixture
def fake() -> Iterator[FakeGitLab]:
    with fake_gitlab() as served:
        yield served


@pytest.fixture
def lab(fake: FakeGitLab) -> GitLab:
    host = GitLab(PROJECT_ID, TOKEN, fake.api)
    host.rest.sleep = lambda seconds: None  # the waits are asserted, not slept
    return host


def test_the_host_is_the_one_whose_ci_variables_are_set(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hosts.host_type({"GITLAB_CI": "true", "CI_PROJECT_ID": "1"}) is GitLab
    assert hosts.host_type({"GITHUB_ACTIONS": "true"}) is GitHub
    assert hosts.host_type({"ACTIONS_ID_TOKEN_REQUEST_URL": "http://x"}) is GitHub
    assert hosts.host_type({"CI": "true"}) is None
    for name in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "ACTIONS_ID_TOKEN_REQUEST_URL",
                 "GITLAB_CI", "IAMSTATE_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(HostError, match="no CI host found: run this in a CI job of GitHub or "
                                        "GitLab"):
        hosts.current()
    assert hosts.web_identity_token() is None  # at a desk: boto3's own credentials
    monkeypatch.setenv("GITLAB_CI", "true")
    assert hosts.web_identity_token() is None  # a job that asked for no ID token
    monkeypatch.setenv("IAMSTATE_ID_TOKEN", "eyJ.gitlab.token")
    assert hosts.web_identity_token() == "eyJ.gitlab.token"


def test_from_the_environment_of_a_gitlab_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.delenv("CI_PROJECT_ID", raising=False)
    monkeypatch.delenv("CI_PROJECT_PATH", raising=False)
    with pytest.raises(GitLabError, match="CI_PROJECT_ID is not set"):
        hosts.current()
    monkeypatch.setenv("CI_PROJECT_PATH", PROJECT)
    monkeypatch.delenv("IAMSTATE_GITLAB_TOKEN", raising=False)
    with pytest.raises(GitLabError, match=r"IAMSTATE_GITLAB_TOKEN is not set.*Reporter"):
        hosts.current()
    monkeypatch.setenv("IAMSTATE_GITLAB_TOKEN", TOKEN)
    monkeypatch.setenv("CI_API_V4_URL", "https://gitlab.example.com/api/v4")
    host = hosts.current()
    assert isinstance(host, GitLab) and host.api == "https://gitlab.example.com/api/v4"
    assert host.project == PROJECT
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "12")
    monkeypatch.setenv("CI_COMMIT_SHA", "abc")
    assert (host.change_request(None), host.change_request(3)) == (12, 3)
    assert host.head_commit() == "abc" and host.label(12) == "!12"
    monkeypatch.delenv("CI_MERGE_REQUEST_IID")
    with pytest.raises(GitLabError, match="no merge request in this pipeline"):
        host.change_request(None)


def test_the_project_path_is_url_encoded(fake: FakeGitLab) -> None:
    host = GitLab(PROJECT, TOKEN, fake.api)
    fake.note(4, SUMMARY)
    assert [n.body for n in host.notes(4)] == [SUMMARY]
    assert "/api/v4/projects/acme%2Fplatform%2Fiam/merge_requests/4/notes" in fake.raw_paths


def test_only_the_tokens_users_notes_count_and_system_notes_are_left_out(
    lab: GitLab, fake: FakeGitLab
) -> None:
    fake.note(5, SUMMARY, {"id": 1, "username": f"{BOT['username']}2", "name": BOT["name"]})
    fake.note(5, SUMMARY, BOT, system=True)
    fake.note(5, "LGTM", person("kim", 11))
    mine = fake.note(5, SUMMARY)
    notes = lab.notes(5)
    assert [(n.body, n.by_bot) for n in notes] == [(SUMMARY, False), ("LGTM", False),
                                                   (SUMMARY, True)]
    assert lab.reviewed_comments(5) == [SUMMARY]
    assert lab.upsert_plan_comment(5, SUMMARY + " v2") == "updated"
    assert mine["body"] == SUMMARY + " v2" and len(fake.notes[5]) == 4
    assert lab.upsert_plan_comment(6, SUMMARY) == "created"
    assert fake.notes[6][0]["author"] == BOT
    assert lab.bot == BOT["username"]


def test_every_page_of_notes_is_read(lab: GitLab, fake: FakeGitLab) -> None:
    for i in range(230):
        fake.note(8, f"note {i}", person("kim", 11))
    fake.note(8, SUMMARY)
    assert len(lab.notes(8)) == 231
    assert lab.reviewed_comments(8) == [SUMMARY]


@pytest.mark.parametrize("method", ["merge", "squash", "fast-forward"])
def test_the_merge_request_a_commit_merged(lab: GitLab, fake: FakeGitLab, method: str) -> None:
    fake.open_mr(3, "shared")  # an open MR also holds the commit: never counts
    fake.merge(4, "shared", method)
    number, merged_at = lab.merged_change("shared")
    assert number == 4 and merged_at == datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC)
    with pytest.raises(HostError, match="belongs to no merge request merged as that commit"):
        lab.merged_change("head-3-never-merged")


def test_two_merge_requests_for_one_commit_apply_nothing(lab: GitLab, fake: FakeGitLab) -> None:
    fake.merge(4, "same")
    fake.merge(5, "same")
    with pytest.raises(HostError, match=r"several merge requests \[4, 5\]"):
        lab.merged_change("same")


def test_merges_since_the_last_apply_oldest_first(lab: GitLab, fake: FakeGitLab) -> None:
    fake.merge(1, "c1")
    fake.main.append("direct-push")  # no merge request: skipped
    fake.merge(2, "c2")
    fake.merge(3, "c3")
    assert [n for n, _ in lab.merged_changes_between("c1", "c3")] == [2]
    assert lab.follows("c1", "c3") and lab.follows("c3", "c3")
    assert not lab.follows("c3", "c1") and not lab.follows("c1", "elsewhere")
    with pytest.raises(HostError, match="c1 does not follow c3"):
        lab.merged_changes_between("c3", "c1")


def test_a_follow_up_applies_only_when_merged_into_the_branch_applied(
    lab: GitLab, fake: FakeGitLab
) -> None:
    fake.note(9, SUMMARY)
    fake.open_mr(9, "head-9")
    with pytest.raises(HostError, match="merge request !9 is not merged"):
        lab.merged_into(9, "c9")
    fake.merge(9, "c9")
    fake.main.append("later")
    assert lab.merged_into(9, "later")[0] == 9
    with pytest.raises(HostError, match="not on the branch being applied"):
        lab.merged_into(9, "a-branch")
    _, merged_at = lab.merged_into(9, "c9")
    with pytest.raises(HostError, match="no follow-up plan note posted after its merge"):
        lab.reviewed_comments(9, merged_at, follow_up=True)
    posted = fake.note(9, FOLLOW_UP)
    assert lab.reviewed_comments(9, merged_at, follow_up=True) == [FOLLOW_UP]
    assert lab.reviewed_comments(9, merged_at) == [SUMMARY]
    posted["updated_at"] = fake.now()  # edited: not what was posted for review
    with pytest.raises(HostError, match="no follow-up plan note"):
        lab.reviewed_comments(9, merged_at, follow_up=True)


def test_the_last_applied_commit_is_the_newest_successful_push_pipeline(
    lab: GitLab, fake: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")
    assert lab.last_applied() is None
    fake.pipeline("a", "success")
    fake.pipeline("b", "failed")
    fake.pipeline("c", "success", source="schedule")  # drift: applies nothing
    fake.pipeline("d", "success", source="web")  # a follow-up run by hand
    fake.pipeline("e", "canceled")
    assert lab.last_applied() == "a"
    fake.pipeline("f", "success")
    assert lab.last_applied() == "f"
    fake.pipelines[-1]["ref"] = "feature"  # another branch's pipeline does not count
    assert lab.last_applied() == "a"


def test_the_drift_issue_is_the_bots_own(lab: GitLab, fake: FakeGitLab) -> None:
    marker = "<!-- iamstate-drift account=prod -->"
    theirs = fake.open_issue("hide it", f"{marker}\nnothing", person("mallory", 7))
    assert lab.upsert_drift_issue("prod", "drifted", "users: +x") == "created #2"
    assert lab.upsert_drift_issue("prod", "drifted", "users: +y") == "updated #2"
    assert fake.issues[1]["description"] == f"{marker}\nusers: +y"
    assert theirs["description"] == f"{marker}\nnothing"


def test_5xx_and_rate_limits_are_retried_within_a_bound(lab: GitLab, fake: FakeGitLab) -> None:
    waits: list[float] = []
    lab.rest.sleep = waits.append
    reset = str(int(time.time()) + 5)
    fake.faults += [Fault(502), Fault(429, {"RateLimit-Remaining": "0",
                                            "RateLimit-Reset": reset}),
                    Fault(429, {"Retry-After": "3"})]
    fake.note(2, SUMMARY)
    assert lab.reviewed_comments(2) == [SUMMARY]
    assert waits[0] == 1.0 and 4 <= waits[1] <= 6 and waits[2] == 3.0
    fake.faults += [Fault(500)] * 6
    with pytest.raises(GitLabError, match=r"HTTP 500.*after 5 retries"):
        lab.notes(2)
    fake.faults += [Fault(404, {}, "404 Not found"), Fault(502)]
    with pytest.raises(GitLabError, match="HTTP 404"):
        lab.change(99)
    assert len(fake.faults) == 1  # a 404 is not retried


def test_retry_after_reads_both_hosts_headers() -> None:
    waited = retry_after(429, {"ratelimit-remaining": "0",
                               "ratelimit-reset": str(int(time.time()) + 10)}, "", 0)
    assert waited is not None and waited > 9
    assert retry_after(403, {"x-ratelimit-remaining": "0"}, "", 0) == 60.0
    assert retry_after(403, {}, "Forbidden", 0) is None
    assert retry_after(503, {}, "", 2) == 4.0
