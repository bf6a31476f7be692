"""An Organization of 1,000 accounts: `python -m benchmarks.organization [ACCOUNTS]`.

One moto server holds every account (moto's multi-account: each account is reached by
assuming a role in it); the repository declares each account with its own plan role, and a
change to the one shared policy touches all of them, as a pull request editing policies/
would. As the pull-request workflow does: `iamstate ci accounts --batches 20`, then one
`iamstate plan --account "<batch>"` process per batch (CI runs them as parallel jobs; here
one after the other), each account's plan role assumed with a GitHub OIDC token (a local
stand-in for the token endpoint), every call counted by a proxy in front of the server.
Then the one PR comment over every batch's plan file. Per batch: wall time, calls per
account, peak memory of the job's process. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3

from benchmarks.common import CREDENTIALS, moto_server
from benchmarks.latency_proxy import make_handler

ACCOUNTS = 1_000
BATCHES = 20
GITHUB_COMMENT_LIMIT = 65_536
SHARED: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}


def account_id(i: int) -> str:
    return f"{200000000000 + i}"


def write_organization(root: Path, count: int) -> None:
    """`count` accounts with their plan and apply roles, sharing one policy, which the
    pull request changes (so every account has one change)."""
    changed = {**SHARED, "Statement": [{**SHARED["Statement"][0],
                                        "Action": ["s3:GetObject", "s3:ListBucket"]}]}
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "shared.json").write_text(json.dumps(changed))
    for i in range(count):
        folder = root / "accounts" / f"team-{i:04d}"
        folder.mkdir(parents=True)
        (folder / "account.yaml").write_text(
            f'account_id: "{account_id(i)}"\n'
            f"plan_role_arn: arn:aws:iam::{account_id(i)}:role/iamstate-plan\n"
            f"apply_role_arn: arn:aws:iam::{account_id(i)}:role/iamstate-apply\n"
            "common_groups: [AllUsers]\n")
        (folder / "iam.yaml").write_text(
            "groups:\n  AllUsers: {inline_policies: {Shared: shared}}\n"
            f"users:\n  svc-{i:04d}: {{}}\n")


def seed(endpoint: str, count: int) -> None:
    """Every account live as main declares it, each in its own account id."""
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="bench", aws_secret_access_key="bench")

    def one(i: int) -> None:
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id(i)}:role/seed",
                                RoleSessionName="seed")["Credentials"]
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
        iam.create_group(GroupName="AllUsers")
        iam.put_group_policy(GroupName="AllUsers", PolicyName="Shared",
                             PolicyDocument=json.dumps(SHARED))
        iam.create_user(UserName=f"svc-{i:04d}")
        iam.add_user_to_group(UserName=f"svc-{i:04d}", GroupName="AllUsers")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


@contextmanager
def oidc_token_endpoint() -> Iterator[dict[str, str]]:
    """What a job with `id-token: write` sees: the environment to fetch GitHub's token."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            data = json.dumps({"value": "eyJ.oidc.token"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield {"ACTIONS_ID_TOKEN_REQUEST_URL":
               f"http://127.0.0.1:{server.server_address[1]}/token?x=1",
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token"}
    finally:
        server.shutdown()


@contextmanager
def counting_proxy(target: str) -> Iterator[tuple[str, list[int]]]:
    calls = [0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(target, 0.0, calls))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, peak resident MB, stdout) of one iamstate process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 2):
        raise RuntimeError(f"{command[3:6]} exited {process.returncode}: {out[-2000:]}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else ACCOUNTS
    iamstate = [sys.executable, "-m", "iamstate", "--repo"]
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as tmp, \
            oidc_token_endpoint() as oidc, counting_proxy(endpoint) as (url, calls):
        repo = Path(tmp)
        write_organization(repo, count)
        started = time.perf_counter()
        seed(endpoint, count)
        print(f"seeded {count:,} accounts in {time.perf_counter() - started:.0f} s",
              flush=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({**CREDENTIALS, **oidc, "AWS_ENDPOINT_URL": url, "NO_COLOR": "1"})
        wall, peak, out = run([*iamstate, tmp, "ci", "accounts", "--batches", str(BATCHES)],
                              env, repo)
        matrix = json.loads(out)
        print(f"ci accounts --batches {BATCHES}: {len(matrix)} jobs in {wall:.2f} s, "
              f"{peak:.0f} MB", flush=True)
        rows = []
        for job in matrix:
            names = job["accounts"].split()
            before = calls[0]
            wall, peak, _ = run([*iamstate, tmp, "plan", "--account", job["accounts"],
                                 "--out", f"plan-{job['batch']}.json"], env, repo)
            rows.append((len(names), wall, (calls[0] - before) / len(names), peak))
            print(f"  batch {job['batch']:2d}: {len(names)} accounts, {wall:6.2f} s, "
                  f"{rows[-1][2]:.1f} calls per account, {peak:.0f} MB", flush=True)
        walls, per_account, peaks = ([r[i] for r in rows] for i in (1, 2, 3))
        print(f"per batch of {rows[0][0]}: wall median {statistics.median(walls):.2f} s "
              f"(max {max(walls):.2f} s), {statistics.mean(per_account):.1f} calls per "
              f"account, peak memory median {statistics.median(peaks):.0f} MB "
              f"(max {max(peaks):.0f} MB); all batches one after the other "
              f"{sum(walls):.0f} s", flush=True)
        files = [str(repo / f"plan-{job['batch']}.json") for job in matrix]
        print(comment_size(files), flush=True)


def comment_size(files: list[str]) -> str:
    """The one PR comment over every batch's plan file, as `ci comment` renders it."""
    from iamstate.hosts import ci, comment
    started = time.perf_counter()
    plans = ci.read_plans([Path(f) for f in files])
    body = ci.comment_body(plans)
    within = "within" if len(body) < GITHUB_COMMENT_LIMIT else "OVER"
    saved = Path(tempfile.gettempdir()) / "iamstate-organization-comment.md"
    saved.write_text(body, encoding="utf-8")
    sections = len(comment.sections_of(body))
    return (f"the PR comment (saved in {saved}): {len(plans):,} accounts in {sections} "
            f"section(s), {len(body):,} characters ({within} "
            f"GitHub's {GITHUB_COMMENT_LIMIT:,}), rendered in "
            f"{time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
