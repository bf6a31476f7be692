"""One iamstate plan of a repository against an endpoint; prints calls, seconds, peak MB.
Run in its own process so peak memory is iamstate's alone."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from benchmarks.common import peak_rss_mb
from iamstate.aws.session import CallCounter
from iamstate.workflow import plan_all


def main() -> None:
    repo = Path(sys.argv[1])
    counter = CallCounter()
    start = time.perf_counter()
    [planned] = plan_all(repo, counter=counter)
    seconds = time.perf_counter() - start
    print(json.dumps({"calls": counter.total, "seconds": seconds, "peak_mb": peak_rss_mb(),
                      "changes": len(planned.plan.changes), "by_call": counter.calls}))


if __name__ == "__main__":
    main()
