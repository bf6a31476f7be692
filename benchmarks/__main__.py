"""All benchmarks, one command: `python -m benchmarks` (about 25 minutes on 2 cores).

Prints numbers, asserts nothing: validate (example, 1,000, 5,000 users), read (500 to 5,000
users vs a per-user reader), plan vs the read floor (1,000 and 5,000 users), consequences
(5,000 users, 300 groups), apply (1,000 users through a 50 ms proxy, 16 workers vs 1; 400
users through a 200 ms proxy against the ideal)."""

from __future__ import annotations

import sys

from benchmarks import apply, consequences_plan, plan, read, validate

if __name__ == "__main__":
    sys.argv = [sys.argv[0]]
    for benchmark in (validate, read, plan, consequences_plan, apply):
        benchmark.main()
