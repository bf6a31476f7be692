"""The scheduled expiry (`iamstate ci expire`): access that ends, removed without a human.

It runs on the default branch, whose repository was reviewed in pull requests: a removal
whose `expires:` is written there was reviewed too, so it may be applied by a schedule.
Anything else in the plan (drift, a change nobody merged) was not: then the run changes
nothing in any account and fails, and the drift workflow shows the plan for review. The
workflow then opens a pull request from `iamstate expire --write`, so git stays the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from iamstate import workflow
from iamstate.entities.user.model import Membership, User
from iamstate.hosts.ci import Outcome
from iamstate.model.changes import Change, Delete
from iamstate.plan.checks import Overrides
from iamstate.plan.kinds import kind_of


def apply_expired(repo: Path, accounts: Sequence[str] | None, overrides: Overrides,
                  on_done: Callable[[Change], None],
                  announce: Callable[[str], None]) -> Outcome:
    """Apply the removals expiry causes, in every account — only if every account's plan is
    made of those alone (exit 1 and no change anywhere otherwise; exit 2 once applied)."""
    planned = workflow.plan_all(repo, accounts, purpose="apply")
    outcome = Outcome()
    for item in planned:
        for reason in removals_only(item.plan.changes):
            outcome.lines.append(f"refused: {item.plan.config.name}: {reason} is not an "
                                 "expiry")
    if outcome.lines:
        outcome.lines.append("Nothing was changed: a scheduled run applies only expired "
                             "access; review the rest in a pull request (see the drift issue).")
        outcome.exit_code = 1
        return outcome
    due = [item for item in planned if item.plan.changes]
    if not due:
        outcome.lines.append("Nothing has expired in any account.")
        return outcome
    outcome.reports += workflow.apply_planned(due, repo, overrides, on_done=on_done,
                                              announce=announce)
    outcome.lines += [f"{item.plan.config.name}: expired access removed" for item in due]
    outcome.exit_code = 2
    return outcome


def removals_only(changes: Sequence[Change]) -> list[str]:
    """Why a plan is more than expired removals (empty when it is only those): what the
    scheduled flow may apply without a human."""
    reasons = []
    for change in changes:
        subject = change.subject
        if isinstance(change, Delete) and isinstance(subject, Membership) and subject.expired:
            continue
        if isinstance(change, Delete) and isinstance(subject, User) and subject.expires:
            continue
        kind = kind_of(change)
        reasons.append(f"{change.symbol} {change.verb} {kind.label} "
                       f"{kind.key(change.subject)}")
    return reasons
