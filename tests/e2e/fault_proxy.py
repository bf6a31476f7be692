"""A forwarding proxy between the CLI and a moto server that answers chosen IAM actions
with an error instead, so a fault can be injected into the installed CLI (the process under
test has no hook for it). It runs in the test process: it is plain HTTP, not moto. The
forwarding is the benchmarks' latency proxy, with no delay."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs

from benchmarks.latency_proxy import make_handler

# (action, its parameters) -> (HTTP status, error code) to answer, or None to forward
Rule = Callable[[str, dict[str, str]], tuple[int, str] | None]


@dataclass
class Faults:
    rule: Rule = lambda action, params: None
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    injected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def intercept(self, body: bytes) -> tuple[int, bytes] | None:
        params = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action = params.get("Action", "")
        with self.lock:
            self.seen.append((action, params))
            answer = self.rule(action, params)
            if answer is None:
                return None
            self.injected.append(action)
        status, code = answer
        return status, (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                        f"<Message>injected {code}</Message></Error><RequestId>1</RequestId>"
                        "</ErrorResponse>").encode()


@contextmanager
def fault_proxy(target: str) -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 make_handler(target, 0.0, intercept=faults.intercept))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", faults
    finally:
        server.shutdown()
        server.server_close()
