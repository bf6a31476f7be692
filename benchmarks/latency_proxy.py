"""A forwarding HTTP proxy that adds a fixed delay per request: a stand-in for the round
trip to AWS's IAM endpoint when benchmarking against a local moto server.

    python -m benchmarks.latency_proxy LISTEN_PORT TARGET_URL DELAY_SECONDS
"""

from __future__ import annotations

import http.client
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

# What to answer instead of forwarding: (HTTP status, body) or None to forward.
Intercept = Callable[[bytes], tuple[int, bytes] | None]


def make_handler(target: str, delay: float, calls: list[int] | None = None,
                 intercept: Intercept | None = None) -> type[BaseHTTPRequestHandler]:
    """A handler forwarding to `target` after `delay` seconds; `calls[0]` counts requests;
    `intercept` may answer a request itself (the tests' fault injection)."""
    parsed = urlparse(target)
    local = threading.local()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self._forward()

        def do_GET(self) -> None:
            self._forward()

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if calls is not None:
                with lock:
                    calls[0] += 1
            answer = intercept(body) if intercept is not None else None
            if answer is not None:
                self._reply(answer[0], {"Content-Type": "text/xml"}, answer[1])
                return
            time.sleep(delay)
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port,
                                                        timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            local.conn.request(self.command, self.path, body=body, headers=headers)
            response = local.conn.getresponse()
            self._reply(response.status, dict(response.getheaders()), response.read())

        def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    port, target, delay = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(target, delay))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
