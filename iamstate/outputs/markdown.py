"""Markdown for pull requests (and drift issues): one section per account, under the
host's comment limit however large the plan, at the most detailed level that fits.

What a reviewer must see is never what is left out: in a comment too large for the host,
deletions, replacements and policy documents stay; only other changes are cut, and the
comment says exactly how much was cut and where the full plan is. How the host's plan
comment frames these sections (markers, digests, the table) is hosts/comment.py's.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from iamstate.analysis.findings import Finding, cis_label
from iamstate.outputs.base import Output, Validation
from iamstate.outputs.lines import (
    ChangeView,
    Line,
    PeopleBlock,
    Role,
    admin_lines,
    counts,
    diff_lines,
    finding_lines,
    grant_text,
    is_destructive,
    kept_lines,
    one_line,
    people_blocks,
    plain,
    summary_line,
)
from iamstate.outputs.mermaid import escalation_graph
from iamstate.plan.planner import AccountPlan
from iamstate.wording import count

GITHUB_COMMENT_LIMIT = 65_536
MARKDOWN_BUDGET = 60_000  # headroom under GitHub's limit for the marker and footer
NAMES_SHOWN = 20  # users named per line; the rest counted (all are in the plan file)


@dataclass
class _Section:
    """One account's markdown, in parts that must stay and parts that may be cut."""

    head: Sequence[str]
    must: Sequence[Line]  # deletions and replacements, with what they remove
    must_brief: Sequence[Line]  # the same, headlines only (if even they must shrink)
    documents: Sequence[str]  # every policy document change, in full (markdown)
    other: Sequence[Line]  # creations and updates: their detail lines may be cut (said)
    kept: Sequence[Line]
    findings: Sequence[Line] = ()  # admins and findings: never cut
    people: Sequence[PeopleBlock] = ()  # per-user blocks: may be cut
    graph: Sequence[str] = ()  # new escalation paths (bounded)
    items: Sequence[_Other] = ()  # `other` as changes, for grouping
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
            out += ["", "**What this plan means for people**", "", "```text",
                    *(plain(line) for line in self.findings), "```"]
        if self.graph:
            out += ["", "**New escalation paths**", "", *self.graph]
        shown_people = self.people if other is None else self.people[:max(other // 10, 0)]
        for block in shown_people:
            out += ["", f"<details><summary>{escape_md(block.who.text)} "
                        f"{_gain_summary(block)}</summary>", "", "```diff",
                    *(_as_diff(line) for line in block.grants), "```", "</details>"]
        self.cut_people = len(self.people) - len(shown_people)
        must = self.must_brief if self.brief else self.must
        if must:
            out += ["", f"**Deletions and replacements** ({_n(must)})", "",
                    "```diff", *map(_diffed, must), "```"]
        if self.documents:
            out += ["", "<details><summary>Policy document changes</summary>", "",
                    *self.documents, "</details>"]
        # Every change's headline stays, whatever the level: only what a creation or
        # update does beyond its headline (its detail lines) is cut. When even the
        # headlines do not fit, identical changes (same kind, verb, details; only the
        # member differs) show as one headline, their members listed in a folded part.
        lines, folded, self.cut_members = (_grouped(self.items, members) if grouping
                                           else (self.other, [], 0))
        self.grouped = sum(len(g) for g in _groups(self.items)) if grouping else 0
        details = 0 if other is None else other
        shown_other = []
        for line in lines:
            if line.role is Role.DETAIL and other is not None:
                if details <= 0:
                    continue
                details -= 1
            shown_other.append(line)
        if shown_other:
            out += ["", "**Other changes**", "", "```diff", *map(_diffed, shown_other), "```"]
        if folded:
            out += ["", "<details><summary>Members of the grouped changes</summary>", "",
                    *folded, "</details>"]
        shown_kept = self.kept if kept is None else self.kept[:kept]
        if shown_kept:
            out += ["", "**Kept** (not iamstate's to change)", "", "```text",
                    *(line.text for line in shown_kept), "```"]
        self.cut_other = len(lines) - len(shown_other)
        self.cut_kept = len(self.kept) - len(shown_kept)
        return out


@dataclass(frozen=True)
class _Other:
    """A creation or update: its headline and details, and what makes it identical to
    others (everything but its member: the first word of its name)."""

    headline: Line
    details: tuple[Line, ...]
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


def _grouped(items: Sequence[_Other], members: int | None
             ) -> tuple[list[Line], list[str], int]:
    """The changes' lines with identical changes as one headline each, in the order of
    their first member; the folded part: each group's members (at most `members` a group,
    then how many more the plan file artifact lists); and how many groups were cut so."""
    groups = {id(group[0]): group for group in _groups(items)}
    member_of = {id(item): id(group[0]) for group in groups.values() for item in group}
    lines: list[Line] = []
    folded: list[str] = []
    cut = 0
    for item in items:
        first = member_of.get(id(item))
        if first is None:
            lines += [item.headline, *item.details]
            continue
        if first != id(item):
            continue
        group = groups[first]
        symbol, verb, label, context = item.signature[:4]
        title = one_line(f"{symbol} {verb} {len(group):,} {_plural(label)} "
                         f"{group[0].member} ... {group[-1].member}"
                         + (f" {context}" if context else ""))
        lines += [Line(Role.HEADLINE, title, symbol), *item.details]
        names = [g.member for g in group]
        shown = names if members is None else names[:members]
        folded += [escape_md(f"`{title}`"), "", "```text", *(one_line(n) for n in shown),
                   "```", ""]
        if len(shown) < len(names):
            cut += 1
            folded[-1:] = [f"... {len(names) - len(shown):,} more in the plan file artifact",
                           ""]
    return lines, folded, cut


def _n(lines: Sequence[Line]) -> str:
    return f"{sum(1 for line in lines if line.role is Role.HEADLINE):,}"


def _diffed(line: Line) -> str:
    """A change's line in a diff block: the headline as it is (its sign colours it), the
    details indented under it."""
    return line.text if line.role is Role.HEADLINE else f"    {line.text}"


def _as_diff(line: Line) -> str:
    """A grant line for a markdown diff block: gains green (+), losses red (-)."""
    if line.role is Role.CONDITIONS:
        return f"  {line.text}"  # a context line under its grant
    if line.role is Role.GAIN:
        return f"+ {line.text}"
    if line.role is Role.LOSS:
        return f"- {line.text}"
    return f"? {grant_text(line)}"


def _gain_summary(block: PeopleBlock) -> str:
    return f"({block.count(Role.GAIN)} gained, {block.count(Role.LOSS)} lost)"


_PARTS: dict[tuple[int, bool], tuple[weakref.ref[AccountPlan], _Section]] = {}


def _section(plan: AccountPlan, anonymous: bool = False) -> _Section:
    """A plan's section, its parts worked out once per plan (a comment is tried at up to
    17 levels of detail, and apply renders each again): only what is cut differs."""
    key = (id(plan), anonymous)
    cached = _PARTS.get(key)
    if cached is None or cached[0]() is not plan:
        cached = (weakref.ref(plan, lambda _: _PARTS.pop(key, None)),
                  _parts(plan, anonymous))
        _PARTS[key] = cached
    return dataclasses.replace(cached[1])


def _parts(plan: AccountPlan, anonymous: bool) -> _Section:
    config = plan.config
    head = [f"### Account `{config.name}` ({config.account_id}): {counts(plan)}"
            if not anonymous else f"### {counts(plan)}"]
    if not plan.changes:
        head += ["", "No changes. Live state matches the repository."]
    must: list[Line] = []
    brief: list[Line] = []
    documents: list[str] = []
    other: list[Line] = []
    items: list[_Other] = []
    for change in plan.changes:
        view = ChangeView.of(change)
        if view.destructive:
            must += [view.headline, *view.details]
            brief.append(view.headline)
        else:
            other += [view.headline, *view.details]
            member, _, context = view.key.partition(" ")
            items.append(_Other(view.headline, view.details, member, (
                change.symbol, change.verb, view.label, context,
                *(d.text for d in view.details))))
        if view.diff:
            documents += [escape_md(f"`{change.verb} {view.label} {view.key}`"), "",
                          "```diff", *(line.text for line in view.diff), "```", ""]
    findings = admin_lines(plan, NAMES_SHOWN) + finding_lines(plan)
    graph = escalation_graph(plan.consequences.findings) if plan.consequences else []
    return _Section(tuple(head), tuple(must), tuple(brief), tuple(documents), tuple(other),
                    tuple(kept_lines(plan)), tuple(findings),
                    tuple(people_blocks(plan, NAMES_SHOWN)), tuple(graph), tuple(items))


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
        lines += [f"  - {escape_md(line.text)}" for line in admin_lines(plan, NAMES_SHOWN)]
        lines += [f"  - {escape_md(line.text)}" for line in finding_lines(plan)
                  if line.role is Role.NEW_FINDING]
    return "\n".join(lines)[:MARKDOWN_BUDGET] + "\n"


def _what_exceeds(plans: Sequence[AccountPlan]) -> str:
    """Exactly what did not fit, in characters: the part that is never cut (deletions and
    replacements by headline, policy document changes in full)."""
    sections = [_section(p) for p in plans]
    brief = sum(len(line.text) + 1 for s in sections for line in s.must_brief)
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


def escape_md(text: str) -> str:
    """Text outside code blocks: no HTML (a `<!--` would hide the rest of the comment)."""
    return one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class MarkdownOutput(Output):
    name = "markdown"

    def plan(self, plans: Sequence[AccountPlan]) -> None:
        self.write(render_markdown(plans))

    def audit(self, findings: Mapping[str, Sequence[Finding]]) -> None:
        def cell(text: str) -> str:
            return escape_md(text).replace("|", "\\|")

        lines: list[str] = []
        for account, found in findings.items():
            lines += [f"### Audit of `{account}`: {count(len(found), 'finding')}", "",
                      "| rule | resource | finding | fix |", "|---|---|---|---|"]
            lines += [f"| {f.rule} {cis_label(f.references)} | `{cell(f.subject)}` | "
                      f"{cell(f.message)} | {cell(f.fix)} |" for f in found]
            lines.append("")
        self.write("\n".join(lines))

    def validate(self, result: Validation) -> None:
        if result.valid:
            head = f"**Valid**: {result.accounts} account(s), {result.users} user(s)."
        else:
            head = f"**{len(result.problems)} error(s)**; nothing was changed in AWS."
        lines = [head, *(f"- error: `{escape_md(str(p))}`" for p in result.problems),
                 *(f"- warning: {escape_md(w)}" for w in result.warnings)]
        self.write("\n".join(lines))
