"""The audit at scale: `python -m benchmarks.audit_scale`.

The account of benchmarks.consequences_worst (5,000 users, each in the common group, a
category and 3 of 297 teams drawn with seed 7) plus 200 roles with trust and inline
policies, which GAAD returns alongside (an audit reads them; iamstate does not own them).
Whole processes, alternating, median of 3: `iamstate audit` (escalation rules included)
against its read floor, raw boto3 reading GAAD with roles (every page) and the credential
report. Target: ≤ 1.5x the floor. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import consequences_worst as worst
from benchmarks.common import client, env_for, moto_server

ROLES = 200
RUNS = 3
FLOOR = """
import time, boto3
iam = boto3.client("iam", region_name="us-east-1")
boto3.client("sts", region_name="us-east-1").get_caller_identity()
for _ in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group", "Role", "LocalManagedPolicy"],
        PaginationConfig={"PageSize": 1000}):
    pass
while iam.generate_credential_report()["State"] != "COMPLETE":
    time.sleep(0.2)
iam.get_credential_report()
"""


def seed_roles(endpoint: str) -> None:
    iam = client(endpoint)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})

    def one(i: int) -> None:
        iam.create_role(RoleName=f"service-{i:03d}", AssumeRolePolicyDocument=trust)
        iam.put_role_policy(RoleName=f"service-{i:03d}", PolicyName="work",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                {"Effect": "Allow", "Action": ["s3:GetObject", "sqs:*"],
                                 "Resource": "*"}]}))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(ROLES)))


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall s, peak resident MB, exit code) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, process.returncode


def main() -> None:
    teams_of = worst.memberships()
    with moto_server(managed_policies=True) as endpoint, \
            tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        worst.seed(endpoint, teams_of)
        seed_roles(endpoint)
        print(f"seeded {worst.USERS:,} users, 300 groups, {ROLES} roles in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        repo = worst.repository(Path(tmp) / "repo", teams_of, changed="")
        env = env_for(endpoint)
        audit = [sys.executable, "-m", "iamstate", "--repo", str(repo), "audit"]
        floor = [sys.executable, "-c", FLOOR]
        audits, floors = [], []
        for _ in range(RUNS):
            audits.append(timed(audit, env))
            floors.append(timed(floor, env))
        a = statistics.median(t[0] for t in audits)
        f = statistics.median(t[0] for t in floors)
        print(f"audit {a:.2f} s (exit {audits[-1][2]}, peak {max(t[1] for t in audits):.0f} MB)"
              f", read floor {f:.2f} s: {a / f:.2f}x the floor (target ≤ 1.5x)", flush=True)


if __name__ == "__main__":
    main()
