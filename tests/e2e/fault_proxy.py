"""A forwarding proxy between the CLI and a moto server that answers chosen IAM actions
with an error instead, so a fault can be injected into the installed CLI (the process under
test has no hook for it). It runs in the test process: it is plain HTTP, not moto."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# (action, its parameters) -> (HTTP status, error code) to answer, or None to forward
Rule = Callable[[str, dict[str, str]], tuple[int, str] | None]


@dataclass
class Faults:
    rule: Rule = lambda action, params: None
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)


@contextmanager
def fault_proxy(target: str) -> Iterator[tuple[str, Faults]]:
    parsed = urlparse(target)
    faults = Faults()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            action = params.get("Action", "")
            with lock:
                faults.seen.append((action, params))
                answer = faults.rule(action, params)
            if answer is not None:
                status, code = answer
                with lock:
                    faults.injected.append(action)
                self._send(status, {"Content-Type": "text/xml"}, (
                    f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>"
                    f"injected {code}</Message></Error><RequestId>1</RequestId>"
                    "</ErrorResponse>").encode())
                return
            conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port,
                                              timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            conn.request("POST", self.path, body=body, headers=headers)
            response = conn.getresponse()
            self._send(response.status, dict(response.getheaders()), response.read())
            conn.close()

        def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", faults
    finally:
        server.shutdown()
        server.server_close()
