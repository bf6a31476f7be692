"""Faults survived, nothing lost: throttling, eventual consistency, a failing call, a killed
process and two applies at once, against a moto server (faults are injected with botocore
`before-send` hooks: in-process moto could apply a call before the injected error)."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries import adaptive, bucket
from botocore.retries.standard import ExponentialBackoff

from iamstate.aws.client import RetryPolicy
from iamstate.aws.live import read_live
from iamstate.aws.session import Connection, connect
from iamstate.errors import ApplyFailed
from iamstate.model.account import Account
from iamstate.model.changes import Change
from iamstate.outputs.report import report_lines
from iamstate.plan.planner import plan_changes
from iamstate.repository.loader import load_repository
from tests.e2e.conftest import Cli
from tests.helpers import apply_changes

FAST = RetryPolicy(seconds=10, first_delay=0.01, max_delay=0.1)


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Any:
        yield self.data


def error_response(request: Any, status: int, code: str) -> AWSResponse:
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>injected {code}</Message></Error><RequestId>1</RequestId>"
            "</ErrorResponse>").encode()
    return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Body(body))


def action_of(request: Any) -> str:
    body = request.body.decode() if isinstance(request.body, bytes) else str(request.body)
    return dict(part.split("=", 1) for part in body.split("&") if "=" in part).get(
        "Action", "")


@pytest.fixture
def account_and_conn(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> tuple[Account, Connection]:
    for key, value in cli.env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    [account] = load_repository(cli.repo)
    return account, connect(account.config)


def left(conn: Connection, account: Account) -> list[Change]:
    return plan_changes(account.config, account.desired,
                        read_live(conn, account.config, account.desired))


def apply_all(conn: Connection, account: Account, out: Path, **kwargs: Any) -> list[Change]:
    changes = left(conn, account)
    apply_changes(conn, account.config, changes, out, **kwargs)
    return changes


def inject(conn: Connection, hook: Callable[..., Any]) -> None:
    conn.iam.meta.events.register_first("before-send.iam", hook)


class _QuickBucket(bucket.TokenBucket):  # type: ignore[misc]  # botocore is untyped
    """botocore's adaptive token bucket with a floor of 20 requests a second (botocore's
    is 0.5): the client still slows down when throttled, for a test, not for minutes."""

    def __init__(self, max_rate: float, clock: Any, min_rate: float = 20.0) -> None:
        super().__init__(max_rate, clock, min_rate=min_rate)


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's retry waits, shortened for clients made from here on: a throttled call
    waits rand * 0.02 s * 2^attempt (botocore: 1 s), and the rate limiter stays above 20
    calls a second. Every retry still happens, in the same order; only the sleeps shrink."""
    monkeypatch.setattr(ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG",
                        {**ExponentialBackoff._DEFAULT_BACKOFF_CONFIG,
                         "throttling_base_scale": 0.02})
    monkeypatch.setattr(adaptive.bucket, "TokenBucket", _QuickBucket)


def test_thirty_percent_throttling_still_converges(
    cli: Cli, quick_backoff: None, account_and_conn: tuple[Account, Connection]
) -> None:
    account, conn = account_and_conn
    rng = random.Random(7)
    throttled = []

    def throttle(request: Any, **_: Any) -> AWSResponse | None:
        if rng.random() < 0.3:
            throttled.append(action_of(request))
            return error_response(request, 400, "Throttling")
        return None

    inject(conn, throttle)
    apply_all(conn, account, cli.repo, workers=4, retry=FAST)
    assert len(throttled) > 10  # botocore's adaptive retries absorbed every one
    conn.iam.meta.events.unregister("before-send.iam", throttle)
    assert left(conn, account) == []


def test_no_such_entity_right_after_create_is_retried_against_a_server(
    cli: Cli, account_and_conn: tuple[Account, Connection]
) -> None:
    account, conn = account_and_conn
    lagging: list[str] = []

    def not_yet_visible(request: Any, **_: Any) -> AWSResponse | None:
        if action_of(request) == "AddUserToGroup" and len(lagging) < 3:
            lagging.append("AddUserToGroup")
            return error_response(request, 404, "NoSuchEntity")
        return None

    inject(conn, not_yet_visible)
    apply_all(conn, account, cli.repo, workers=1, retry=FAST)
    assert len(lagging) == 3
    assert left(conn, account) == []


def test_a_service_failure_stops_reports_and_replanning_converges(
    cli: Cli, account_and_conn: tuple[Account, Connection]
) -> None:
    account, conn = account_and_conn

    def fail_groups(request: Any, **_: Any) -> AWSResponse | None:
        if action_of(request) == "PutGroupPolicy":
            return error_response(request, 500, "ServiceFailure")
        return None

    inject(conn, fail_groups)
    total = len(left(conn, account))
    with pytest.raises(ApplyFailed) as caught:
        apply_all(conn, account, cli.repo, workers=1, retry=FAST)
    report = "\n".join(report_lines(caught.value.report))
    assert "Failed (1):" in report and "ServiceFailure" in report
    assert "Done (" in report and "Not done (" in report
    conn.iam.meta.events.unregister("before-send.iam", fail_groups)
    rest = left(conn, account)
    assert 0 < len(rest) < total
    apply_all(conn, account, cli.repo, retry=FAST)
    assert left(conn, account) == []


def _many_users(cli: Cli, count: int) -> None:
    lines = ["users:"] + [f"  HeadlessUser-{i:04d}: {{tags: {{n: '{i}'}}}}" for i in range(count)]
    (cli.repo / "accounts/sandbox/many.yaml").write_text("\n".join(lines) + "\n")


def _kill_when(cli: Cli, condition: Callable[[], bool], *args: str) -> int:
    """Run the CLI and SIGKILL it as soon as `condition` holds (polled), mid-apply."""
    process = subprocess.Popen(cli.command(*args), env=cli.env,
                               cwd=cli.repo, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if condition():
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    return process.wait()


def _users(cli: Cli) -> set[str]:
    return {u["UserName"] for page in cli.iam.get_paginator("list_users").paginate()
            for u in page["Users"]}


def _count(result_out: str) -> int:
    line = [x for x in result_out.splitlines() if x.startswith("Plan: ")][-1]
    words = line.replace(",", "").split()
    return int(words[1]) + int(words[4]) + int(words[7])


def test_a_killed_apply_leaves_exactly_the_rest_planned(cli: Cli) -> None:
    _many_users(cli, 150)
    full = _count(cli("plan").out)
    code = _kill_when(cli, lambda: len(_users(cli)) >= 40,
                      "apply", "--auto-approve", "--workers", "1")
    assert code == -signal.SIGKILL
    rest = _count(cli("plan").out)
    assert 0 < rest < full, (rest, full)
    assert cli("apply", "--auto-approve").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_killed_teardown_leaves_no_user_unplanned(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    iam = cli.iam
    doomed = [f"stray{i:02d}" for i in range(40)]
    for name in doomed:
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
        iam.create_login_profile(UserName=name, Password="Aa1!aaaaaaaaaaaaaaaaa")
        iam.add_user_to_group(UserName=name, GroupName="Developers")
    code = _kill_when(cli, lambda: len(_users(cli) & set(doomed)) <= 30,
                      "apply", "--auto-approve", "--allow-deletions", "40", "--workers", "1")
    assert code == -signal.SIGKILL
    remaining = _users(cli) & set(doomed)
    assert 0 < len(remaining) < len(doomed), len(remaining)
    plan = cli("plan")
    planned = {line.split()[-1] for line in plan.out.splitlines()
               if line.strip().startswith("- destroy user ")}
    assert planned == remaining  # half torn down or untouched: every one is still planned
    assert cli("apply", "--auto-approve", "--allow-deletions", "40").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0


def test_the_same_plan_applied_twice_is_refused_the_second_time(cli: Cli) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    assert cli("apply", "p.json").code == 0
    before = cli.snapshot()
    second = cli("apply", "p.json")
    assert second.code == 1 and "stale" in second.err
    assert cli.snapshot() == before


def test_two_applies_at_once_do_not_corrupt_each_other(cli: Cli) -> None:
    _many_users(cli, 60)
    assert cli("plan", "--out", "p.json").code == 0
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(cli("apply", "p.json").code))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Both pass the stale check only if they start together; then the slower one meets
    # EntityAlreadyExists and stops. Never both succeed, never a silent overwrite.
    assert sorted(results) in ([0, 1], [1, 1]), results
    # Whatever interleaving happened, nothing is lost or corrupted: a new plan converges.
    assert cli("apply", "--auto-approve").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0
