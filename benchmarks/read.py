"""Read benchmark: iamstate plan vs a naive per-user reader, same moto server, same run.

    python -m benchmarks.read [USERS ...]      (default: 500 1000 2000 5000)

For each size: seeds a fresh moto server with USERS users in 300 groups (each user in the
common group, a category and a team), writes the matching repository, then runs each
reader in its own process. Prints API calls, wall seconds, peak memory and the ratios.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, env_for, moto_server, seed_account, write_repository

GROUPS = 300


def run(module: str, arg: str, endpoint: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", module, arg], env=env_for(endpoint),
                          cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [500, 1000, 2000, 5000]
    print(f"{'users':>6} {'entities':>8} {'budget':>6} | {'iamstate calls':>14} {'s':>6} "
          f"{'MB':>5} | {'naive calls':>11} {'s':>6} {'MB':>5} | {'calls x':>7} {'time x':>6}")
    for users in sizes:
        with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            seed_account(endpoint, users, GROUPS)
            seeded = time.perf_counter() - started
            repo = write_repository(Path(tmp), users, GROUPS)
            ours = run("benchmarks.read_iamstate", str(repo), endpoint)
            naive = run("benchmarks.read_naive", endpoint, endpoint)
            assert ours["changes"] == 0, f"expected no changes, got {ours['changes']}"
            entities = users + GROUPS
            budget = 3 * math.ceil(entities / 1000) + 40
            print(f"{users:>6} {entities:>8} {budget:>6} | {ours['calls']:>14.0f} "
                  f"{ours['seconds']:>6.2f} {ours['peak_mb']:>5.0f} | {naive['calls']:>11.0f} "
                  f"{naive['seconds']:>6.2f} {naive['peak_mb']:>5.0f} | "
                  f"{naive['calls'] / ours['calls']:>7.0f} "
                  f"{naive['seconds'] / ours['seconds']:>6.1f}   (seeded in {seeded:.0f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
