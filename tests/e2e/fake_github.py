"""A local fake of the GitHub REST endpoints iamstate calls (comments, PRs of a commit,
issues), in memory, on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TOKEN = "ghs_test_token"
BOT = "github-actions[bot]"


@dataclass
class FakeGitHub:
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)
    pulls_of_commit: dict[str, list[int]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    next_id: int = 1000
    url: str = ""

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: Any) -> tuple[int, Any]:
        self.calls.append(f"{method} {path}")
        repo = r"/repos/acme/iam"
        if m := re.fullmatch(repo + r"/issues/(\d+)/comments", path):
            thread = self.comments.setdefault(int(m[1]), [])
            if method == "GET":
                page, size = int(query.get("page", ["1"])[0]), int(query["per_page"][0])
                return 200, thread[(page - 1) * size: page * size]
            self.next_id += 1
            thread.append({"id": self.next_id, "body": body["body"],
                           "user": {"login": BOT}})  # what the workflow's token posts as
            return 201, thread[-1]
        if m := re.fullmatch(repo + r"/issues/comments/(\d+)", path):
            for thread in self.comments.values():
                for comment in thread:
                    if comment["id"] == int(m[1]):
                        comment["body"] = body["body"]
                        return 200, comment
            return 404, {"message": "Not Found"}
        if m := re.fullmatch(repo + r"/commits/([\w-]+)/pulls", path):
            return 200, [{"number": n} for n in self.pulls_of_commit.get(m[1], [])]
        if path == repo + "/issues":
            if method == "GET":
                page = int(query.get("page", ["1"])[0])
                return 200, self.issues if page == 1 else []
            self.next_id += 1
            self.issues.append({"number": self.next_id, **body})
            return 201, self.issues[-1]
        if m := re.fullmatch(repo + r"/issues/(\d+)", path):
            issue = next(i for i in self.issues if i["number"] == int(m[1]))
            issue.update(body)
            return 200, issue
        return 404, {"message": "Not Found"}


@contextmanager
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._reply(401, {"message": "Bad credentials"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            url = urlparse(self.path)
            self._reply(*fake.handle(self.command, url.path, parse_qs(url.query), body))

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
