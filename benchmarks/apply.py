"""Apply benchmarks, N new users (each with its common and category memberships):

- speed-up: through a proxy adding 50 ms per call, serial (--workers 1) vs concurrent;
- throughput: 400 users, 16 workers, through a proxy adding 200 ms per call and through one
  adding none; the time the delay adds (the difference) against the ideal
  `calls x 200 ms / 16` (every worker always busy).

    python -m benchmarks.apply [USERS] [WORKERS]      (default: 1000 16; then throughput)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from benchmarks.common import ROOT, env_for, moto_server, write_repository
from benchmarks.latency_proxy import make_handler
from iamstate.aws.sandbox import free_port, wait_until_up

DELAY = 0.05


def timed_apply(users: int, workers: int) -> tuple[float, int]:
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proxy = subprocess.Popen([sys.executable, "-m", "benchmarks.latency_proxy", str(port),
                                  endpoint, str(DELAY)], cwd=ROOT)
        proxied = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(port)
            repo = write_repository(Path(tmp), users, groups=3)
            exe = Path(sys.executable).parent / "iamstate"
            start = time.perf_counter()
            done = subprocess.run([str(exe), "--repo", str(repo), "apply", "--auto-approve",
                                   "--workers", str(workers)],
                                  env=env_for(proxied), capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            changes = int(done.stdout.rsplit("Apply complete: ", 1)[1].split()[0])
            return seconds, changes
        finally:
            proxy.terminate()


def counted_apply(users: int, workers: int, delay: float) -> tuple[float, int]:
    """(seconds, IAM/STS calls) of one `iamstate apply` through an in-process proxy."""
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
        calls = [0]
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(endpoint, delay, calls))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            repo = write_repository(Path(tmp), users, groups=3)
            exe = Path(sys.executable).parent / "iamstate"
            start = time.perf_counter()
            done = subprocess.run([str(exe), "--repo", str(repo), "apply", "--auto-approve",
                                   "--workers", str(workers)],
                                  env=env_for(f"http://127.0.0.1:{server.server_address[1]}"),
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            return seconds, calls[0]
        finally:
            server.shutdown()


def throughput(users: int = 400, workers: int = 16, delay: float = 0.2) -> None:
    slow, calls = counted_apply(users, workers, delay)
    fast, _ = counted_apply(users, workers, 0.0)
    ideal = calls * delay / workers
    print(f"{users} users, {workers} workers, {calls:,} calls: {delay * 1000:.0f} ms proxy "
          f"{slow:.1f} s, no delay {fast:.1f} s; the delay added {slow - fast:.1f} s, ideal "
          f"{ideal:.1f} s: {(slow - fast) / ideal:.2f}x the ideal", flush=True)


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 16
    concurrent, changes = timed_apply(users, workers)
    print(f"{users} users, {changes} changes, {DELAY * 1000:.0f} ms per call: "
          f"--workers {workers}: {concurrent:.1f} s", flush=True)
    serial, _ = timed_apply(users, 1)
    print(f"--workers 1: {serial:.1f} s; ratio serial/concurrent: {serial / concurrent:.1f}x",
          flush=True)
    throughput()


if __name__ == "__main__":
    main()
