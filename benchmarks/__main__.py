"""All benchmarks, one command: `python -m benchmarks` (about 15 minutes on 2 cores).

Prints numbers, asserts nothing: read (500 / 1,000 / 2,000 / 5,000 users) then apply
(1,000 users through a 50 ms proxy, 16 workers vs 1)."""

from __future__ import annotations

import sys

from benchmarks import apply, read

if __name__ == "__main__":
    sys.argv = [sys.argv[0]]
    read.main()
    apply.main()
