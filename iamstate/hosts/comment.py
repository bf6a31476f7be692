"""The plan comment of a pull request (or merge request), host-neutral: its markers, its
table of accounts, a folded section per distinct change, and how apply reads it back.

GitHub and GitLab post the same text: the host only finds, creates and updates the comment.
Apply reads a comment back into its parts (`parse_comment`), requires that composing them
gives the comment again character for character, and renders each account's section again
from a fresh plan (`section_text`): only a plan that is what a reviewer saw is applied. The
layout of a section is the markdown output's (outputs/markdown); this module frames it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from iamstate.analysis.meaning import ACCEPTED
from iamstate.model.changes import CREATE, DELETE, UPDATE
from iamstate.outputs.markdown import MARKDOWN_BUDGET, TOO_LARGE_LEVEL, escape_md, render_level
from iamstate.plan.planner import AccountPlan

SUMMARY_MARKER = "<!-- iamstate-plan -->"
FOLLOWUP_MARKER = "<!-- iamstate-plan follow-up -->"
SECTION_RE = re.compile(r"<!-- iamstate-accounts level=(?P<level>\d+) "
                        r"digests=(?P<digests>[A-Za-z0-9._:,-]+) -->")
SECTION_END = "<!-- /iamstate-accounts -->"
TOO_LARGE = "too large to review in a comment"
SHORT_DIGEST = 32  # hex characters of a plan digest in the comment (128 bits)
SHORTEST_DIGEST = 16  # when hundreds of accounts share a section (64 bits; the section's
# text is compared word for word as well)


def short(digest: str, length: int = SHORT_DIGEST) -> str:
    return digest.removeprefix("sha256:")[:length]


def digest_matches(shown: str, digest: str) -> bool:
    """Whether a digest as a comment shows it (32 or 16 hex characters) is this one's."""
    return len(shown) in (SHORT_DIGEST, SHORTEST_DIGEST) and short(digest, len(shown)) == shown


def section_text(plan: AccountPlan, hint: str, level: int) -> str:
    """One account's part of the plan comment at a level of detail, without its name or
    id: accounts with the same change share one section. Apply renders it again from a
    fresh plan and applies only if it is this text, word for word."""
    text = render_level([plan], hint, level, anonymous=True)
    return text.replace(f":{plan.config.account_id}:", ":${account_id}:").rstrip("\n")


@dataclass(frozen=True)
class Section:
    digests: Mapping[str, str]  # account -> short plan digest
    level: int
    text: str
    summary: str = ""  # the line it is folded under

    @property
    def reviewable(self) -> bool:
        return self.level < TOO_LARGE_LEVEL and TOO_LARGE not in self.text


def sections_of(body: str) -> list[Section]:
    """The account sections of a plan comment, read back exactly as they were written."""
    found: list[Section] = []
    lines = body.split("\n")
    index = 0
    while index < len(lines):
        opened = SECTION_RE.fullmatch(lines[index])
        index += 1
        if not opened:
            continue
        start = index
        while index < len(lines) and lines[index] != SECTION_END:
            index += 1
        digests = dict(pair.rsplit(":", 1) for pair in opened["digests"].split(","))
        folded = lines[start - 3] if start >= 3 else ""
        found.append(Section(digests, int(opened["level"]), "\n".join(lines[start:index]),
                             folded))
        index += 1
    return found


def table_row(plan: AccountPlan) -> str:
    """An account's row in the plan comment's table (checked again on apply)."""
    return _row(plan).text()


def accepted_here(plan: AccountPlan) -> str:
    """The findings this plan introduces that `accepted_risks` accepts, each with the
    entry's file:line: unfolded, so a pull request that accepts its own finding shows it
    where every reviewer looks (not only inside a folded section)."""
    found = [f for f in plan.consequences.findings if f.status == ACCEPTED] \
        if plan.consequences else []
    return "<br>".join(escape_md(f"{f.id} {f.principal} at {f.accepted_at or '?'}")
                       for f in found) or "none"


@dataclass(frozen=True)
class Row:
    """One account's counts in the plan comment's table; or, when a row per account does
    not fit, the accounts whose counts are the same (their deletions and new findings
    included: no account's is ever left out), without their ids."""

    names: tuple[str, ...]
    account_id: str  # "" for several accounts
    add: int
    change: int
    delete: int
    new: int
    accepted: str = "none"  # the findings accepted here (accepted_here)

    def text(self) -> str:
        new = f"**{self.new}**" if self.new else "0"
        who = ", ".join(f"`{name}`" for name in self.names)
        where = self.account_id if len(self.names) == 1 else f"{len(self.names):,} accounts"
        return (f"| {who} | {where} | {self.add} | {self.change} | {self.delete} | {new} "
                f"| {self.accepted} |")

    def counts(self) -> str:
        return f"{self.add} to add, {self.change} to change, {self.delete} to destroy"

    def same_counts(self) -> tuple[int | str, ...]:
        return self.add, self.change, self.delete, self.new, self.accepted


ROW_RE = re.compile(r"\| (?P<names>`[A-Za-z0-9._-]+`(?:, `[A-Za-z0-9._-]+`)*) \| "
                    r"(?:(?P<id>\d{12})|(?P<many>\d[\d,]*) accounts) \| (?P<add>\d+) \| "
                    r"(?P<change>\d+) \| (?P<delete>\d+) \| (?:\*\*(?P<new>[1-9]\d*)\*\*|0) \| "
                    r"(?P<accepted>[^|\n]+) \|")
TITLE_RE = re.compile(r"\*\*iamstate (?P<version>[0-9A-Za-z.+-]+): Plan: \d+ to add, \d+ to "
                      r"change, \d+ to destroy\.\*\* (?P<planned>\d[\d,]*) account\(s\) planned, "
                      r"\d[\d,]* with changes\.")
TABLE_HEAD = ["| account | id | add | change | destroy | new findings | accepted here |",
              "|---|---|---:|---:|---:|---:|---|"]
# A comment's full-plan pointer is fixed text: nothing in the verified comment is free text.
FULL_PLAN = "the plan-* artifacts of the workflow run that wrote this comment"


def group_summary(names: Sequence[str], counts_text: str) -> str:
    """The line a section is folded under (checked again on apply)."""
    listed = ", ".join(f"`{name}`" for name in names[:SUMMARY_NAMES])
    more = f" and {len(names) - SUMMARY_NAMES:,} more" if len(names) > SUMMARY_NAMES else ""
    return f"<details><summary>{escape_md(listed)}{more}: {counts_text}</summary>"


SUMMARY_NAMES = 20  # accounts named on a section's summary line (all are in the table)


@dataclass(frozen=True)
class Comment:
    """A plan comment (or follow-up) as its parts; `compose` writes it. Apply reads a
    comment back into its parts and requires that composing them gives the comment again,
    character for character: nothing before, between, inside the frame or after what
    iamstate writes."""

    marker: str
    version: str
    planned: int
    intro: tuple[str, ...]
    rows: tuple[Row, ...]
    sections: tuple[Section, ...]

    def title(self) -> str:
        add, change, delete = (sum(getattr(r, f) * len(r.names) for r in self.rows)
                               for f in ("add", "change", "delete"))
        return (f"**iamstate {self.version}: Plan: {add} to add, {change} to change, "
                f"{delete} to destroy.** {self.planned:,} account(s) planned, "
                f"{sum(len(r.names) for r in self.rows):,} with changes.")

    def head(self) -> list[str]:
        lines = [self.marker, self.title(), "", *self.intro]
        if self.rows:
            lines += [*TABLE_HEAD, *(row.text() for row in self.rows)]
        return lines

    def compose(self) -> str:
        rows = {name: row for row in self.rows for name in row.names}
        blocks = [line for section in self.sections
                  for line in _group_block(section, rows[next(iter(section.digests))])]
        return "\n".join([*self.head(), *blocks]) + "\n"


def _group_block(section: Section, first: Row) -> list[str]:
    digests = ",".join(f"{name}:{digest}" for name, digest in section.digests.items())
    return ["", group_summary(list(section.digests), first.counts()), "",
            f"<!-- iamstate-accounts level={section.level} digests={digests} -->",
            section.text, SECTION_END, "", "</details>"]


def parse_comment(body: str) -> Comment | None:
    """A plan comment read back into its parts (None: not in iamstate's shape)."""
    lines = body.split("\n")
    title = TITLE_RE.fullmatch(lines[1]) if len(lines) > 3 else None
    if title is None or lines[0] not in (SUMMARY_MARKER, FOLLOWUP_MARKER) or lines[2]:
        return None
    index = 3
    while index < len(lines) - 1 and lines[index] != TABLE_HEAD[0]:
        index += 1
    intro = tuple(lines[3:index])
    rows: list[Row] = []
    if index < len(lines) - 1:
        index += 2
        while index < len(lines) and (row := ROW_RE.fullmatch(lines[index])):
            names = tuple(name.strip("`") for name in row["names"].split(", "))
            if (len(names) == 1) != bool(row["id"]):
                return None
            rows.append(Row(names, row["id"] or "", int(row["add"]), int(row["change"]),
                            int(row["delete"]), int(row["new"] or 0), row["accepted"]))
            index += 1
    sections = sections_of("\n".join(lines[index:]))
    shown = [name for section in sections for name in section.digests]
    if sorted(shown) != sorted(n for r in rows for n in r.names) or \
            len(set(shown)) != len(shown):
        return None
    return Comment(lines[0], title["version"], int(title["planned"].replace(",", "")), intro,
                   tuple(rows), tuple(sections))


def well_formed(text: str) -> bool:
    """Whether a section's text has iamstate's shape: code blocks closed, `<details>`
    balanced, and no HTML or comment of its own that could fold or hide what follows it
    (every section is checked, also those of accounts another job applies)."""
    depth, fenced = 0, False
    for line in text.split("\n"):
        stripped = line.lstrip(" ")
        opens = stripped.startswith("```") and len(line) - len(stripped) <= 3
        if fenced:
            if line == "```":
                fenced = False
            elif opens:
                return False
            continue
        if line in ("```diff", "```text", "```mermaid"):
            fenced = True
        elif line == "</details>":
            depth -= 1
        elif DETAILS_RE.fullmatch(line):
            depth += 1
        elif opens or "<" in line or ">" in line:
            return False
        if depth < 0:
            return False
    return depth == 0 and not fenced


DETAILS_RE = re.compile(r"<details><summary>[^<>]*</summary>")


def render_summary(plans: Sequence[tuple[AccountPlan, str]], hint: str, version: str,
                   marker: str = SUMMARY_MARKER, intro: Sequence[str] = ()) -> str:
    """The one plan comment for every account a pull request touches: counts per account,
    then a folded section per distinct change (accounts with the same change share it), at
    the most detailed level at which all fit GitHub's limit. Deletions, replacements,
    policy documents and escalation findings are in every section not marked too large."""
    changed = [(p, d) for p, d in plans if p.changes]
    rows = _rows([plan for plan, _ in changed])
    empty = Comment(marker, version, len(plans), tuple(intro), rows, ())
    for level in range(TOO_LARGE_LEVEL + 1):
        groups: dict[str, list[tuple[str, str]]] = {}
        for plan, digest in changed:
            groups.setdefault(section_text(plan, hint, level), []).append(
                (plan.config.name, digest))
        for length in (SHORT_DIGEST, SHORTEST_DIGEST):
            sections = tuple(Section({name: short(d, length) for name, d in members}, level,
                                     text) for text, members in groups.items())
            text = Comment(marker, version, len(plans), tuple(intro), rows, sections).compose()
            if len(text) <= MARKDOWN_BUDGET:
                return text
    return "\n".join([*empty.head(), "", "**Too many accounts change in too many ways to show "
                                          "in one comment**, so none of them is applied on "
                                          "merge: split the pull request."]) + "\n"


def _row(plan: AccountPlan) -> Row:
    new = len(plan.consequences.new_findings) if plan.consequences else 0
    summary = plan.summary()
    return Row((plan.config.name,), plan.config.account_id, summary[CREATE], summary[UPDATE],
               summary[DELETE], new, accepted_here(plan))


TABLE_BUDGET = MARKDOWN_BUDGET // 2  # the rest is for the sections


def _rows(plans: Sequence[AccountPlan]) -> tuple[Row, ...]:
    """A row per account; when those take more than TABLE_BUDGET, one row per set of
    accounts with the same counts (adds, changes, destroys, new findings)."""
    rows = tuple(_row(plan) for plan in plans)
    if sum(len(row.text()) + 1 for row in rows) <= TABLE_BUDGET:
        return rows
    together: dict[tuple[int | str, ...], list[Row]] = {}
    for row in rows:
        together.setdefault(row.same_counts(), []).append(row)
    return tuple(dataclasses.replace(group[0], names=tuple(n for r in group for n in r.names),
                                     account_id=group[0].account_id if len(group) == 1 else "")
                 for group in together.values())


def row_shows(row: Row, plan: AccountPlan) -> bool:
    """Whether a table row (checked again on apply) is this plan's: its account among the
    row's, the same counts, and its id when the row is its own."""
    own = _row(plan)
    return plan.config.name in row.names and row.same_counts() == own.same_counts() and (
        len(row.names) > 1 or row.account_id == own.account_id)
