"""Plan benchmark: `iamstate plan` of an account already in sync vs the read floor
(benchmarks/read_floor.py), each as a whole process, alternately, against the same moto
server in one run.

    python -m benchmarks.plan [USERS ...] [--runs N]      (default: 1000 5000, 5 runs)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, env_for, moto_server, seed_account, write_repository

GROUPS = 300


def timed(command: list[str], endpoint: str) -> tuple[float, float]:
    """(wall seconds, peak MB) of one process: its own ru_maxrss, from os.wait4."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env_for(endpoint), cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{command} failed: {errors.read()[-2000:].decode()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    args = sys.argv[1:]
    runs = 5
    if "--runs" in args:
        runs = int(args[args.index("--runs") + 1])
        del args[args.index("--runs"):args.index("--runs") + 2]
    sizes = [int(a) for a in args] or [1000, 5000]
    exe = str(Path(sys.executable).parent / "iamstate")
    print(f"{'users':>6} | {'plan s':>7} {'floor s':>7} {'ratio':>6} {'plan MB':>8}   "
          f"(medians of {runs} alternating runs, whole processes)")
    for users in sizes:
        with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
            seed_account(endpoint, users, GROUPS)
            repo = write_repository(Path(tmp), users, GROUPS)
            plan = [exe, "--repo", str(repo), "plan", "--detailed-exitcode",
                    "--out", str(Path(tmp) / "plan.json")]
            floor = [sys.executable, "-m", "benchmarks.read_floor"]
            timed(plan, endpoint)  # warm-up: bytecode, moto's first answers
            ours, theirs, ratios, peaks = [], [], [], []
            for _ in range(runs):
                (a, peak), (b, _) = timed(plan, endpoint), timed(floor, endpoint)
                ours.append(a)
                theirs.append(b)
                ratios.append(a / b)
                peaks.append(peak)
            print(f"{users:>6} | {statistics.median(ours):>7.2f} "
                  f"{statistics.median(theirs):>7.2f} {statistics.median(ratios):>5.2f}x "
                  f"{max(peaks):>8.0f}", flush=True)


if __name__ == "__main__":
    main()
