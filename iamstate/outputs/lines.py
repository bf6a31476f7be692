"""What a plan shows, as lines that carry a role: worked out once from a plan (like
Terraform's precomputed diff), then laid out by each output (text, markdown, JSON...).

An output styles or frames a line by its role (a headline by its sign, a gain green, a new
finding bold red), never by reading its text again: the words can change without any output
changing. Every text here is one line of plain ASCII (`one_line`): values from the
repository or from AWS cannot end a code block, forge a plan line or hide what follows.

Generic over the kinds: each kind describes its own changes (`describe`) and names the
policy documents they are about (`documents`). None of them holds a secret: changes carry
no passwords or keys to begin with.
"""

from __future__ import annotations

import difflib
import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from iamstate.analysis.meaning import NEW, EscalationFinding, UserConsequence
from iamstate.model.changes import CREATE, DELETE, UPDATE, Change, Delete, Replace
from iamstate.plan.kinds import kind_of
from iamstate.plan.planner import AccountPlan
from iamstate.repository.policy import PolicyDocument
from iamstate.wording import agree
from iamstate.wording import listed as listed_names

MAX_ACTIONS = 12  # per grant in text and markdown; the plan JSON lists them all


class Role(StrEnum):
    """What a line is, for the outputs to lay it out and style it."""

    ACCOUNT = "account"  # an account's heading
    HEADLINE = "headline"  # one change (`sign` says which kind: + ~ - -/+)
    DETAIL = "detail"  # what a change does beyond its headline
    ADDED = "added"  # a policy document line the plan adds
    REMOVED = "removed"  # ... removes
    CONTEXT = "context"  # ... keeps (shown around the others)
    KEPT = "kept"  # what iamstate keeps and will not change
    ADMIN = "admin"  # who becomes, or stops being, administrator-equivalent
    PEOPLE = "people"  # the users who share one change of permissions
    GAIN = "gain"  # a permission they gain
    LOSS = "loss"  # ... lose
    UNREAD = "unread"  # a policy whose grants could not be read
    CONDITIONS = "conditions"  # the conditions of the grant above, as written
    FINDING = "finding"  # an escalation finding the plan accepts or removes
    NEW_FINDING = "new-finding"  # ... introduces (apply refuses it)
    HINT = "hint"  # how to accept a new finding
    SUMMARY = "summary"  # the plan's counts


@dataclass(frozen=True)
class Line:
    role: Role
    text: str
    sign: str = ""  # a headline's: "+", "~", "-" or "-/+"


def one_line(text: str) -> str:
    """A line as it must be shown: values from the repository or from AWS (a policy's
    description, a resource in a document) may hold newlines, backticks and `<!--`, which
    would end a code block in a PR comment and hide what follows, or forge plan lines in a
    terminal. Control and format characters (newlines, bidi overrides) are written as
    escapes, and so is every non-ASCII letter: a Cyrillic e (`\\u0435`) in `break-glass`
    looks like the Latin one and matches nobody. What is left is one line of plain ASCII."""
    return "".join(ch if ch == " " or (ch.isascii() and unicodedata.category(ch)[0] not in "CZ")
                   else _escaped(ch) for ch in text)


def _escaped(ch: str) -> str:
    if ch.isascii():
        return ch.encode("unicode_escape").decode("ascii")  # \n, \t, \x1b
    return f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}"


# -- changes ------------------------------------------------------------------------------


def headline(change: Change) -> str:
    kind = kind_of(change)
    why = kind.why(change)
    return one_line(f"{change.symbol} {change.verb} {kind.label} {kind.key(change.subject)}"
                    + (f" ({why})" if why else ""))


def detail_lines(change: Change) -> list[str]:
    """The indented lines under a change: what it does beyond its headline."""
    return [one_line(line) for line in kind_of(change).describe(change)]


def written(document: PolicyDocument) -> list[str]:
    """A document as it is written: the repository's file (or what live returns), its
    statements and condition keys in their order and case. Documents are compared by
    meaning; a reviewer reads them as their author wrote them."""
    return json.dumps(document.document, indent=2, default=str).splitlines()


def document_diff(before: PolicyDocument | None, after: PolicyDocument | None) -> list[str]:
    """A readable unified diff of two documents as written; a whole document (all + or
    all -) when one side is missing."""
    old = written(before) if before else []
    new = written(after) if after else []
    if not old or not new:
        return [f"{'-' if old else '+'}{line}" for line in old or new]
    return list(difflib.unified_diff(old, new, "live", "repository", lineterm="", n=2))[2:]


def diff_lines(change: Change) -> list[str]:
    """The change's policy document diff (none when the documents mean the same)."""
    documents = kind_of(change).documents(change)
    if documents is None or documents[0] == documents[1]:
        return []
    return [one_line(line) for line in document_diff(*documents)]


def _diff_role(line: str) -> Role:
    # The diff's own grammar (unified diff), not iamstate's words: its first column.
    return Role.ADDED if line[:1] == "+" else Role.REMOVED if line[:1] == "-" else Role.CONTEXT


def is_destructive(change: Change) -> bool:
    return isinstance(change, Delete | Replace)


@dataclass(frozen=True)
class ChangeView:
    """One change as every output shows it: its headline, details and document diff."""

    change: Change
    headline: Line
    details: tuple[Line, ...]
    diff: tuple[Line, ...]
    label: str  # its kind's label (`user`, `group membership`)
    key: str  # its subject's name as the kind says it

    @classmethod
    def of(cls, change: Change) -> ChangeView:
        kind = kind_of(change)
        return cls(change, Line(Role.HEADLINE, headline(change), change.symbol),
                   tuple(Line(Role.DETAIL, d) for d in detail_lines(change)),
                   tuple(Line(_diff_role(d), d) for d in diff_lines(change)),
                   kind.label, kind.key(change.subject))

    @property
    def destructive(self) -> bool:
        return is_destructive(self.change)


# -- the plan's counts --------------------------------------------------------------------


def summary_line(plans: Sequence[AccountPlan]) -> str:
    totals = {CREATE: 0, UPDATE: 0, DELETE: 0}
    for plan in plans:
        for action, count in plan.summary().items():
            totals[action] += count
    return (f"Plan: {totals[CREATE]} to add, {totals[UPDATE]} to change, "
            f"{totals[DELETE]} to destroy.")


def counts(plan: AccountPlan) -> str:
    summary = plan.summary()
    return (f"{summary[CREATE]} to add, {summary[UPDATE]} to change, "
            f"{summary[DELETE]} to destroy")


# -- what the plan means for people -------------------------------------------------------


def names(listed: Sequence[str], limit: int | None) -> str:
    if limit is None or len(listed) <= limit:
        return ", ".join(listed)
    return f"{', '.join(listed[:limit])} and {len(listed) - limit:,} more"


def people(plan: AccountPlan) -> list[tuple[list[str], UserConsequence]]:
    """Users whose permissions change, those with the same change together (a change to
    the common group is one entry, not thousands)."""
    if plan.consequences is None:
        return []
    together: dict[UserConsequence, tuple[list[str], UserConsequence]] = {}
    for name, change in plan.consequences.users.items():
        together.setdefault(change, ([], change))[0].append(name)
    return sorted(together.values(), key=lambda entry: entry[0][0])


def kept_lines(plan: AccountPlan) -> list[Line]:
    return [Line(Role.KEPT, one_line(f"= keep {k.label} {k.name}: {k.reason}"))
            for k in plan.kept]


def admin_lines(plan: AccountPlan, limit_names: int | None = None) -> list[Line]:
    """The first thing a reviewer must read: who becomes administrator-equivalent."""
    meaning = plan.consequences
    if meaning is None:
        return []
    lines = []
    for flag, verb in ((True, "becomes"), (False, "is no longer")):
        found = sorted(n for n, c in meaning.users.items()
                       if c.admin == flag and c.admin_before != flag)
        if found:
            lines.append(Line(Role.ADMIN, one_line(f"! {listed_names(found, limit=limit_names)} "
                                                   f"{agree(found, verb)} "
                                                   "administrator-equivalent")))
    return lines


HINT_INDENT = " " * 10  # under the finding's id, past its status


def finding_lines(plan: AccountPlan) -> list[Line]:
    meaning = plan.consequences
    if meaning is None:
        return []
    lines = []
    for finding in meaning.findings:
        lines.append(finding_line(finding))
        if finding.status == NEW:  # exactly this reach, for a reviewer who accepts it
            lines.append(Line(Role.HINT, one_line(f"to accept, under accepted_risks: "
                                                  f"{finding.acceptance()}")))
    return lines


def finding_line(finding: EscalationFinding) -> Line:
    where = f" [accepted at {finding.accepted_at}]" if finding.accepted_at else ""
    refs = f" [{', '.join(finding.references)}]" if finding.references else ""
    return Line(Role.NEW_FINDING if finding.status == NEW else Role.FINDING,
                one_line(f"{finding.status:<9} {finding.id} {finding.principal} "
                         f"({finding.severity}): {finding.detail}{refs}{where}"))


def plain(line: Line) -> str:
    """A line of the admins-and-findings block as it reads in plain text (both outputs
    show that block as text: a hint sits under its finding)."""
    return HINT_INDENT + line.text if line.role is Role.HINT else line.text


GAINS, LOSES, UNREAD = "gains", "loses", "cannot tell"


@dataclass(frozen=True)
class PeopleBlock:
    """A set of users with the same change: who (as a line) and what they gain or lose."""

    who: Line
    grants: tuple[Line, ...]

    def count(self, role: Role) -> int:
        return sum(1 for line in self.grants if line.role is role)


def people_blocks(plan: AccountPlan, limit_names: int | None = None) -> list[PeopleBlock]:
    """One block per set of users with the same change: their names, then a line per grant
    (the outputs say `gains`/`loses`, or a diff sign, by the line's role)."""
    blocks = []
    for listed, change in people(plan):
        user = listed[0] if len(listed) == 1 else None
        grants: list[Line] = []
        for role, said in ((Role.GAIN, change.gains), (Role.LOSS, change.losses)):
            for grant in said:
                grants.append(Line(role, one_line(grant.line(MAX_ACTIONS, user))))
                detail = grant.detail()  # the JSON behind the words, folded
                grants += [Line(Role.CONDITIONS, one_line(detail))] if detail else []
        grants += [Line(Role.UNREAD, one_line(f"what policy {arn} grants could not be read"))
                   for arn in change.unknown_policies]
        blocks.append(PeopleBlock(Line(Role.PEOPLE, one_line(f"{names(listed, limit_names)}:")),
                                  tuple(grants)))
    return blocks


def grant_text(line: Line) -> str:
    """A gain, loss or unreadable policy in words (text output, under the names)."""
    if line.role is Role.CONDITIONS:
        return line.text
    word = {Role.GAIN: GAINS, Role.LOSS: LOSES}.get(line.role)
    return f"{word} {line.text}" if word else f"{UNREAD}: {line.text}"
