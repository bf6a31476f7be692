"""What an apply says: counts as it goes (per stage, not a line per change: an apply of
1,600 changes in CI is a few dozen lines), what failed and what was left when it stops,
and the full list of every change in a report file the workflow keeps as an artifact."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from iamstate.model.changes import Change
from iamstate.outputs.lines import headline
from iamstate.plan.apply import ApplyReport
from iamstate.plan.kinds import kind_of, stage
from iamstate.repository.files import write_text_safely

PROGRESS_EVERY = 50  # changes between two progress lines within a stage
SHOWN_LEFT = 20  # changes not done listed by headline; the rest counted (all in the file)


def step(change: Change) -> str:
    """What a stage does, in words: `create user`, `destroy group membership`."""
    return f"{change.verb} {kind_of(change).label}"


class Progress:
    """Progress for a log: a line each time a step has made another PROGRESS_EVERY
    changes, with the total so far (`applied 150 change(s); create user: 100`)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.done: Counter[str] = Counter()
        self.say = say

    def __call__(self, change: Change) -> None:
        what = step(change)
        self.done[what] += 1
        if self.done[what] % PROGRESS_EVERY == 0:
            self.say(f"  applied {sum(self.done.values()):,} change(s); {what}: "
                     f"{self.done[what]:,}")


def by_step(changes: Sequence[Change]) -> list[str]:
    """Changes counted per step, in the order they run."""
    found = Counter(step(c) for c in changes)
    first = {step(c): stage(c) for c in reversed(changes)}
    return [f"  {what}: {found[what]:,}" for what in sorted(found, key=lambda w: (first[w], w))]


def report_lines(report: object) -> list[str]:
    """An apply that stopped: what was done (counted per step), what failed (each, with
    why), what was not done (the first by headline, then counted), what next. (`object`:
    as `ApplyFailed` carries it.)"""
    if not isinstance(report, ApplyReport):
        raise TypeError(f"not an apply report: {type(report).__name__}")
    lines = [f"account {report.account}: apply "
             f"{'interrupted' if report.interrupted else 'stopped'}."]
    lines.append(f"Done ({len(report.done)}):")
    lines += by_step(report.done) or ["  nothing"]
    lines.append(f"Failed ({len(report.failed)}):")
    lines += [f"  {headline(c)}: {why}" for c, why in report.failed] or ["  nothing"]
    lines.append(f"Not done ({len(report.not_done)}):")
    left = sorted(report.not_done, key=stage)
    lines += [f"  {headline(c)}" for c in left[:SHOWN_LEFT]] or ["  nothing"]
    if len(left) > SHOWN_LEFT:
        lines += [f"  ... and {len(left) - SHOWN_LEFT:,} more:",
                  *by_step(left[SHOWN_LEFT:])]
    lines += [f"  note: {note}" for note in report.notes]
    lines.append("Run `iamstate plan` again: it shows exactly what is left.")
    return lines


def _entry(change: Change, error: str | None = None) -> dict[str, Any]:
    kind = kind_of(change)
    out = {"action": change.action, "kind": kind.name, "name": kind.key(change.subject),
           "headline": headline(change)}
    return {**out, "error": error} if error is not None else out


def report_document(reports: Sequence[ApplyReport]) -> dict[str, Any]:
    """Every change of an apply, per account: done, failed (with why) and not done."""
    return {"accounts": [{
        "account": r.account,
        "outcome": "interrupted" if r.interrupted else "stopped" if r.failed else "complete",
        "done": [_entry(c) for c in r.done],
        "failed": [_entry(c, why) for c, why in r.failed],
        "not_done": [_entry(c) for c in sorted(r.not_done, key=stage)],
        "notes": list(r.notes)} for r in reports]}


def write_report(path: Path, reports: Sequence[ApplyReport], root: Path | None = None) -> None:
    """The full list, written inside the repository only through its safe writer (never
    through a link planted there)."""
    write_text_safely(path, json.dumps(report_document(reports), indent=2) + "\n", root)
