"""A local fake of the GitLab REST API v4 endpoints iamstate calls (the token's user, merge
request notes, merge requests and the commits they merged, merge bases and comparisons on the
default branch, pipelines, issues), in memory, on 127.0.0.1. Every note and issue has its
author (an id and a username, as GitLab's have) and its times; system notes are there too;
a test can queue failures (5xx, 429 with GitLab's RateLimit-* headers) for the next calls."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.e2e.fake_github import Fault
from tests.e2e.fake_host import serving

TOKEN = "glpat-test-token"
PROJECT_ID = "77"
PROJECT = "acme/platform/iam"
BOT = {"id": 4242, "username": "project_77_bot_iamstate", "name": "iamstate"}
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def person(username: str, user_id: int) -> dict[str, Any]:
    return {"id": user_id, "username": username, "name": username}


@dataclass
class FakeGitLab:
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    mrs_of_commit: dict[str, list[int]] = field(default_factory=dict)
    mrs: dict[int, dict[str, Any]] = field(default_factory=dict)
    main: list[str] = field(default_factory=list)  # the default branch's commits, in order
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)  # answered first, one per call
    calls: list[str] = field(default_factory=list)
    raw_paths: list[str] = field(default_factory=list)  # as sent, still URL-encoded
    next_id: int = 5000
    clock: int = 0  # seconds since START: every write is a second later than the last
    url: str = ""

    @property
    def api(self) -> str:
        return f"{self.url}/api/v4"

    def now(self) -> str:
        self.clock += 1
        return (START + timedelta(seconds=self.clock)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def merge(self, iid: int, sha: str, method: str = "merge", target: str = "main") -> None:
        """MR `iid` merged as `sha` into `target` (now): a merge commit, a squash commit
        (fast-forward, squashed), or its head itself (fast-forward). A merge into the
        default branch puts `sha` on it; one into another branch does not."""
        self.mrs_of_commit.setdefault(sha, []).append(iid)
        mr = self.mrs.setdefault(iid, {"iid": iid, "sha": f"head-{iid}"})
        mr.update({"state": "merged", "merged_at": self.now(), "merge_commit_sha": None,
                   "squash_commit_sha": None, "target_branch": target,
                   "source_branch": f"mr-{iid}"})
        if method == "merge":
            mr["merge_commit_sha"] = sha
        elif method == "squash":
            mr["squash_commit_sha"] = sha
        else:
            mr["sha"] = sha
        if target == "main":
            self.main.append(sha)

    def open_mr(self, iid: int, head: str) -> None:
        """An open MR whose source branch holds commit `head`."""
        self.mrs_of_commit.setdefault(head, []).append(iid)
        self.mrs[iid] = {"iid": iid, "state": "opened", "merged_at": None, "sha": head,
                         "merge_commit_sha": None, "squash_commit_sha": None,
                         "target_branch": "main", "source_branch": f"mr-{iid}"}

    def pipeline(self, sha: str, status: str, source: str = "push", ref: str = "main",
                 tag: bool = False) -> None:
        """A pipeline for `sha` on `ref`: a branch, or (`tag`) a tag, which may be named
        like a branch (GitLab's `ref` is the bare name either way)."""
        self.pipelines.append({"id": len(self.pipelines) + 1, "sha": sha, "ref": ref,
                               "status": status, "source": source, "tag": tag})

    def note(self, iid: int, body: str, author: dict[str, Any] | None = None,
             system: bool = False) -> dict[str, Any]:
        """A note on MR `iid`, as `author` (default: the bot) wrote it."""
        self.next_id += 1
        stamp = self.now()
        note = {"id": self.next_id, "body": body, "author": author or BOT, "system": system,
                "created_at": stamp, "updated_at": stamp, "noteable_iid": iid,
                "noteable_type": "MergeRequest"}
        self.notes.setdefault(iid, []).append(note)
        return note

    def open_issue(self, title: str, body: str,
                   author: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        stamp = self.now()
        issue = {"iid": len(self.issues) + 1, "id": self.next_id, "title": title,
                 "description": body, "state": "opened", "author": author or BOT,
                 "created_at": stamp, "updated_at": stamp}
        self.issues.append(issue)
        return issue

    def receive(self, method: str, path: str, query: dict[str, list[str]],
                body: Any) -> tuple[int, Any]:
        self.raw_paths.append(path)  # as sent, still URL-encoded
        return self.handle(method, unquote(path), query, body)

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        if path == "/api/v4/user":
            return 200, BOT
        project = f"/api/v4/projects/(?:{PROJECT_ID}|{re.escape(PROJECT)})"
        if m := re.fullmatch(project + r"/merge_requests/(\d+)/notes", path):
            if method == "GET":
                assert query.get("sort") == ["asc"], "notes are read oldest first"
                thread = self.notes.get(int(m[1]), [])
                page, size = int(query.get("page", ["1"])[0]), int(query["per_page"][0])
                return 200, thread[(page - 1) * size: page * size]
            return 201, self.note(int(m[1]), body["body"])  # the token's user: the bot
        if m := re.fullmatch(project + r"/merge_requests/(\d+)/notes/(\d+)", path):
            for note in self.notes.get(int(m[1]), []):
                if note["id"] == int(m[2]):
                    note["body"] = body["body"]
                    note["updated_at"] = self.now()
                    return 200, note
            return 404, {"message": "404 Not found"}
        if m := re.fullmatch(project + r"/merge_requests/(\d+)", path):
            mr = self.mrs.get(int(m[1]))
            return (200, mr) if mr else (404, {"message": "404 Not found"})
        if m := re.fullmatch(project + r"/repository/commits/([\w-]+)/merge_requests", path):
            return 200, self._page(query, [self.mrs[i] for i in self.mrs_of_commit.get(m[1], [])])
        if re.fullmatch(project + r"/repository/merge_base", path):
            return self._merge_base(query.get("refs[]", []))
        if re.fullmatch(project + r"/repository/compare", path):
            return self._compare(query["from"][0], query["to"][0])
        if re.fullmatch(project + r"/pipelines", path):
            return 200, self._pipelines(query)
        if m := re.fullmatch(project + r"/pipelines/(\d+)", path):
            found = [p for p in self.pipelines if p["id"] == int(m[1])]
            return (200, {**found[0], "before_sha": "0" * 40}) if found else (
                404, {"message": "404 Not found"})
        if re.fullmatch(project + r"/issues", path):
            if method == "GET":
                page = int(query.get("page", ["1"])[0])
                state = query.get("state", ["opened"])[0]
                author = query.get("author_id", [None])[0]
                return 200, [i for i in self.issues if i["state"] == state and (
                    author is None or str(i["author"]["id"]) == author)] if page == 1 else []
            return 201, self.open_issue(body["title"], body["description"])
        if m := re.fullmatch(project + r"/issues/(\d+)", path):
            issue = next(i for i in self.issues if i["iid"] == int(m[1]))
            issue.update(body)
            issue["updated_at"] = self.now()
            return 200, issue
        return 404, {"message": "404 Not found"}

    @staticmethod
    def _page(query: dict[str, list[str]], items: list[Any]) -> list[Any]:
        page, size = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["20"])[0])
        return items[(page - 1) * size: page * size]

    def _pipelines(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """GitLab's listing (newest first), as its PipelinesFinder filters: `scope` first
        (`branches`: the newest non-tag pipeline of each branch, whatever its status, so a
        running one hides every older one), then ref, status and source. An entry has no
        `tag` field: only a pipeline's own record (`/pipelines/:id`) says it."""
        found = list(reversed(self.pipelines))
        if query.get("scope") == ["branches"]:
            newest: dict[str, dict[str, Any]] = {}
            for p in found:
                if not p["tag"]:
                    newest.setdefault(p["ref"], p)
            found = [p for p in found if newest.get(p["ref"]) is p]
        found = [p for p in found if all(p[k] == query[k][0] for k in ("ref", "status",
                                                                       "source") if k in query)]
        return [{k: v for k, v in p.items() if k != "tag"}
                for p in found[:int(query.get("per_page", ["20"])[0])]]

    def _merge_base(self, refs: list[str]) -> tuple[int, Any]:
        if len(refs) != 2 or not all(r in self.main for r in refs):
            return 404, {"message": "404 Commit Not Found"}
        return 200, {"id": min(refs, key=self.main.index)}

    def _compare(self, base: str, head: str) -> tuple[int, Any]:
        if base not in self.main or head not in self.main:
            return 404, {"message": "404 Not found"}
        after = self.main[self.main.index(base) + 1: self.main.index(head) + 1]
        return 200, {"commits": [{"id": c} for c in after], "diffs": []}


@contextmanager
def fake_gitlab() -> Iterator[FakeGitLab]:
    fake = FakeGitLab()
    with serving(fake, lambda h: h.get("PRIVATE-TOKEN") == TOKEN, "401 Unauthorized",
                 ("GET", "POST", "PUT")):
        yield fake
