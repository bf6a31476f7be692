"""Plan outputs: text for terminals, markdown for PR comments, JSON for machines.

Generic over the kinds: each kind describes its own changes (`describe`) and names the
policy documents they are about (`documents`); this module lays them out. None of them
ever holds a secret: changes carry no passwords or keys to begin with.

What a reviewer must see is never what is left out: in a PR comment too large for GitHub,
deletions, replacements and policy documents stay; only other changes are cut, and the
comment says exactly how much was cut and where the full plan is.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from iamstate.analysis.meaning import ACCEPTED, NEW, grant_line
from iamstate.model.changes import CREATE, DELETE, UPDATE, Change, Delete, Replace
from iamstate.plan import planfile
from iamstate.plan.kinds import kind_of
from iamstate.plan.planner import AccountPlan
from iamstate.repository.policy import PolicyDocument

GITHUB_COMMENT_LIMIT = 65_536
MARKDOWN_BUDGET = 60_000  # headroom under GitHub's limit for the marker and footer
MAX_ACTIONS = 12  # per grant in text and markdown; the plan JSON lists them all
STYLES = {"+": "green", "~": "yellow", "-": "red", "-/+": "red"}


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


def headline(change: Change) -> str:
    kind = kind_of(change)
    why = kind.why(change)
    return one_line(f"{change.symbol} {change.verb} {kind.label} {kind.key(change.subject)}"
                    + (f" ({why})" if why else ""))


def detail_lines(change: Change) -> list[str]:
    """The indented lines under a change: what it does beyond its headline."""
    return [one_line(line) for line in kind_of(change).describe(change)]


def document_diff(before: PolicyDocument | None, after: PolicyDocument | None) -> list[str]:
    """A readable unified diff of two documents, in their normalised form; a whole
    document (all + or all -) when one side is missing."""
    old = before.pretty().splitlines() if before else []
    new = after.pretty().splitlines() if after else []
    if not old or not new:
        return [f"{'-' if old else '+'}{line}" for line in old or new]
    return list(difflib.unified_diff(old, new, "live", "repository", lineterm="", n=2))[2:]


def diff_lines(change: Change) -> list[str]:
    documents = kind_of(change).documents(change)
    if documents is None or documents[0] == documents[1]:
        return []
    return [one_line(line) for line in document_diff(*documents)]


def is_destructive(change: Change) -> bool:
    return isinstance(change, Delete | Replace)


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


def _names(names: Sequence[str], limit: int | None) -> str:
    if limit is None or len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit:,} more"


def people(plan: AccountPlan) -> list[tuple[list[str], Mapping[str, Any]]]:
    """Users whose permissions change, those with the same change together (a change to
    the common group is one entry, not thousands)."""
    if plan.consequences is None:
        return []
    together: dict[str, tuple[list[str], Mapping[str, Any]]] = {}
    for name, change in plan.consequences.users.items():
        key = json.dumps(change, sort_keys=True, default=str)
        together.setdefault(key, ([], change))[0].append(name)
    return sorted(together.values(), key=lambda entry: entry[0][0])


def kept_lines(plan: AccountPlan) -> list[str]:
    return [one_line(f"= keep {k.kind} {k.name}: {k.reason}") for k in plan.kept]


def admin_lines(plan: AccountPlan, limit_names: int | None = None) -> list[str]:
    """The first thing a reviewer must read: who becomes administrator-equivalent."""
    meaning = plan.consequences
    if meaning is None:
        return []
    lines = []
    for flag, verb in ((True, "becomes"), (False, "is no longer")):
        names = sorted(n for n, c in meaning.users.items()
                       if bool(c.get("admin")) == flag and bool(c.get("admin_before")) != flag)
        if names:
            lines.append(one_line(f"! {_names(names, limit_names)} {verb} "
                                  "administrator-equivalent"))
    return lines


def finding_lines(plan: AccountPlan) -> list[str]:
    meaning = plan.consequences
    if meaning is None:
        return []
    lines = []
    for finding in meaning.findings:
        where = f" [accepted at {finding.accepted_at}]" if finding.accepted_at else ""
        refs = f" [{', '.join(finding.references)}]" if finding.references else ""
        lines.append(one_line(f"{finding.status:<9} {finding.id} {finding.principal} "
                              f"({finding.severity}): {finding.detail}{refs}{where}"))
        if finding.status == NEW:  # exactly this reach, for a reviewer who accepts it
            lines.append(one_line(f"          to accept, under accepted_risks: "
                                  f"{finding.acceptance()}"))
    return lines


GAINS, LOSES, UNREAD = "gains", "loses", "cannot tell"


def people_lines(plan: AccountPlan, limit_names: int | None = None) -> list[list[str]]:
    """One block per set of users with the same change: their names, then a line per grant
    (`gains ...`, `loses ...`; never `+`/`-`, which are plan changes in text output)."""
    blocks = []
    for names, change in people(plan):
        lines = [f"{_names(names, limit_names)}:"]
        lines += [f"  {GAINS} {grant_line(g, MAX_ACTIONS)}" for g in change.get("gains", ())]
        lines += [f"  {LOSES} {grant_line(g, MAX_ACTIONS)}" for g in change.get("losses", ())]
        lines += [f"  {UNREAD}: what policy {arn} grants could not be read"
                  for arn in change.get("unknown_policies", ())]
        blocks.append([one_line(line) for line in lines])
    return blocks


def _as_diff(line: str) -> str:
    """A grant line for a markdown diff block: gains green (+), losses red (-)."""
    text = line.strip()
    for word, sign in ((GAINS, "+"), (LOSES, "-")):
        if text.startswith(word + " "):
            return f"{sign} {text[len(word) + 1:]}"
    return f"? {text}"


def meaning_lines(plan: AccountPlan, limit_names: int | None = None) -> list[str]:
    admins, findings = admin_lines(plan, limit_names), finding_lines(plan)
    blocks = people_lines(plan, limit_names)
    if not (admins or findings or blocks):
        return []
    lines = ["", "  What this plan means for people:"]
    lines += [f"    {line}" for line in admins]
    lines += [f"    {line}" for block in blocks for line in block]
    if findings:
        lines += ["  Privilege-escalation findings:", *(f"    {line}" for line in findings)]
    return lines


def render_text(plans: Sequence[AccountPlan], console: Console) -> None:
    for plan in plans:
        config = plan.config
        console.print(f"[bold]Account {escape(config.name)}[/bold] ({config.account_id})")
        if not plan.changes:
            console.print("  No changes. Live state matches the repository.")
        for change in plan.changes:
            style = STYLES[change.symbol]
            console.print(f"  [{style}]{escape(headline(change))}[/{style}]")
            for line in detail_lines(change):
                console.print(f"      {escape(line)}")
            for line in diff_lines(change):
                colour = "green" if line.startswith("+") else "red" if line.startswith(
                    "-") else "dim"
                console.print(f"      [{colour}]{escape(line)}[/{colour}]")
        for line in kept_lines(plan):
            console.print(f"  {escape(line)}")
        for line in meaning_lines(plan, limit_names=5):
            style = "bold red" if line.lstrip().startswith(("!", "new ")) else ""
            console.print(f"[{style}]{escape(line)}[/{style}]" if style else escape(line))
        console.print()
    console.print(f"[bold]{summary_line(plans)}[/bold]")


@dataclass
class _Section:
    """One account's markdown, in parts that must stay and parts that may be cut."""

    head: list[str]
    must: list[str]  # deletions and replacements, with what they remove
    must_brief: list[str]  # the same, headlines only (if even they must shrink)
    documents: list[str]  # every policy document change, in full
    other: list[str]  # creations and updates: their detail lines may be cut (said)
    kept: list[str]
    findings: list[str] = field(default_factory=list)  # admins and findings: never cut
    people: list[list[str]] = field(default_factory=list)  # per-user blocks: may be cut
    items: list[_Other] = field(default_factory=list)  # `other` as changes, for grouping
    cut_people: int = 0
    cut_other: int = 0
    cut_kept: int = 0
    cut_members: int = 0
    grouped: int = 0  # changes shown inside groups of identical changes
    brief: bool = False
    notes: list[str] = field(default_factory=list)

    def text(self, other: int | None, kept: int | None,
             members: int | None = None, grouping: bool = False) -> list[str]:
        out = list(self.head)
        if self.findings:
            out += ["", "**What this plan means for people**", "", "```text", *self.findings,
                    "```"]
        shown_people = self.people if other is None else self.people[:max(other // 10, 0)]
        for block in shown_people:
            out += ["", f"<details><summary>{escape_md(block[0])} "
                        f"{_gain_summary(block)}</summary>", "", "```diff",
                    *(_as_diff(line) for line in block[1:]), "```", "</details>"]
        self.cut_people = len(self.people) - len(shown_people)
        must = self.must_brief if self.brief else self.must
        if must:
            out += ["", f"**Deletions and replacements** ({_n(must, self.brief)})", "",
                    "```diff", *must, "```"]
        if self.documents:
            out += ["", "<details><summary>Policy document changes</summary>", "",
                    *self.documents, "</details>"]
        # Every change's headline stays, whatever the level: only what a creation or
        # update does beyond its headline (its detail lines) is cut. When even the
        # headlines do not fit, identical changes (same kind, verb, details; only the
        # member differs) show as one headline, their members listed in a folded part.
        lines, folded = (_grouped(self.items, members) if grouping else (self.other, []))
        self.grouped = sum(len(g) for g in _groups(self.items)) if grouping else 0
        self.cut_members = sum(1 for line in folded if line.startswith("... "))
        details = 0 if other is None else other
        shown_other = []
        for line in lines:
            if line.startswith("    ") and other is not None:
                if details <= 0:
                    continue
                details -= 1
            shown_other.append(line)
        if shown_other:
            out += ["", "**Other changes**", "", "```diff", *shown_other, "```"]
        if folded:
            out += ["", "<details><summary>Members of the grouped changes</summary>", "",
                    *folded, "</details>"]
        shown_kept = self.kept if kept is None else self.kept[:kept]
        if shown_kept:
            out += ["", "**Kept** (not iamstate's to change)", "", "```text", *shown_kept,
                    "```"]
        self.cut_other = len(lines) - len(shown_other)
        self.cut_kept = len(self.kept) - len(shown_kept)
        return out


@dataclass(frozen=True)
class _Other:
    """A creation or update: its headline and details, and what makes it identical to
    others (everything but its member: the first word of its name)."""

    headline: str
    details: tuple[str, ...]
    member: str
    signature: tuple[str, ...]


GROUP_MIN = 5  # identical changes shown as one headline from this many on


def _groups(items: Sequence[_Other]) -> list[list[_Other]]:
    together: dict[tuple[str, ...], list[_Other]] = {}
    for item in items:
        together.setdefault(item.signature, []).append(item)
    return [group for group in together.values() if len(group) >= GROUP_MIN]


def _plural(label: str) -> str:
    return f"{label[:-1]}ies" if label.endswith("y") else f"{label}s"


def _grouped(items: Sequence[_Other], members: int | None) -> tuple[list[str], list[str]]:
    """The changes' lines with identical changes as one headline each, in the order of
    their first member; and the folded part: each group's members (at most `members` a
    group, then how many more the plan file artifact lists)."""
    groups = {id(group[0]): group for group in _groups(items)}
    member_of = {id(item): id(group[0]) for group in groups.values() for item in group}
    lines: list[str] = []
    folded: list[str] = []
    for item in items:
        first = member_of.get(id(item))
        if first is None:
            lines += [item.headline, *(f"    {d}" for d in item.details)]
            continue
        if first != id(item):
            continue
        group = groups[first]
        symbol, verb, label, context = item.signature[:4]
        title = one_line(f"{symbol} {verb} {len(group):,} {_plural(label)} "
                         f"{group[0].member} ... {group[-1].member}"
                         + (f" {context}" if context else ""))
        lines += [title, *(f"    {d}" for d in item.details)]
        names = [g.member for g in group]
        shown = names if members is None else names[:members]
        folded += [escape_md(f"`{title}`"), "", "```text", *(one_line(n) for n in shown),
                   "```", ""]
        if len(shown) < len(names):
            folded[-1:] = [f"... {len(names) - len(shown):,} more in the plan file artifact",
                           ""]
    return lines, folded


def _n(lines: list[str], brief: bool) -> str:
    return f"{sum(1 for line in lines if not line.startswith('    ')):,}"


def escape_md(text: str) -> str:
    """Text outside code blocks: no HTML (a `<!--` would hide the rest of the comment)."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _gain_summary(block: list[str]) -> str:
    gains = sum(1 for line in block if line.startswith(f"  {GAINS} "))
    losses = sum(1 for line in block if line.startswith(f"  {LOSES} "))
    return f"({gains} gained, {losses} lost)"


def _section(plan: AccountPlan, anonymous: bool = False) -> _Section:
    config = plan.config
    head = [f"### Account `{config.name}` ({config.account_id}): {counts(plan)}"
            if not anonymous else f"### {counts(plan)}"]
    if not plan.changes:
        head += ["", "No changes. Live state matches the repository."]
    must: list[str] = []
    brief: list[str] = []
    documents: list[str] = []
    other: list[str] = []
    items: list[_Other] = []
    for change in plan.changes:
        details = detail_lines(change)
        lines = [headline(change), *(f"    {line}" for line in details)]
        if is_destructive(change):
            must += lines
            brief.append(lines[0])
        else:
            other += lines
            kind = kind_of(change)
            member, _, context = kind.key(change.subject).partition(" ")
            items.append(_Other(lines[0], tuple(details), member, (
                change.symbol, change.verb, kind.label, context, *details)))
        diff = diff_lines(change)
        if diff:
            name = kind_of(change).key(change.subject)
            documents += [escape_md(f"`{change.verb} {kind_of(change).label} {name}`"), "",
                          "```diff", *diff, "```", ""]
    kept = kept_lines(plan)
    findings = admin_lines(plan, 20) + finding_lines(plan)
    return _Section(head, must, brief, documents, other, kept, findings,
                    people_lines(plan, 20), items)


# How much of what may be cut is shown: (other lines, kept items); then "brief" (deletions
# by headline only), then the too-large notice. Level 0 shows everything.
LEVELS: tuple[tuple[int | None, int | None], ...] = (
    (None, None), (2000, 200), (500, 50), (100, 20), (20, 5), (0, 0))
# Then identical changes grouped, with at most this many members of each listed.
GROUPED: tuple[int, ...] = (2000, 500, 100, 20, 0)
BRIEF = len(LEVELS) + len(GROUPED)
TOO_LARGE_LEVEL = BRIEF + 1


def render_markdown(plans: Sequence[AccountPlan], full_plan_hint: str = "",
                    budget: int = MARKDOWN_BUDGET, anonymous: bool = False) -> str:
    """A PR comment under GitHub's 65,536-character limit (or `budget`) however large the
    plan, in which deletions, replacements and policy document changes are never the part
    left out: the most detailed level that fits."""
    for level in range(TOO_LARGE_LEVEL):
        text = render_level(plans, full_plan_hint, level, anonymous)
        if len(text) <= budget:
            return text
    return render_level(plans, full_plan_hint, TOO_LARGE_LEVEL, anonymous)


def render_level(plans: Sequence[AccountPlan], full_plan_hint: str, level: int,
                 anonymous: bool = False) -> str:
    """The plan at one level of detail (see LEVELS). `anonymous`: the account's name and id
    are left out (its id in ARNs shows as ${account_id}), so accounts with the same change
    render the same text."""
    hint = full_plan_hint or "run `iamstate plan` or see the plan file artifact"
    if level >= TOO_LARGE_LEVEL:
        return _too_large(plans, hint, anonymous)
    sections = [_section(p, anonymous) for p in plans]
    head = [f"**{summary_line(plans)}**"]

    def compose(other: int | None, kept: int | None, members: int | None = None,
                grouping: bool = False) -> str:
        out = list(head)
        for section in sections:
            out += ["", *section.text(other, kept, members, grouping)]
            cut = [f"{what} not shown here" for what, n in (
                (f"{section.cut_other:,} detail lines of creations and updates",
                 section.cut_other), (f"{section.cut_kept:,} kept items", section.cut_kept),
                (f"{section.cut_people:,} sets of users' permission changes",
                 section.cut_people)) if n]
            if cut:
                out += ["", f"_{' and '.join(cut)} ({section.cut_other + section.cut_kept:,} "
                            f"more lines not shown here); every change (by its headline"
                            f"{' or its group' + chr(39) + 's' if section.grouped else ''}), "
                            f"deletion, replacement, policy document change, new "
                            f"administrator and escalation finding is above. The full plan: "
                            f"{hint}._"]
            if section.grouped:
                out += ["", f"_{section.grouped:,} creations and updates are shown grouped: "
                            "identical changes (same kind, action and details) as one "
                            "headline, their members listed in the folded part"
                            + (" as far as they fit" if section.cut_members else "")
                            + "; every deletion, replacement and policy document change is "
                            f"shown on its own. The full plan: {hint}._"]
            if section.brief:
                out += ["", "_What each deletion removes is left out here to fit GitHub's "
                            f"comment limit; the full plan: {hint}._"]
        return "\n".join(out) + "\n"

    if level == BRIEF:
        for section in sections:
            section.brief = True
        return compose(0, 0, 0, grouping=True)
    if level >= len(LEVELS):
        shown = GROUPED[level - len(LEVELS)]  # members of each group, and detail lines
        return compose(shown, shown // 10, shown, grouping=True)
    return compose(*LEVELS[level])


def _too_large(plans: Sequence[AccountPlan], hint: str, anonymous: bool = False) -> str:
    """Even the deletions and policy documents alone do not fit: say so, never cut them."""
    lines = [f"**{summary_line(plans)}**", "",
             f"**This plan is too large to review in a comment**: {_what_exceeds(plans)}. "
             f"Review all of it in {hint}; the digest below covers every change.", ""]
    for plan in plans:
        destroyed = sum(1 for c in plan.changes if is_destructive(c))
        documents = sum(1 for c in plan.changes if diff_lines(c))
        who = "" if anonymous else f"`{plan.config.name}` ({plan.config.account_id}): "
        lines.append(f"- {who}{counts(plan)}; {destroyed:,} deletions or replacements, "
                     f"{documents:,} policy documents")
        lines += [f"  - {escape_md(line)}" for line in admin_lines(plan, 20)]
        lines += [f"  - {escape_md(line)}" for line in finding_lines(plan)
                  if line.startswith("new")]
    return "\n".join(lines)[:MARKDOWN_BUDGET] + "\n"


def _what_exceeds(plans: Sequence[AccountPlan]) -> str:
    """Exactly what did not fit, in characters: the part that is never cut (deletions and
    replacements by headline, policy document changes in full)."""
    sections = [_section(p) for p in plans]
    brief = sum(len(line) + 1 for s in sections for line in s.must_brief)
    documents = sum(len(line) + 1 for s in sections for line in s.documents)
    destroyed = sum(1 for s in sections for line in s.must_brief)
    changed = sum(1 for p in plans for c in p.changes if diff_lines(c))
    limit = f"the {MARKDOWN_BUDGET:,} characters a comment holds here"
    deletions = (f"its {destroyed:,} deletions and replacements take {brief:,} characters "
                 "by headline alone")
    docs = f"its {changed:,} policy document changes take {documents:,} characters"
    if brief > MARKDOWN_BUDGET:
        return f"{deletions}, more than {limit}"
    if documents > MARKDOWN_BUDGET:
        return f"{docs}, more than {limit}"
    return f"{deletions} and {docs}: together, with the rest grouped, more than {limit}"


def render_json(plans: Sequence[AccountPlan],
                extras: Sequence[Mapping[str, Any]] | None = None) -> str:
    return json.dumps(planfile.document(plans, extras), indent=2, sort_keys=False)


def report_lines(report: Any) -> list[str]:
    """An apply that stopped: what was done, what failed, what was not done, what next."""
    lines = [f"account {report.account}: apply "
             f"{'interrupted' if report.interrupted else 'stopped'}."]
    lines.append(f"Done ({len(report.done)}):")
    lines += [f"  {headline(c)}" for c in report.done] or ["  nothing"]
    lines.append(f"Failed ({len(report.failed)}):")
    lines += [f"  {headline(c)}: {why}" for c, why in report.failed] or ["  nothing"]
    lines.append(f"Not done ({len(report.not_done)}):")
    lines += [f"  {headline(c)}" for c in report.not_done] or ["  nothing"]
    lines += [f"  note: {note}" for note in report.notes]
    lines.append("Run `iamstate plan` again: it shows exactly what is left.")
    return lines


# -- the one plan comment of a pull request, with a section per account ------------------

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
        if line in ("```diff", "```text"):
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
