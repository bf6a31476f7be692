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
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.markup import escape

from iamstate.analysis.meaning import NEW, grant_detail, grant_line
from iamstate.model.changes import CREATE, DELETE, UPDATE, Change, Delete, Replace
from iamstate.plan import planfile
from iamstate.plan.kinds import kind_of
from iamstate.plan.planner import AccountPlan
from iamstate.repository.policy import PolicyDocument
from iamstate.wording import agree, listed

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
            lines.append(one_line(f"! {listed(names, limit=limit_names)} "
                                  f"{agree(names, verb)} administrator-equivalent"))
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
DETAIL_INDENT = " " * 8  # under a grant's words: its conditions as written


def people_lines(plan: AccountPlan, limit_names: int | None = None) -> list[list[str]]:
    """One block per set of users with the same change: their names, then a line per grant
    (`gains ...`, `loses ...`; never `+`/`-`, which are plan changes in text output)."""
    blocks = []
    for names, change in people(plan):
        lines = [f"{_names(names, limit_names)}:"]
        user = names[0] if len(names) == 1 else None
        for word, key in ((GAINS, "gains"), (LOSES, "losses")):
            for grant in change.get(key, ()):
                lines.append(f"  {word} {grant_line(grant, MAX_ACTIONS, user)}")
                detail = grant_detail(grant)  # the JSON behind the words, folded
                lines += [f"{DETAIL_INDENT}{detail}"] if detail else []
        lines += [f"  {UNREAD}: what policy {arn} grants could not be read"
                  for arn in change.get("unknown_policies", ())]
        blocks.append([one_line(line) for line in lines])
    return blocks


def _as_diff(line: str) -> str:
    """A grant line for a markdown diff block: gains green (+), losses red (-)."""
    text = line.strip()
    if line.startswith(DETAIL_INDENT):
        return f"  {text}"  # a detail: a context line under its grant
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
