"""The runner: applies an account's changes stage by stage, independent ones of a stage on
a pool of workers, and stops at the first failure (or Ctrl-C) with a report of what was
done, what failed and what was not done. What each change means in IAM calls belongs to
its kind (iamstate/kinds/); retries to the IAM client (iamclient.py)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import groupby

from botocore.exceptions import BotoCoreError, ClientError

from iamstate.aws.client import Iam
from iamstate.errors import ApplyFailed, ChangeFailed, Interrupted
from iamstate.model.changes import Change
from iamstate.plan.kinds import kind_of, order_key, stage
from iamstate.plan.kinds.base import ApplyContext


@dataclass
class ApplyReport:
    account: str
    done: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    not_done: list[Change] = field(default_factory=list)
    interrupted: bool = False


class Runner:
    def __init__(self, ctx: ApplyContext, workers: int = 4,
                 on_done: Callable[[Change], None] | None = None) -> None:
        self.ctx = ctx
        self.iam: Iam = ctx.iam
        self.workers = max(1, workers)
        self.on_done = on_done or (lambda change: None)
        self.report = ApplyReport(ctx.config.name)
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self, changes: Sequence[Change]) -> ApplyReport:
        ordered = sorted(changes, key=order_key)
        stages = [list(group) for _, group in groupby(ordered, key=stage)]
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for index, batch in enumerate(stages):
                try:
                    self._run_stage(pool, batch)
                except KeyboardInterrupt:
                    self.stopping.set()
                    self.report.interrupted = True
                if self.stopping.is_set():
                    self.report.not_done += [c for later in stages[index + 1:] for c in later]
                    break
        self.report.notes = list(self.iam.notes)
        if self.report.interrupted:
            raise Interrupted(f"account {self.report.account}: apply interrupted",
                              self.report)
        if self.report.failed:
            raise ApplyFailed(f"account {self.report.account}: apply stopped", self.report)
        return self.report

    def _run_stage(self, pool: ThreadPoolExecutor, batch: list[Change]) -> None:
        if self.workers == 1 or len(batch) == 1:
            for index, change in enumerate(batch):
                try:
                    self._run_one(change)
                except KeyboardInterrupt:
                    with self.lock:
                        self.report.not_done += batch[index + 1:]
                    raise
            return
        futures: list[Future[None]] = [pool.submit(self._run_one, c) for c in batch]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
        except KeyboardInterrupt:
            self.stopping.set()  # queued changes see it and do not start
            wait(futures)  # calls under way finish: their outcome is known and reported
            raise

    def _run_one(self, change: Change) -> None:
        if self.stopping.is_set():
            with self.lock:
                self.report.not_done.append(change)
            return
        kind = kind_of(change)
        ctx = dataclasses.replace(self.ctx, iam=self.iam.scoped(kind.actions))
        try:
            kind.apply(change, ctx)
        except (ClientError, BotoCoreError, ChangeFailed, ApplyFailed, OSError) as error:
            with self.lock:
                self.report.failed.append((change, str(error)))
            self.stopping.set()
            return
        except KeyboardInterrupt:
            # Ctrl-C lands in the main thread, in the call it was making: whether IAM made
            # that change is unknown; the next plan knows.
            with self.lock:
                self.report.failed.append((change, "interrupted while in progress: it may "
                                                   "or may not have been made"))
            raise
        with self.lock:
            self.report.done.append(change)
        self.on_done(change)
