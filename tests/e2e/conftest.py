"""A real moto server on 127.0.0.1, in its own process, and the installed CLI against it."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from iamstate.aws.sandbox import free_port
from tests.e2e.fake_github import TOKEN, FakeGitHub, fake_github
from tests.helpers import ROOT, copy_example, snapshot

BIN = Path(sys.executable).parent


@contextmanager
def serving(module: str, what: str) -> Iterator[str]:
    """`python -m MODULE -H 127.0.0.1 -p PORT` in its own process, as a user would start a
    server: its URL once it answers, and it is stopped afterwards."""
    port = free_port()
    command = [sys.executable, "-m", module, "-H", "127.0.0.1", "-p", str(port)]
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # busy with a large state: no need to be polite
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    # moto's own server (moto.server.main), with its managed policies built from JSON
    # parsed once (tests/moto_speed.py): every test's /moto-api/reset rebuilds them
    with serving("tests.moto_speed", "moto_server") as url:
        yield url


@pytest.fixture
def endpoint(moto_server: str) -> str:
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    return moto_server


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@dataclass
class Cli:
    repo: Path
    env: dict[str, str]
    iam: Any
    sts: Any = None

    def command(self, *args: str) -> list[str]:
        """The installed CLI on this repository (the module if no script is installed)."""
        exe = shutil.which("iamstate", path=str(BIN))
        return [*([exe] if exe else [sys.executable, "-m", "iamstate"]),
                "--repo", str(self.repo), *args]

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        done = subprocess.run(self.command(*args), env=self.env,
                              capture_output=True, text=True, timeout=300, input=stdin,
                              cwd=self.repo)
        return Result(done.returncode, done.stdout, done.stderr)

    def snapshot(self) -> str:
        return snapshot(self.iam)


def cli_on(endpoint: str, tmp_path: Path) -> Cli:
    """The CLI on a copy of the example repository, its AWS calls sent to `endpoint` (and
    the test's own IAM and STS clients beside it)."""
    repo = copy_example(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                "NO_COLOR": "1", "COLUMNS": "200"})
    iam, sts = (boto3.client(name, endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id="testing", aws_secret_access_key="testing")
                for name in ("iam", "sts"))
    return Cli(repo, env, iam, sts)


@pytest.fixture
def cli(endpoint: str, tmp_path: Path) -> Cli:
    return cli_on(endpoint, tmp_path)


Factory = Callable[..., Cli]


@pytest.fixture
def github(cli: Cli) -> Iterator[FakeGitHub]:
    """A local fake of the GitHub API the `ci` commands talk to, as GitHub Actions sets it."""
    with fake_github() as fake:
        cli.env.update({"GITHUB_API_URL": fake.url, "GITHUB_TOKEN": TOKEN,
                        "GITHUB_REPOSITORY": "acme/iam", "GITHUB_REF_NAME": "main",
                        "GITHUB_REF_TYPE": "branch"})
        yield fake


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[str]:
    """`python -m iamstate.aws.sandbox_server`, as `iamstate sandbox start` runs it (one
    per worker: every test resets it, as `sandbox` does)."""
    with serving("iamstate.aws.sandbox_server", "the sandbox server") as url:
        yield url


def _post(url: str, data: bytes = b"") -> None:
    urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"),
                           timeout=10).close()


def set_clock(server: str, when: datetime.datetime | None) -> None:
    _post(f"{server}/iamstate-sandbox/clock",
          json.dumps({"now": when.isoformat() if when else None}).encode())


@pytest.fixture
def sandbox(sandbox_server: str, tmp_path: Path) -> Iterator[Cli]:
    _post(f"{sandbox_server}/moto-api/reset")
    set_clock(sandbox_server, None)
    yield cli_on(sandbox_server, tmp_path)
    set_clock(sandbox_server, None)
