"""What every output is: one class per format, registered by name in `outputs.FORMATS`,
shared by `plan`, `audit` and `validate` (octoDNS's PlanLogger/PlanMarkdown/PlanJson).

An output lays out what the commands computed (plans as lines with roles, audit findings,
a repository's validation); it computes nothing and never reads its own text back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.console import Console

if TYPE_CHECKING:
    from iamstate.analysis.findings import Finding
    from iamstate.errors import Problem
    from iamstate.model.account import Account
    from iamstate.plan.planner import AccountPlan


@dataclass(frozen=True)
class Validation:
    """What `validate` found: the accounts and users it read, or the problems (each with
    its file:line), and the warnings it gives either way."""

    accounts: int = 0
    users: int = 0
    problems: Sequence[Problem] = ()
    warnings: Sequence[str] = field(default=())

    @property
    def valid(self) -> bool:
        return not self.problems


class Output:
    """One format. Writes to `console` (a terminal, or the file stdout is): text outputs
    style by a line's role; the others write their text as it is."""

    name: ClassVar[str]
    # A document a machine reads alone on stdout (SARIF): what people should read (warnings,
    # errors) goes to stderr beside it.
    alone: ClassVar[bool] = False

    def __init__(self, console: Console, repo: Path | None = None,
                 accounts: Sequence[Account] = ()) -> None:
        """`repo` and `accounts`: what an output that points into the repository needs
        (where each finding is declared); the others ignore them."""
        self.console = console
        self.repo = repo or Path(".")
        self.accounts = accounts

    def plan(self, plans: Sequence[AccountPlan]) -> None:
        raise NotImplementedError(f"{self.name} output of a plan")

    def audit(self, findings: Mapping[str, Sequence[Finding]]) -> None:
        """Audit findings per account (rule, subject, what and the fix)."""
        raise NotImplementedError(f"{self.name} output of an audit")

    def validate(self, result: Validation) -> None:
        raise NotImplementedError(f"{self.name} output of a validation")

    def write(self, text: str) -> None:
        """Text as it is: no markup, no highlighting, no wrapping (JSON, markdown)."""
        self.console.file.write(text if text.endswith("\n") else text + "\n")
        self.console.file.flush()
