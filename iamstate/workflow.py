"""The steps the commands share: load, connect, read, plan, check a saved plan, apply."""

from __future__ import annotations

import datetime
import gc
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from iamstate.aws.client import Iam, RetryPolicy
from iamstate.aws.live import (
    credential_report,
    missing_managed_policies,
    outside_documents,
    read_live,
)
from iamstate.aws.session import CallCounter, Connection, connect
from iamstate.errors import RepoError, StalePlan
from iamstate.model.account import Account
from iamstate.model.changes import Change
from iamstate.model.state import State
from iamstate.plan import planfile
from iamstate.plan.apply import ApplyReport, Runner
from iamstate.plan.checks import Overrides, run_checks
from iamstate.plan.kinds.base import ApplyContext
from iamstate.plan.planner import AccountPlan, effective_password_policy, plan_account
from iamstate.repository import expiry
from iamstate.repository.loader import load_repository

if TYPE_CHECKING:
    from iamstate.analysis.findings import Finding

OUT_DIR = Path(".iamstate") / "out"
CONCURRENT_ACCOUNTS = 8
A = TypeVar("A")
R = TypeVar("R")


def out_dir(repo: Path) -> Path:
    """Where one-time passwords are written: `.iamstate/out`, or IAMSTATE_OUT_DIR (CI sets
    it outside the checkout, so the artifact it uploads holds nothing else)."""
    chosen = os.environ.get("IAMSTATE_OUT_DIR")
    return Path(chosen) if chosen else repo / OUT_DIR


@dataclass
class Planned:
    account: Account
    conn: Connection
    plan: AccountPlan
    live: State


def plan_one(account: Account, counter: CallCounter | None = None,
             purpose: str = "plan", consequences: bool = True) -> Planned:
    config = account.config
    # Expired users and memberships are absent from here on (and the plan says why).
    desired, ended = expiry.as_of(account.desired, expiry.today())
    conn = connect(config, counter, purpose)
    live = read_live(conn, config, desired)
    missing = missing_managed_policies(conn, config, desired, live)
    if missing:
        raise RepoError(missing)
    return Planned(account, conn, plan_account(
        config, desired, live, lambda: outside_documents(conn, config, desired, live),
        consequences, ended), live)


def for_each_account(accounts: Sequence[A], work: Callable[[A], R]) -> list[R]:
    """`work` on every account, a few at a time (each with its own credentials)."""
    if len(accounts) <= 1:
        return [work(a) for a in accounts]
    with ThreadPoolExecutor(max_workers=min(CONCURRENT_ACCOUNTS, len(accounts))) as pool:
        return list(pool.map(work, accounts))


def plan_all(repo: Path, only: str | Sequence[str] | None = None,
             counter: CallCounter | None = None,
             purpose: str = "plan", consequences: bool = True) -> list[Planned]:
    """Validate the repository, then read and plan every account (concurrently)."""
    return plan_accounts(load_repository(repo, only), counter, purpose, consequences)


def plan_accounts(accounts: Sequence[Account], counter: CallCounter | None = None,
                  purpose: str = "plan", consequences: bool = True) -> list[Planned]:
    return for_each_account(accounts, lambda a: plan_one(a, counter, purpose, consequences))


def audit_all(
    repo: Path, only: str | Sequence[str] | None = None, counter: CallCounter | None = None,
    unused_days: int = 45,
) -> dict[str, list[Finding]]:
    """The strategy's and CIS's findings for every account (or `only` one), read
    concurrently; credentials unused for `unused_days` are a finding (CIS's 45).

    The repository is loaded and checked before any call (an invalid one reads nothing).
    Then, per account, the credential report and CIS's account-wide reads go beside GAAD,
    the longest answer, while the action catalogue the escalation rules need loads: the
    same calls as one after the other, each made once."""
    with cycles_uncollected():
        return _audit_all(repo, only, counter, unused_days)


@contextmanager
def cycles_uncollected() -> Iterator[None]:
    """Python's cycle collector paused: an audit builds hundreds of thousands of objects
    that live until it ends (repository, GAAD, live state), and the collector walked them
    all again and again (0.7 s of a 5,000-user audit's 4 s); they form few cycles (the same
    peak memory without it)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _audit_all(repo: Path, only: str | Sequence[str] | None, counter: CallCounter | None,
               unused_days: int) -> dict[str, list[Finding]]:
    from iamstate.analysis.audit import audit_account, expiring_findings  # its engines: audits only
    from iamstate.analysis.cis import ROOT_ROW, cis_findings, read_facts
    from iamstate.analysis.findings import located
    from iamstate.analysis.permissions import load_catalogue

    accounts = load_repository(repo, only)
    day = expiry.today()
    catalogue_lock = threading.Lock()

    def catalogue() -> None:  # local files, once per process (accounts wait for the first)
        with catalogue_lock:
            load_catalogue()

    def one(account: Account) -> list[Finding]:
        conn = connect(account.config, counter)
        with ThreadPoolExecutor(max_workers=3) as pool:
            # read once, root row included: the live reader's hint and the audit's source
            rows = pool.submit(credential_report, conn.iam, with_root=True)
            facts = pool.submit(lambda: read_facts(conn, rows.result()))
            loaded = pool.submit(catalogue)
            users = pool.submit(lambda: [r for r in rows.result() if r["user"] != ROOT_ROW])
            # no teardown listing: an audit deletes nothing (the report says who holds
            # keys); the report is waited for once GAAD is in
            live = read_live(conn, account.config, account.desired, teardowns=False,
                             report=users.result)
            report = users.result()
            documents = outside_documents(conn, account.config, State(), live)
            loaded.result()
            now = datetime.datetime.now(datetime.UTC)
            found = audit_account(account.config, live, report,
                                  account.desired.password_policy, now, documents)
            found += cis_findings(facts.result(), live, report, now, documents, unused_days)
        found += expiring_findings(account.desired, day)
        return sorted(located(found, account), key=lambda f: (f.rule, f.subject))

    found = for_each_account(accounts, one)
    return dict(zip((a.config.name for a in accounts), found, strict=True))


def plan_document(planned: Sequence[Planned]) -> dict[str, Any]:
    return planfile.document([p.plan for p in planned])


def check_current(saved: dict[str, Any], repo: Path,
                  counter: CallCounter | None = None) -> list[Planned]:
    """Re-plan every account of a saved plan; refuse unless it gives exactly the same plan
    (same changes, same model data, same digests of both states)."""
    accounts = {a.config.name: a for a in load_repository(repo)}
    entries: list[dict[str, Any]] = saved["accounts"]
    for entry in entries:
        if entry["account"] not in accounts:
            raise StalePlan(f"account {entry['account']}: no longer in the repository; "
                            "nothing was changed")
    fresh = plan_accounts([accounts[e["account"]] for e in entries], counter, "apply")
    for entry, planned in zip(entries, fresh, strict=True):
        now = planfile.account_to_json(planned.plan)
        if now != entry:
            raise StalePlan(planfile.stale_reason(planned.account.config.name, entry, now))
    return fresh


def apply_planned(
    planned: Sequence[Planned],
    repo: Path,
    overrides: Overrides,
    workers: int = 4,
    retry: RetryPolicy | None = None,
    on_done: Callable[[Change], None] | None = None,
    announce: Callable[[str], None] = lambda text: None,
) -> list[ApplyReport]:
    """Every check on every account passes before any account changes; then each account's
    changes are applied in order."""
    run_checks([p.plan for p in planned], overrides)
    reports = []
    for item in planned:
        config = item.account.config
        ctx = ApplyContext(Iam(item.conn.iam, retry), config, repo, out_dir(repo),
                           effective_password_policy(item.account.desired, item.live),
                           item.conn.emulated, announce=announce)
        reports.append(Runner(ctx, workers, on_done).run(item.plan.changes))
    return reports
