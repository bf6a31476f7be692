"""Plan outputs: text for terminals, markdown for PR comments, JSON for machines.

Generic over the kinds: each kind describes its own changes (`describe`) and names the
policy documents they are about (`documents`); this module lays them out. None of them
ever holds a secret: changes carry no passwords or keys to begin with.

What a reviewer must see is never what is left out: in a PR comment too large for GitHub,
deletions, replacements and policy documents stay; only other changes are cut, and the
comment says exactly how much was cut and where the full plan is.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from iamstate import planfile
from iamstate.changes import CREATE, DELETE, UPDATE, Change, Delete, Replace
from iamstate.kinds import kind_of
from iamstate.meaning import ACCEPTED, NEW, grant_line
from iamstate.plan import AccountPlan
from iamstate.policy import PolicyDocument

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
    return one_line(f"{change.symbol} {change.verb} {kind.label} {kind.key(change.subject)}")


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
    cut_people: int = 0
    cut_other: int = 0
    cut_kept: int = 0
    brief: bool = False
    notes: list[str] = field(default_factory=list)

    def text(self, other: int | None, kept: int | None) -> list[str]:
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
        # update does beyond its headline (its detail lines) is cut.
        details = 0 if other is None else other
        shown_other = []
        for line in self.other:
            if line.startswith("    ") and other is not None:
                if details <= 0:
                    continue
                details -= 1
            shown_other.append(line)
        if shown_other:
            out += ["", "**Other changes**", "", "```diff", *shown_other, "```"]
        shown_kept = self.kept if kept is None else self.kept[:kept]
        if shown_kept:
            out += ["", "**Kept** (not iamstate's to change)", "", "```text", *shown_kept,
                    "```"]
        self.cut_other = len(self.other) - len(shown_other)
        self.cut_kept = len(self.kept) - len(shown_kept)
        return out


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
    for change in plan.changes:
        lines = [headline(change), *(f"    {line}" for line in detail_lines(change))]
        if is_destructive(change):
            must += lines
            brief.append(lines[0])
        else:
            other += lines
        diff = diff_lines(change)
        if diff:
            name = kind_of(change).key(change.subject)
            documents += [escape_md(f"`{change.verb} {kind_of(change).label} {name}`"), "",
                          "```diff", *diff, "```", ""]
    kept = kept_lines(plan)
    findings = admin_lines(plan, 20) + finding_lines(plan)
    return _Section(head, must, brief, documents, other, kept, findings,
                    people_lines(plan, 20))


# How much of what may be cut is shown: (other lines, kept items); then "brief" (deletions
# by headline only), then the too-large notice. Level 0 shows everything.
LEVELS: tuple[tuple[int | None, int | None], ...] = (
    (None, None), (2000, 200), (500, 50), (100, 20), (20, 5), (0, 0))
BRIEF, TOO_LARGE_LEVEL = len(LEVELS), len(LEVELS) + 1


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

    def compose(other: int | None, kept: int | None) -> str:
        out = list(head)
        for section in sections:
            out += ["", *section.text(other, kept)]
            cut = [f"{what} not shown here" for what, n in (
                (f"{section.cut_other:,} detail lines of creations and updates",
                 section.cut_other), (f"{section.cut_kept:,} kept items", section.cut_kept),
                (f"{section.cut_people:,} sets of users' permission changes",
                 section.cut_people)) if n]
            if cut:
                out += ["", f"_{' and '.join(cut)} ({section.cut_other + section.cut_kept:,} "
                            f"more lines not shown here); every change (by its headline), "
                            f"deletion, replacement, policy document change, new "
                            f"administrator and escalation finding is above. The full plan: "
                            f"{hint}._"]
            if section.brief:
                out += ["", "_What each deletion removes is left out here to fit GitHub's "
                            f"comment limit; the full plan: {hint}._"]
        return "\n".join(out) + "\n"

    if level == BRIEF:
        for section in sections:
            section.brief = True
        return compose(0, 0)
    return compose(*LEVELS[level])


def _too_large(plans: Sequence[AccountPlan], hint: str, anonymous: bool = False) -> str:
    """Even the deletions and policy documents alone do not fit: say so, never cut them."""
    lines = [f"**{summary_line(plans)}**", "",
             "**This plan is too large to review in a comment**: its deletions, replacements "
             f"and policy document changes alone exceed GitHub's limit. Review all of it in "
             f"{hint}; the digest below covers every change.", ""]
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


def short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:SHORT_DIGEST]


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
    new = len(plan.consequences.new_findings) if plan.consequences else 0
    summary = plan.summary()
    return (f"| `{plan.config.name}` | {plan.config.account_id} | {summary['create']} | "
            f"{summary['update']} | {summary['delete']} | {'**' + str(new) + '**' if new else 0} "
            f"| {accepted_here(plan)} |")


def accepted_here(plan: AccountPlan) -> str:
    """The findings this plan introduces that `accepted_risks` accepts, each with the
    entry's file:line: unfolded, so a pull request that accepts its own finding shows it
    where every reviewer looks (not only inside a folded section)."""
    found = [f for f in plan.consequences.findings if f.status == ACCEPTED] \
        if plan.consequences else []
    return "<br>".join(escape_md(f"{f.id} {f.principal} at {f.accepted_at or '?'}")
                       for f in found) or "none"


def group_summary(names: Sequence[str], plan: AccountPlan) -> str:
    """The line a section is folded under (checked again on apply)."""
    shown = escape_md(", ".join(f"`{name}`" for name in names))
    return f"<details><summary>{shown}: {counts(plan)}</summary>"


def _group_block(members: Sequence[tuple[AccountPlan, str]], text: str, level: int
                 ) -> list[str]:
    digests = ",".join(f"{p.config.name}:{short(d)}" for p, d in members)
    return ["", group_summary([p.config.name for p, _ in members], members[0][0]), "",
            f"<!-- iamstate-accounts level={level} digests={digests} -->", text,
            SECTION_END, "", "</details>"]


def render_summary(plans: Sequence[tuple[AccountPlan, str]], hint: str, version: str,
                   marker: str = SUMMARY_MARKER, intro: Sequence[str] = ()) -> str:
    """The one plan comment for every account a pull request touches: counts per account,
    then a folded section per distinct change (accounts with the same change share it), at
    the most detailed level at which all fit GitHub's limit. Deletions, replacements,
    policy documents and escalation findings are in every section not marked too large."""
    changed = [(p, d) for p, d in plans if p.changes]
    head = [marker, f"**iamstate {version}: {summary_line([p for p, _ in plans])}** "
                    f"{len(plans):,} account(s) planned, {len(changed):,} with changes.", "",
            *intro]
    if changed:
        head += ["| account | id | add | change | destroy | new findings | accepted here |",
                 "|---|---|---:|---:|---:|---:|---|"]
        head += [table_row(plan) for plan, _ in changed]
    room = MARKDOWN_BUDGET - len("\n".join(head))
    for level in range(TOO_LARGE_LEVEL + 1):
        groups: dict[str, list[tuple[AccountPlan, str]]] = {}
        for plan, digest in changed:
            groups.setdefault(section_text(plan, hint, level), []).append((plan, digest))
        blocks = [line for text, members in groups.items()
                  for line in _group_block(members, text, level)]
        if len("\n".join(blocks)) <= room:
            return "\n".join([*head, *blocks]) + "\n"
    return "\n".join([*head, "", "**Too many accounts change in too many ways to show in one "
                                  "comment**, so none of them is applied on merge: split the "
                                  "pull request."]) + "\n"
