"""GitHub as the CI host: the few REST calls the workflows need, the run's pull request and
commit, and GitHub Actions' OIDC token for AWS.

The token is the workflow's GITHUB_TOKEN: the bot is `github-actions[bot]`, whose comments
and issues alone count. What is done with them (one plan comment per pull request, updated
in place; the comment as it was at the merge; follow-ups; the drift issue) is the same on
every host (`hosts.base`).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

from iamstate.errors import AwsError, GitHubError, HostError
from iamstate.hosts.base import ChangeRequest, Host, Issue, Note, when
from iamstate.hosts.rest import MAX_PAGES, PAGE, Rest

BOT = "github-actions[bot]"  # who writes comments with the workflow's GITHUB_TOKEN
API = "https://api.github.com"
AUDIENCE = "sts.amazonaws.com"  # the audience `iamstate bootstrap` trusts
TOKEN_REUSE_SECONDS = 240.0  # GitHub's OIDC tokens live a few minutes: take a new one after
FOLLOW_UP_HELP = (
    "Review the plan below. To apply exactly this plan, run the **iamstate apply** workflow "
    "by hand (Actions → iamstate apply → Run workflow) with `pr` = {number}; the "
    "`iam-production` environment asks for its reviewers' approval first. If anything "
    "changes before then, that run refuses too and posts the new plan here.")
# the merge queue's branch, gh-readonly-queue/<base>/pr-<N>-<sha>: the PR is the last part
# (a base branch may itself hold "/pr-1-")
QUEUE_REF = re.compile(r"/pr-(\d+)-[0-9a-f]+$")
_TOKEN: dict[str, str | float] = {}
_TOKEN_LOCK = threading.Lock()


@dataclass
class GitHub(Host):
    repository: str  # owner/name
    token: str
    api: str = API
    bot: str = BOT
    rest: Rest = field(init=False, repr=False)

    name: ClassVar[str] = "GitHub"
    change_noun: ClassVar[str] = "pull request"
    comment_noun: ClassVar[str] = "comment"

    def __post_init__(self) -> None:
        self.rest = Rest(self.api, {"Authorization": f"Bearer {self.token}",
                                    "Accept": "application/vnd.github+json",
                                    "X-GitHub-Api-Version": "2022-11-28"},
                         "GitHub", GitHubError)

    @classmethod
    def detected(cls, environ: Mapping[str, str]) -> bool:
        return any(name in environ for name in (
            "GITHUB_ACTIONS", "GITHUB_REPOSITORY", "ACTIONS_ID_TOKEN_REQUEST_URL"))

    @classmethod
    def from_environment(cls) -> GitHub:
        try:
            return cls(os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_TOKEN"],
                       os.environ.get("GITHUB_API_URL", API),
                       os.environ.get("IAMSTATE_BOT_LOGIN", BOT))
        except KeyError as missing:
            raise GitHubError(f"{missing.args[0]} is not set: run this in GitHub Actions "
                              "with permissions for pull requests and issues") from None

    @staticmethod
    def web_identity_token() -> str | None:
        return github_oidc_token()

    # -- the run -----------------------------------------------------------------------

    def change_request(self, given: int | None) -> int:
        """The PR of this run: given, the pull_request event's, or a merge queue's (its
        branch is `gh-readonly-queue/<base>/pr-<N>-<sha>`)."""
        if given is not None:
            return given
        data = event()
        number = (data.get("pull_request") or {}).get("number")
        if number:
            return int(number)
        queued = QUEUE_REF.search((data.get("merge_group") or {}).get("head_ref", ""))
        if queued:
            return int(queued[1])
        raise GitHubError("no --pr given and no pull request in GITHUB_EVENT_PATH")

    def head_commit(self) -> str:
        return os.environ.get("GITHUB_SHA", "")

    def follow_up_help(self, number: int) -> str:
        return FOLLOW_UP_HELP.format(number=number)

    def applied_branch(self) -> str:
        """The run's branch (`main` when GitHub does not say); a run for a tag applies
        nothing."""
        name = os.environ.get("GITHUB_REF_NAME", "")
        if (os.environ.get("GITHUB_REF_TYPE") or "branch") != "branch":
            raise GitHubError(f"this run is for the tag {name!r}, not a branch: iamstate "
                              "applies only the default branch")
        return name or "main"

    def last_applied(self) -> str | None:
        """The commit of the newest run of this workflow (apply.yml) on this branch, started
        by a push, that succeeded (GitHub's record of its runs). GitHub ignores a query
        parameter it does not know: what it answers is checked, not trusted to match."""
        workflow_ref = os.environ.get("GITHUB_WORKFLOW_REF", "")
        workflow = workflow_ref.split("@")[0].rsplit("/", 1)[-1] or "apply.yml"
        branch = self.applied_branch()
        runs = self.rest.request("GET", f"/repos/{self.repository}/actions/workflows/"
                                        f"{workflow}/runs?branch={quote(branch)}&event=push"
                                        "&status=success&per_page=1")
        found = [r for r in (runs or {}).get("workflow_runs") or ()
                 if (r.get("head_branch"), r.get("event"), r.get("conclusion")) == (
                     branch, "push", "success") and r.get("head_sha")]
        return str(found[0]["head_sha"]) if found else None

    # -- comments ----------------------------------------------------------------------

    def notes(self, number: int) -> list[Note]:
        return [Note(int(c["id"]), c.get("body") or "", self._by_bot(c), when(c["created_at"]),
                     when(c["updated_at"]))
                for c in self.rest.paged(f"/repos/{self.repository}/issues/{number}/comments")]

    def _by_bot(self, item: Mapping[str, Any]) -> bool:
        return bool((item.get("user") or {}).get("login") == self.bot)

    def create_note(self, number: int, body: str) -> None:
        self.rest.request("POST", f"/repos/{self.repository}/issues/{number}/comments",
                          {"body": body})

    def update_note(self, number: int, note: Note, body: str) -> None:
        self.rest.request("PATCH", f"/repos/{self.repository}/issues/comments/{note.id}",
                          {"body": body})

    # -- pull requests and commits -----------------------------------------------------

    def change(self, number: int) -> ChangeRequest:
        pull = self.rest.request("GET", f"/repos/{self.repository}/pulls/{number}")
        merged = bool(pull.get("merged")) and bool(pull.get("merge_commit_sha"))
        return ChangeRequest(number, when(pull["merged_at"]) if merged else None,
                             frozenset({pull["merge_commit_sha"]} if merged else ()),
                             str((pull.get("base") or {}).get("ref") or ""))

    def changes_of_commit(self, commit: str) -> list[ChangeRequest]:
        """GitHub lists every PR that holds a commit, a page at a time (every page is read):
        each is read for its merge."""
        pulls = self.rest.paged(f"/repos/{self.repository}/commits/{commit}/pulls")
        return [self.change(n) for n in sorted({int(p["number"]) for p in pulls})]

    def _compare(self, base: str, head: str) -> Any:
        return self.rest.request("GET", f"/repos/{self.repository}/compare/{base}...{head}")

    def follows(self, base: str, head: str) -> bool:
        try:
            compared = self._compare(base, head)
        except HostError:
            return False
        return bool(compared) and compared.get("status") in ("ahead", "identical")

    def commits_between(self, base: str, head: str) -> list[str]:
        """Every commit of the comparison, page after page (GitHub pages its commits, and
        says how many there are in all: one left out would leave its merge's review out)."""
        commits: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            compared = self.rest.request("GET", f"/repos/{self.repository}/compare/"
                                                f"{base}...{head}?per_page={PAGE}&page={page}")
            batch = [str(c["sha"]) for c in (compared or {}).get("commits") or ()]
            commits += batch
            total = int((compared or {}).get("total_commits", len(commits)))
            if len(commits) >= total or not batch:
                if len(commits) != total:
                    raise GitHubError(f"GitHub compares {base}...{head} as {total} commits "
                                      f"but lists {len(commits)}: cannot tell which merges "
                                      "were not applied yet; nothing is applied")
                return commits
        raise GitHubError(f"more than {MAX_PAGES * PAGE} commits from {base} to {head}: "
                          "cannot tell which merges were not applied yet; nothing is applied")

    # -- issues ------------------------------------------------------------------------

    def bot_issues(self) -> list[Issue]:
        return [Issue(int(i["number"]), i.get("body") or "")
                for i in self.rest.paged(f"/repos/{self.repository}/issues?state=open")
                if self._by_bot(i) and "pull_request" not in i]

    def create_issue(self, title: str, body: str) -> int:
        created = self.rest.request("POST", f"/repos/{self.repository}/issues",
                                    {"title": title, "body": body})
        return int(created["number"])

    def update_issue(self, number: int, title: str, body: str) -> None:
        self.rest.request("PATCH", f"/repos/{self.repository}/issues/{number}",
                          {"body": body, "title": title})


def event() -> dict[str, Any]:
    """The GitHub event that started the run (GITHUB_EVENT_PATH), or {}."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return data
    return {}


def github_oidc_token() -> str | None:
    """In a GitHub Actions job with `id-token: write`, a token GitHub signs for AWS STS
    (audience sts.amazonaws.com): each account's role is assumed with it directly, so one
    job can plan a batch of accounts, each in its own role, and no key is stored anywhere.
    None outside such a job."""
    url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
    bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not (url and bearer):
        return None
    now = time.monotonic()
    with _TOKEN_LOCK:
        cached = _TOKEN.get("value")
        if cached and now - float(_TOKEN["at"]) < TOKEN_REUSE_SECONDS:
            return str(cached)
        separator = "&" if "?" in url else "?"
        request = urllib.request.Request(f"{url}{separator}audience={AUDIENCE}",
                                         headers={"Authorization": f"bearer {bearer}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                value = str(json.loads(answer.read())["value"])
        except (OSError, ValueError, KeyError) as error:
            raise AwsError(f"cannot get GitHub's OIDC token for AWS: {error}") from None
        _TOKEN.update({"value": value, "at": now})
        return value
