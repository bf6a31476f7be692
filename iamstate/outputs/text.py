"""Text for a person at a terminal (rich): each line styled by its role, wrapped at the
terminal's width under its own indent. A CI log (not a terminal) gets the lines whole:
its viewer wraps them, and a search of the log finds a line in one piece."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from iamstate.analysis.findings import CRITICAL, HIGH, Finding, cis_label
from iamstate.outputs.base import Output, Validation
from iamstate.outputs.lines import ChangeView as View
from iamstate.outputs.lines import (
    Line,
    Role,
    admin_lines,
    finding_lines,
    grant_text,
    kept_lines,
    people_blocks,
    plain,
    summary_line,
)
from iamstate.plan.planner import AccountPlan
from iamstate.wording import count

SIGNS = {"+": "green", "~": "yellow", "-": "red", "-/+": "red"}
STYLES = {Role.ACCOUNT: "bold", Role.SUMMARY: "bold", Role.ADDED: "green",
          Role.REMOVED: "red", Role.CONTEXT: "dim", Role.CONDITIONS: "dim", Role.ADMIN: "bold red",
          Role.NEW_FINDING: "bold red"}
ALARMING = (CRITICAL, HIGH)  # audit findings shown as a new escalation is
NAMES_SHOWN = 5  # users named per line; the rest counted


def style_of(line: Line) -> str:
    """A line's style, from its role (and a headline's sign) alone."""
    if line.role is Role.HEADLINE:
        return SIGNS[line.sign]
    return STYLES.get(line.role, "")


def plan_lines(plan: AccountPlan) -> Iterator[tuple[int, Line]]:
    """One account's plan as (indent, line): changes, kept items, what it means."""
    if not plan.changes:
        yield 2, Line(Role.DETAIL, "No changes. Live state matches the repository.")
    for change in plan.changes:
        view = View.of(change)
        yield 2, view.headline
        yield from ((6, line) for line in (*view.details, *view.diff))
    yield from ((2, line) for line in kept_lines(plan))
    yield from meaning_lines(plan)


def meaning_lines(plan: AccountPlan) -> Iterator[tuple[int, Line]]:
    admins, findings = admin_lines(plan, NAMES_SHOWN), finding_lines(plan)
    blocks = people_blocks(plan, NAMES_SHOWN)
    if not (admins or findings or blocks):
        return
    yield 0, Line(Role.DETAIL, "")
    yield 2, Line(Role.DETAIL, "What this plan means for people:")
    yield from ((4, line) for line in admins)
    for block in blocks:
        yield 4, block.who
        yield from ((12 if line.role is Role.CONDITIONS else 6, Line(line.role, grant_text(line)))
                    for line in block.grants)
    if findings:
        yield 2, Line(Role.DETAIL, "Privilege-escalation findings:")
        yield from ((4, Line(line.role, plain(line))) for line in findings)


def audit_lines(findings: Mapping[str, Sequence[Finding]]) -> Iterator[tuple[int, Line]]:
    """Each account's findings as (indent, line), a blank line after each account."""
    for account, found in findings.items():
        yield 0, Line(Role.ACCOUNT, f"Audit of {account}: {count(len(found), 'finding')}")
        for f in found:
            label = cis_label(f.references)
            yield 2, Line(Role.NEW_FINDING if f.severity in ALARMING else Role.DETAIL,
                          f"{f.rule}{f' ({label})' if label else ''} {f.subject}: {f.message}")
            yield 6, Line(Role.CONTEXT, f"fix: {f.fix}")
        yield 0, Line(Role.DETAIL, "")


def whole(indent: int, line: Line) -> Text:
    """A line as printed off a terminal: indented, styled by its role, never wrapped."""
    return Text(" " * indent) + Text(line.text, style=style_of(line))


class TextOutput(Output):
    name = "text"

    def line(self, indent: int, line: Line) -> None:
        """On a terminal, wrapped at its width with continuation lines under the text;
        elsewhere, whole."""
        if self.console.is_terminal:
            text = Text(line.text, style=style_of(line))
            self.console.print(Padding(text, (0, 0, 0, indent), expand=False), soft_wrap=False)
        else:
            self.console.print(whole(indent, line))

    def plan(self, plans: Sequence[AccountPlan]) -> None:
        for plan in plans:
            heading = Text(f"Account {plan.config.name}", style="bold")
            self.console.print(heading + Text(f" ({plan.config.account_id})"))
            for indent, line in plan_lines(plan):
                self.line(indent, line)
            self.console.print()
        self.line(0, Line(Role.SUMMARY, summary_line(plans)))

    def audit(self, findings: Mapping[str, Sequence[Finding]]) -> None:
        lines = list(audit_lines(findings))
        if lines and not self.console.is_terminal:  # whole lines: one print (10,000 lines in 0.2 s)
            self.console.print(Text("\n").join(whole(indent, line) for indent, line in lines))
            return
        for indent, line in lines:
            if line.text:
                self.line(indent, line)
            else:
                self.console.print()

    def validate(self, result: Validation) -> None:
        for warning in result.warnings:
            self.console.print(Text("warning", style="yellow") + Text(f" {warning}"))
        for problem in result.problems:
            self.console.print(Text("error", style="red") + Text(f" {problem}"))
        if result.valid:
            self.console.print(f"Valid: {result.accounts} account(s), {result.users} user(s).",
                               markup=False, highlight=False)
        else:
            self.console.print(f"{len(result.problems)} error(s); nothing was changed in AWS.",
                               markup=False, highlight=False)


def render_text(plans: Sequence[AccountPlan], console: Console) -> None:
    TextOutput(console).plan(plans)
