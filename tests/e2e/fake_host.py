"""The HTTP side both fake CI hosts share (tests/e2e/fake_github.py, fake_gitlab.py): a
threaded server on 127.0.0.1 that checks the token, injects queued faults and hands every
request to the fake's `handle` (method, path, query, JSON body) -> (status, payload)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlparse


class Fake(Protocol):
    url: str
    calls: list[str]

    @property
    def faults(self) -> list[Any]: ...

    def receive(self, method: str, path: str, query: dict[str, list[str]],
                body: Any) -> tuple[int, Any]: ...


@contextmanager
def serving(fake: Fake, authorized: Callable[[Message], bool], refusal: str,
            methods: tuple[str, ...]) -> Iterator[None]:
    """Serve `fake` until the block ends; a request without the token gets 401 `refusal`."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _serve(self) -> None:
            if not authorized(self.headers):
                self._reply(401, {"message": refusal})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            url = urlparse(self.path)
            if fake.faults:
                fault = fake.faults.pop(0)
                fake.calls.append(f"{self.command} {url.path} -> {fault.status}")
                self._reply(fault.status, {"message": fault.message}, fault.headers)
                return
            self._reply(*fake.receive(self.command, url.path, parse_qs(url.query), body))

        def _reply(self, status: int, payload: Any,
                   headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

    for method in methods:
        setattr(Handler, f"do_{method}", Handler._serve)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
