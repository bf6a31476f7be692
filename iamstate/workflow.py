"""The steps the commands share: load, connect, read, plan, check a saved plan, apply."""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iamstate.apply import Applier, ApplyReport, RetryPolicy
from iamstate.audit import Finding, audit_account
from iamstate.aws import CallCounter, Connection, connect
from iamstate.errors import IamStateError, PlanFileError, StalePlan
from iamstate.live import credential_report, read_live
from iamstate.model import Account
from iamstate.plan import AccountPlan, Change, plan_account
from iamstate.render import FORMAT_VERSION, plan_document
from iamstate.repo import load_repository

OUT_DIR = Path(".iamstate") / "out"


@dataclass
class Planned:
    account: Account
    conn: Connection
    plan: AccountPlan


def plan_one(account: Account, counter: CallCounter | None = None) -> Planned:
    conn = connect(account.config, counter)
    live = read_live(conn, account.config, account.desired)
    return Planned(account, conn, plan_account(account.config, account.desired, live))


def plan_all(
    repo: Path, only: str | None = None, counter: CallCounter | None = None
) -> list[Planned]:
    """Validate the repository, then read and plan every account (concurrently)."""
    return plan_accounts(load_repository(repo, only), counter)


def plan_accounts(accounts: list[Account], counter: CallCounter | None = None) -> list[Planned]:
    if len(accounts) <= 1:
        return [plan_one(a, counter) for a in accounts]
    with ThreadPoolExecutor(max_workers=min(8, len(accounts))) as pool:
        return list(pool.map(lambda a: plan_one(a, counter), accounts))


def audit_all(
    repo: Path, only: str | None = None, counter: CallCounter | None = None
) -> dict[str, list[Finding]]:
    """The strategy's findings for every account (or `only` one), read concurrently."""
    accounts = load_repository(repo, only)

    def one(account: Account) -> list[Finding]:
        conn = connect(account.config, counter)
        report = credential_report(conn.iam)  # read once: a hint for live, the audit's source
        live = read_live(conn, account.config, account.desired, report=report)
        return audit_account(account.config, live, report, account.desired.password_policy,
                             datetime.datetime.now(datetime.UTC))

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(accounts)))) as pool:
        return dict(zip((a.config.name for a in accounts), pool.map(one, accounts),
                        strict=True))


def touched_accounts(repo: Path, names: list[str], since: str | None) -> list[str]:
    """Accounts a change since `since` touches: its own folder, or any shared policy."""
    if since is None:
        return names
    try:
        changed = subprocess.run(["git", "diff", "--name-only", f"{since}...HEAD", "--",
                                  "accounts", "policies"], cwd=repo, capture_output=True,
                                 text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as error:
        raise IamStateError(f"cannot list the files changed since {since}: {error}") from None
    if any(path.startswith("policies/") for path in changed):
        return names
    return [n for n in names if any(p.startswith(f"accounts/{n}/") for p in changed)]


def write_plan_file(path: Path, plans: list[AccountPlan]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plan_document(plans), indent=2) + "\n", encoding="utf-8")


def read_plan_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such plan file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PlanFileError(f"{path}: not a plan file ({error})") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION or not \
            isinstance(data.get("accounts"), list):
        raise PlanFileError(f"{path}: not an iamstate plan file of format_version "
                            f"{FORMAT_VERSION}: make one with `iamstate plan --out {path}`")
    return data


def check_reviewed(repo: Path, account: str, reviewed_digest: str) -> list[Planned]:
    """Re-plan `account`; refuse unless it is exactly the plan whose digest was reviewed."""
    planned = plan_all(repo, account)
    now = planned[0].plan.digest()
    if now != reviewed_digest:
        raise StalePlan(
            f"account {account}: the plan now ({now[:19]}...) is not the plan reviewed on the "
            f"pull request ({reviewed_digest[:19]}...): live state or main moved on since the "
            "review. Nothing was changed. Re-run the plan on a new pull request.")
    return planned


def check_current(saved: dict[str, Any], repo: Path,
                  counter: CallCounter | None = None) -> list[Planned]:
    """Re-plan every account of a saved plan; refuse unless it gives exactly the same plan."""
    accounts = {a.config.name: a for a in load_repository(repo)}
    entries: list[dict[str, Any]] = saved["accounts"]
    names = [e.get("account") if isinstance(e, dict) else None for e in entries]
    for name in names:
        if not isinstance(name, str):
            raise PlanFileError("plan file: an account entry has no name")
        if name not in accounts:
            raise StalePlan(f"account {name}: no longer in the repository; nothing was "
                            "changed")
    fresh = plan_accounts([accounts[str(n)] for n in names], counter)
    for entry, planned in zip(entries, fresh, strict=True):
        now = planned.plan.as_dict()
        if now != entry:
            raise StalePlan(_stale_reason(planned.account.config.name, entry, now))
    return fresh


def _stale_reason(name: str, saved: dict[str, Any], now: dict[str, Any]) -> str:
    reasons = []
    if saved.get("live_digest") != now["live_digest"]:
        reasons.append("live state changed")
    if saved.get("desired_digest") != now["desired_digest"]:
        reasons.append("the repository changed")
    if not reasons:
        reasons.append("the plan file does not match what iamstate plans (edited by hand?)")
    return (f"account {name}: the plan is stale: {' and '.join(reasons)} since it was made. "
            "Nothing was changed. Run `iamstate plan --out FILE` again, review it, apply that.")


def apply_planned(
    planned: list[Planned],
    repo: Path,
    allow_deletions: int | None,
    workers: int = 4,
    retry: RetryPolicy | None = None,
    on_done: Callable[[Change], None] | None = None,
) -> list[ApplyReport]:
    for item in planned:  # every account's safety check passes before anything changes
        item.plan.check_safety(allow_deletions)
    reports = []
    for item in planned:
        applier = Applier(item.conn, item.account.config, item.account.desired,
                          repo / OUT_DIR, workers=workers, retry=retry, on_done=on_done)
        reports.append(applier.apply(item.plan.changes))
    return reports
