"""Shared pieces of the benchmarks: a moto server in its own process, bulk seeding, timing."""

from __future__ import annotations

import os
import resource
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from iamstate.aws.sandbox import free_port, server_command, server_environment, wait_until_up

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def moto_server(managed_policies: bool = False) -> Iterator[str]:
    """The sandbox's server; AWS managed policies loaded only when the benchmark uses them."""
    port = free_port()
    env = server_environment() if managed_policies else None
    process = subprocess.Popen(server_command(port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    wait_until_up(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def client(endpoint: str, service: str = "iam") -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench",
                        config=Config(max_pool_connections=16))


def seed_account(endpoint: str, users: int, groups: int) -> None:
    """users in AllUsers + a category + one of `groups` team groups (bulk, threaded)."""
    iam = client(endpoint)
    names = ["AllUsers", "AllHeadlessUsers", *[f"Team{i:03d}" for i in range(groups - 2)]]
    for name in names:
        iam.create_group(GroupName=name)

    def one(i: int) -> None:
        user = f"HeadlessUser-{i:05d}"
        iam.create_user(UserName=user)
        for group in ("AllUsers", "AllHeadlessUsers", names[2 + i % (groups - 2)]):
            iam.add_user_to_group(UserName=user, GroupName=group)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(users)))


def write_repository(target: Path, users: int, groups: int) -> Path:
    """The repository that declares exactly what seed_account creates."""
    account = target / "accounts" / "bench"
    account.mkdir(parents=True, exist_ok=True)
    (account / "account.yaml").write_text(
        f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\n'
        'categories:\n  AllHeadlessUsers: {match: "^HeadlessUser-"}\n')
    lines = ["groups:"] + [f"  Team{i:03d}: {{}}" for i in range(groups - 2)] + ["users:"]
    lines += [f"  HeadlessUser-{i:05d}: {{groups: [Team{i % (groups - 2):03d}]}}"
              for i in range(users)]
    (account / "iam.yaml").write_text("\n".join(lines) + "\n")
    return target


def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def env_for(endpoint: str) -> dict[str, str]:
    return {**os.environ, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
