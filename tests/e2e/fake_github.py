"""A local fake of the GitHub REST endpoints iamstate calls (comments, pull requests and
the commits they merged, comparisons on the default branch, issues), in memory, on
127.0.0.1. Every comment and issue has its author and its times, as GitHub's have; a test
can queue failures (5xx, primary and secondary rate limits) for the next calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.e2e.fake_host import serving

TOKEN = "ghs_test_token"
BOT = "github-actions[bot]"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@dataclass
class Fault:
    """One failed answer: its status, headers (Retry-After, X-RateLimit-*) and message."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    message: str = "Server Error"


@dataclass
class FakeGitHub:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    pulls_of_commit: dict[str, list[int]] = field(default_factory=dict)
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    main: list[str] = field(default_factory=list)  # the default branch's commits, in order
    runs: list[dict[str, Any]] = field(default_factory=list)  # apply.yml's runs, in order
    faults: list[Fault] = field(default_factory=list)  # answered first, one per call
    calls: list[str] = field(default_factory=list)
    next_id: int = 1000
    clock: int = 0  # seconds since START: every write is a second later than the last
    url: str = ""

    def now(self) -> str:
        self.clock += 1
        return (START + timedelta(seconds=self.clock)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def merge(self, number: int, sha: str, base: str = "main") -> None:
        """PR `number` merged as commit `sha` into `base` (now); a merge into the default
        branch puts `sha` on it, one into another branch does not."""
        self.pulls_of_commit.setdefault(sha, []).append(number)
        self.pulls[number] = {"number": number, "state": "closed", "merged": True,
                              "merge_commit_sha": sha, "merged_at": self.now(),
                              "base": {"ref": base}, "head": {"ref": f"pr-{number}"}}
        if base == "main":
            self.main.append(sha)

    def run(self, head_sha: str, conclusion: str, event: str = "push",
            branch: str = "main") -> None:
        """A run of the apply workflow for `head_sha` ended: success, failure, cancelled.
        `branch` is GitHub's `head_branch`: for a tag push, the tag's name."""
        self.runs.append({"id": len(self.runs) + 1, "head_sha": head_sha, "event": event,
                          "status": "completed", "conclusion": conclusion,
                          "head_branch": branch, "path": ".github/workflows/apply.yml"})

    def open_pull(self, number: int, head: str) -> None:
        """An open PR whose branch holds commit `head` (GitHub lists it for that commit)."""
        self.pulls_of_commit.setdefault(head, []).append(number)
        self.pulls[number] = {"number": number, "state": "open", "merged": False,
                              "merge_commit_sha": None, "merged_at": None,
                              "base": {"ref": "main"}, "head": {"ref": f"pr-{number}"}}

    def post(self, number: int, body: str, login: str = BOT) -> dict[str, Any]:
        """A comment on issue or PR `number`, as `login` wrote it."""
        self.next_id += 1
        stamp = self.now()
        comment = {"id": self.next_id, "body": body, "user": {"login": login},
                   "created_at": stamp, "updated_at": stamp}
        self.comments.setdefault(number, []).append(comment)
        return comment

    def open_issue(self, title: str, body: str, login: str = BOT) -> dict[str, Any]:
        self.next_id += 1
        stamp = self.now()
        issue = {"number": self.next_id, "title": title, "body": body, "state": "open",
                 "user": {"login": login}, "created_at": stamp, "updated_at": stamp}
        self.issues.append(issue)
        return issue

    def receive(self, method: str, path: str, query: dict[str, list[str]],
                body: Any) -> tuple[int, Any]:
        return self.handle(method, path, query, body)

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        repo = r"/repos/acme/iam"
        if m := re.fullmatch(repo + r"/issues/(\d+)/comments", path):
            if method == "GET":
                thread = self.comments.get(int(m[1]), [])
                page, size = int(query.get("page", ["1"])[0]), int(query["per_page"][0])
                return 200, thread[(page - 1) * size: page * size]
            return 201, self.post(int(m[1]), body["body"])  # the workflow's token: the bot
        if m := re.fullmatch(repo + r"/issues/comments/(\d+)", path):
            for thread in self.comments.values():
                for comment in thread:
                    if comment["id"] == int(m[1]):
                        comment["body"] = body["body"]
                        comment["updated_at"] = self.now()
                        return 200, comment
            return 404, {"message": "Not Found"}
        if m := re.fullmatch(repo + r"/commits/([\w-]+)/pulls", path):
            pulls = [{"number": n} for n in self.pulls_of_commit.get(m[1], [])]
            page, size = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
            return 200, pulls[(page - 1) * size: page * size]
        if m := re.fullmatch(repo + r"/pulls/(\d+)", path):
            pull = self.pulls.get(int(m[1]))
            return (200, pull) if pull else (404, {"message": "Not Found"})
        if re.fullmatch(repo + r"/actions/workflows/apply\.yml/runs", path):
            wanted = [r for r in reversed(self.runs)
                      if r["conclusion"] == query.get("status", [r["conclusion"]])[0]
                      and r["event"] == query.get("event", [r["event"]])[0]
                      and r["head_branch"] == query.get("branch", ["main"])[0]]
            return 200, {"total_count": len(wanted),
                         "workflow_runs": wanted[:int(query.get("per_page", ["30"])[0])]}
        if m := re.fullmatch(repo + r"/compare/([\w-]+)\.\.\.([\w-]+)", path):
            return self._compare(m[1], m[2], int(query.get("page", ["1"])[0]),
                                 int(query.get("per_page", ["250"])[0]))
        if path == repo + "/issues":
            if method == "GET":
                page = int(query.get("page", ["1"])[0])
                state = query.get("state", ["open"])[0]
                return 200, [i for i in self.issues if i["state"] == state] \
                    if page == 1 else []
            return 201, self.open_issue(body["title"], body["body"])
        if m := re.fullmatch(repo + r"/issues/(\d+)", path):
            issue = next(i for i in self.issues if i["number"] == int(m[1]))
            issue.update(body)
            issue["updated_at"] = self.now()
            return 200, issue
        return 404, {"message": "Not Found"}

    def _compare(self, base: str, head: str, page: int = 1, size: int = 250
                 ) -> tuple[int, Any]:
        """GitHub's comparison of two commits of the default branch: `ahead` when `head`
        comes after `base`, `behind` before it, `identical` when they are the same; its
        commits a page at a time (at most 250 without paging), `total_commits` all."""
        if base not in self.main or head not in self.main:
            return 404, {"message": "Not Found"}
        order = self.main.index(head) - self.main.index(base)
        status = "identical" if order == 0 else "ahead" if order > 0 else "behind"
        after = self.main[self.main.index(base) + 1: self.main.index(head) + 1]
        shown = after[(page - 1) * size: page * size][:250]
        return 200, {"status": status, "ahead_by": max(order, 0),
                     "behind_by": max(-order, 0), "total_commits": len(after),
                     "commits": [{"sha": c} for c in shown]}


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    with serving(fake, lambda h: h.get("Authorization") == f"Bearer {TOKEN}",
                 "Bad credentials", ("GET", "POST", "PATCH")):
        yield fake
