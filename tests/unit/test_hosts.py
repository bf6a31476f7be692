"""The CI host seam: which host a job runs on, and GitLab's side of it (hosts/gitlab.py)
against a local fake of its REST API v4 — merge requests and the commits that merged them,
notes (the bot's by user id, system notes left out, every page), merge bases, pipelines,
issues, rate limits."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from iamstate import hosts
from iamstate.errors import GitHubError, GitLabError, HostError
from iamstate.hosts import ci, rest
from iamstate.hosts.base import ChangeRequest
from iamstate.hosts.github import GitHub
from iamstate.hosts.gitlab import GitLab
from iamstate.hosts.rest import retry_after
from tests.e2e.fake_github import TOKEN as GITHUB_TOKEN
from tests.e2e.fake_github import FakeGitHub, Fault, fake_github
from tests.e2e.fake_gitlab import BOT, PROJECT, PROJECT_ID, TOKEN, FakeGitLab, fake_gitlab, person

SUMMARY = "<!-- iamstate-plan -->\nthe plan"
FOLLOW_UP = "<!-- iamstate-plan follow-up -->\nthe fresh plan"


@pytest.fixture
def fake() -> Iterator[FakeGitLab]:
    with fake_gitlab() as served:
        yield served


@pytest.fixture
def lab(fake: FakeGitLab, monkeypatch: pytest.MonkeyPatch) -> GitLab:
    monkeypatch.delenv("CI_COMMIT_TAG", raising=False)
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")  # the apply pipeline's branch
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


# -- what a host answers is checked, not trusted: branch, tag, history, every page ----------


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[GitHub, FakeGitHub]]:
    monkeypatch.setenv("GITHUB_REF_NAME", "main")  # a run of the default branch
    monkeypatch.setenv("GITHUB_REF_TYPE", "branch")
    with fake_github() as served:
        host = GitHub("acme/iam", GITHUB_TOKEN, served.url)
        host.rest.sleep = lambda seconds: None
        yield host, served


def test_a_tag_pipeline_named_like_the_branch_is_no_apply(
    lab: GitLab, fake: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GitLab's `ref=main` matches a tag named `main` too, and its listing does not say
    which: each candidate's own record must say it is a branch pipeline."""
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")
    fake.pipeline("applied", "success")
    fake.pipeline("tagged", "success", tag=True)
    assert lab.last_applied() == "applied"
    fake.pipeline("tagged-again", "success", tag=True)  # the tag moved, twice
    fake.pipeline("tagged-3", "success", tag=True)
    assert lab.last_applied() == "applied"
    assert any(c.endswith(f"/pipelines/{len(fake.pipelines)}") for c in fake.calls)
    fake.pipeline("running-now", "running")  # this apply's own pipeline, newest of all
    assert lab.last_applied() == "applied"
    # `scope=branches` would be no fix: GitLab keeps the newest pipeline of each branch
    # first (this running one), so no successful one is ever found
    assert lab.rest.request("GET", f"/projects/{PROJECT_ID}/pipelines?scope=branches&ref=main"
                                   "&status=success&source=push") == []
    for _ in range(25):  # more tag pipelines than one page of candidates: none trusted
        fake.pipeline("tag-flood", "success", tag=True)
    assert lab.last_applied() is None  # unknown: every account is applied, none skipped


def test_a_pipeline_listing_that_does_not_match_its_query_is_not_trusted(
    lab: GitLab, fake: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing that ignored a filter (another branch, a failed run, a schedule, a record
    whose commit differs from the listing's) yields no last apply from those entries."""
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")
    fake.pipeline("applied", "success")
    wrong = [("feature", "success", "push"), ("main", "failed", "push"),
             ("main", "success", "schedule")]
    for ref, status, source in wrong:
        fake.pipeline(f"{ref}-{status}-{source}", status, source, ref=ref)
    real_handle = fake.handle

    def ignoring_filters(method: str, path: str, query: dict[str, list[str]],
                         body: object) -> tuple[int, object]:
        if path.endswith("/pipelines"):
            return 200, [{k: v for k, v in p.items() if k != "tag"}
                         for p in reversed(fake.pipelines)]
        return real_handle(method, path, query, body)

    monkeypatch.setattr(fake, "handle", ignoring_filters)
    assert lab.last_applied() == "applied"
    fake.pipelines[0]["tag"] = None  # a record that does not say: not a branch's
    assert lab.last_applied() is None


def test_a_tag_run_applies_nothing_and_the_branch_is_the_runs(
    lab: GitLab, hub: tuple[GitHub, FakeGitHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    github, _ = hub
    for name in ("CI_COMMIT_BRANCH", "CI_COMMIT_TAG", "CI_DEFAULT_BRANCH", "GITHUB_REF_NAME",
                 "GITHUB_REF_TYPE"):
        monkeypatch.delenv(name, raising=False)
    assert lab.applied_branch() == "main" and github.applied_branch() == "main"
    monkeypatch.setenv("CI_DEFAULT_BRANCH", "trunk")
    assert lab.applied_branch() == "trunk"
    monkeypatch.setenv("CI_COMMIT_BRANCH", "release")
    assert lab.applied_branch() == "release"
    monkeypatch.setenv("CI_COMMIT_TAG", "main")
    with pytest.raises(GitLabError, match="runs for the tag 'main', not a branch"):
        lab.last_applied()
    monkeypatch.setenv("GITHUB_REF_NAME", "trunk")
    assert github.applied_branch() == "trunk"
    monkeypatch.setenv("GITHUB_REF_TYPE", "tag")
    with pytest.raises(GitHubError, match="is for the tag 'trunk', not a branch"):
        github.last_applied()


@pytest.mark.parametrize("method", ["merge", "squash", "fast-forward"])
def test_a_merge_request_merged_into_another_branch_is_no_review(
    lab: GitLab, fake: FakeGitLab, method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merged into `scratch` as X, X later on main (pushed, or a fast-forward): refused,
    naming the merge request and its branch — never passed over for another's note."""
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")
    fake.note(6, SUMMARY)
    fake.merge(6, "x6", method, target="scratch")
    fake.main.append("x6")  # the commit reaches main without a merge request into main
    with pytest.raises(HostError, match=r"merge of merge request !6 \(into 'scratch'\), not "
                                        r"of one into 'main'"):
        lab.merged_change("x6")
    with pytest.raises(HostError, match=r"!6 was merged into 'scratch', not into 'main'"):
        lab.merged_into(6, "x6")
    fake.merge(7, "x6", "fast-forward")  # a merge request into main, same commit
    with pytest.raises(HostError, match=r"merge of merge request !6 \(into 'scratch'\)"):
        lab.merged_change("x6")
    fake.mrs[8] = {"iid": 8, "state": "merged", "merged_at": fake.now(), "sha": "x8",
                   "merge_commit_sha": "x8", "squash_commit_sha": None}  # no target said
    fake.mrs_of_commit["x8"] = [8]
    fake.main.append("x8")
    with pytest.raises(HostError, match="into an unnamed branch"):
        lab.merged_change("x8")
    monkeypatch.setenv("CI_COMMIT_BRANCH", "scratch")  # a run on that branch: its merge
    assert lab.merged_into(6, "x6")[0] == 6


def test_stacked_merge_requests_count_only_once_merged_into_the_branch(
    lab: GitLab, fake: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two applies, a merge into another branch is not a merge request of this
    branch: its note never stands in for a review of main."""
    monkeypatch.setenv("CI_COMMIT_BRANCH", "main")
    fake.merge(1, "c1")
    fake.merge(2, "c2", target="feature")
    fake.main.append("c2")  # the stacked merge's commit reaches main with the next one
    fake.merge(3, "c3")
    fake.merge(4, "c4")
    assert [n for n, _ in lab.merged_changes_between("c1", "c4")] == [3]
    assert lab.merged_change("c4")[0] == 4


def test_a_pull_request_merged_into_another_branch_is_no_review(
    hub: tuple[GitHub, FakeGitHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    github, fake = hub
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.delenv("GITHUB_REF_TYPE", raising=False)
    fake.merge(6, "x6", base="scratch")
    fake.main.append("x6")
    with pytest.raises(HostError, match=r"merge of pull request #6 \(into 'scratch'\)"):
        github.merged_change("x6")
    with pytest.raises(HostError, match=r"#6 was merged into 'scratch', not into 'main'"):
        github.merged_into(6, "x6")
    fake.merge(7, "c7")
    fake.merge(8, "c8", base="release")
    fake.main.append("c8")
    fake.merge(9, "c9")
    assert [n for n, _ in github.merged_changes_between("c7", "c9")] == []
    assert github.merged_change("c9")[0] == 9
    monkeypatch.setenv("GITHUB_REF_NAME", "release")  # a run on that branch: its own merge
    assert github.merged_change("c8")[0] == 8
    del fake.pulls[9]["base"]  # GitHub did not say: not this branch's
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    with pytest.raises(HostError, match="into an unnamed branch"):
        github.merged_change("c9")


def test_github_run_records_that_do_not_match_the_query_are_not_trusted(
    hub: tuple[GitHub, FakeGitHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    github, fake = hub
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    monkeypatch.delenv("GITHUB_REF_TYPE", raising=False)
    assert github.last_applied() is None
    fake.run("applied", "success")
    assert github.last_applied() == "applied"
    real_handle = fake.handle

    def ignoring_filters(method: str, path: str, query: dict[str, list[str]],
                         body: object) -> tuple[int, object]:
        if path.endswith("/runs"):
            return 200, {"workflow_runs": list(reversed(fake.runs))[:1]}
        return real_handle(method, path, query, body)

    monkeypatch.setattr(fake, "handle", ignoring_filters)
    for branch, event, conclusion in [("feature", "push", "success"),
                                      ("main", "workflow_dispatch", "success"),
                                      ("main", "push", "failure")]:
        fake.run(f"{branch}-{event}", conclusion, event, branch=branch)
        assert github.last_applied() is None, (branch, event, conclusion)


def test_every_commit_between_two_applies_is_read_past_githubs_250(
    hub: tuple[GitHub, FakeGitHub]
) -> None:
    """GitHub lists at most 250 commits of a comparison unpaged: a merge past them would
    lose its review. Paged, every one is read; a count that does not add up is refused."""
    github, fake = hub
    fake.main += [f"c{i}" for i in range(301)]
    for number, at in ((1, 120), (2, 260), (3, 299)):
        fake.merge(number, f"m{number}")
        fake.main.remove(f"m{number}")
        fake.main.insert(at, f"m{number}")
    commits = github.commits_between("c0", "c300")
    assert len(commits) == 303 and commits[-1] == "c300"
    assert [n for n, _ in github.merged_changes_between("c0", "c300")] == [1, 2, 3]
    real_handle = fake.handle

    def short(method: str, path: str, query: dict[str, list[str]],
              body: object) -> tuple[int, object]:
        status, answer = real_handle(method, path, query, body)
        if "/compare/" in path and isinstance(answer, dict):
            answer = {**answer, "total_commits": answer["total_commits"] + 1}
        return status, answer

    fake.handle = short  # type: ignore[method-assign]
    with pytest.raises(GitHubError, match="as 304 commits but lists 303"):
        github.commits_between("c0", "c300")


@pytest.mark.parametrize("count", [rest.MAX_PAGES * rest.PAGE, rest.MAX_PAGES * rest.PAGE + 1])
def test_a_listing_longer_than_the_page_bound_is_refused_not_cut_short(
    lab: GitLab, fake: FakeGitLab, count: int
) -> None:
    fake.notes[3] = [{"id": i, "body": f"note {i}", "author": person("kim", 11),
                      "system": False, "created_at": "2026-12-01T09:00:00Z",
                      "updated_at": "2026-12-01T09:00:00Z"} for i in range(count)]
    if count <= rest.MAX_PAGES * rest.PAGE:
        assert len(lab.notes(3)) == count
        return
    with pytest.raises(GitLabError, match=r"more than 10,000 items \(100 pages of 100\): "
                                          "refused rather than read in part"):
        lab.notes(3)


def test_githubs_listings_are_bounded_the_same_way(
    hub: tuple[GitHub, FakeGitHub], monkeypatch: pytest.MonkeyPatch
) -> None:
    github, fake = hub
    monkeypatch.setattr(rest, "MAX_PAGES", 2)
    for i in range(200):
        fake.post(4, f"comment {i}", "kim")
    assert len(github.notes(4)) == 200  # two full pages, and an empty third: all of it
    fake.post(4, "one more", "kim")
    with pytest.raises(GitHubError, match=r"more than 200 items \(2 pages of 100\)"):
        github.notes(4)


def test_the_last_apply_counts_only_on_the_history_checked_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the host answers: HEAD or an ancestor counts; a commit of another branch,
    one this checkout lacks, or something git would read as an option does not."""
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True,
                              text=True).stdout.strip()

    git("init", "-q", "-b", "main")
    shas = []
    for message in ("one", "two"):
        git("commit", "-q", "--allow-empty", "-m", message)
        shas.append(git("rev-parse", "HEAD"))
    git("checkout", "-q", "-b", "side", shas[0])
    git("commit", "-q", "--allow-empty", "-m", "side")
    side = git("rev-parse", "HEAD")
    git("checkout", "-q", "main")
    answer: list[str | None] = []

    class Answering:
        def last_applied(self) -> str | None:
            return answer[-1]

    monkeypatch.setattr(hosts, "current", Answering)
    cases = {shas[0]: shas[0], shas[1]: shas[1], shas[0][:12]: shas[0][:12], side: None,
             "f" * 40: None, "--help": None, "HEAD~1": None, "main": None, "": None, None: None}
    for given, expected in cases.items():
        answer.append(given)
        assert ci.last_applied(tmp_path) == expected, given
    answer.append(shas[0])
    assert ci.last_applied(tmp_path / "not-a-repo") is None


def test_the_merge_queues_pull_request_is_the_last_part_of_its_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    github = GitHub("acme/iam", GITHUB_TOKEN, "http://127.0.0.1:9")
    event = tmp_path / "event.json"
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    cases = {"refs/heads/gh-readonly-queue/main/pr-7-" + "a" * 40: 7,
             "gh-readonly-queue/release/pr-1-x/pr-12-0a1b2c3": 12,  # a base holding /pr-1-
             "refs/heads/gh-readonly-queue/main/pr-7-not-a-sha": None}
    for head_ref, expected in cases.items():
        event.write_text(f'{{"merge_group": {{"head_ref": "{head_ref}"}}}}')
        if expected is None:
            with pytest.raises(GitHubError, match="no pull request"):
                github.change_request(None)
        else:
            assert github.change_request(None) == expected, head_ref


def test_every_page_of_the_merge_requests_of_a_commit_is_read(
    lab: GitLab, fake: FakeGitLab, hub: tuple[GitHub, FakeGitHub]
) -> None:
    """A commit held by many open merge requests (pull requests): the one merged into
    another branch as that commit, past the first page, still refuses."""
    for iid in range(100, 230):
        fake.open_mr(iid, "x")
    fake.merge(300, "x", target="scratch")
    fake.main.append("x")
    with pytest.raises(HostError, match=r"!300 \(into 'scratch'\)"):
        lab.merged_change("x")
    github, served = hub
    for number in range(100, 230):
        served.open_pull(number, "y")
    served.merge(300, "y", base="scratch")
    served.main.append("y")
    with pytest.raises(HostError, match=r"#300 \(into 'scratch'\)"):
        github.merged_change("y")


def test_a_host_failure_between_two_applies_is_never_passed_over(
    lab: GitLab, fake: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit no merge request merged into the branch is skipped; the host failing to say
    (an error after its retries) stops the apply, whatever commit it was about."""
    fake.merge(1, "c1")
    fake.main.append("pushed")  # no merge request: skipped
    fake.merge(2, "c2", target="feature")
    fake.main.append("c2")  # stacked: skipped
    fake.merge(3, "c3")
    fake.merge(4, "c4")
    assert [n for n, _ in lab.merged_changes_between("c1", "c4")] == [3]
    real = lab.changes_of_commit
    for failing in ("pushed", "c2", "c3"):
        def flaky(commit: str, failing: str = failing) -> list[ChangeRequest]:
            if commit == failing:
                raise GitLabError(f"GitLab GET .../{commit}/merge_requests: HTTP 500")
            return real(commit)

        monkeypatch.setattr(lab, "changes_of_commit", flaky)
        with pytest.raises(GitLabError, match=f"{failing}/merge_requests: HTTP 500"):
            lab.merged_changes_between("c1", "c4")
