"""The new escalation paths of a plan as a mermaid graph (user -> group -> action ->
target), which GitHub and GitLab draw in a comment: a reviewer sees at a glance who reaches
what through which group. Bounded: at most MAX_NODES nodes, and the graph says how many
paths it left out (every one is in the findings' text above it).

Labels are quoted and every character outside a plain set is written as mermaid's entity
code (`#quot;`, `#60;`): a name from the repository or from AWS cannot end a label, add an
edge, or close the code block (its text is `one_line` already: no newline, no backtick)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from iamstate.analysis.meaning import NEW, EscalationFinding

MAX_NODES = 40  # a graph a reviewer can read in a comment; the rest counted
SAFE = re.compile(r"[A-Za-z0-9 _.:/*@+=,$-]")


def label(text: str) -> str:
    """A node's label, quoted, with everything outside SAFE as an entity code."""
    return '"' + "".join(ch if SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text) + '"'


def groups_of(finding: EscalationFinding) -> list[str]:
    """The groups a user's path goes through: the sources (`group/NAME ...`) it names."""
    if not finding.principal.startswith("user/"):
        return []
    return sorted({source.split(" ", 1)[0] for source in finding.via
                   if source.startswith("group/")})


def steps(finding: EscalationFinding) -> list[list[str]]:
    """The chains of one finding: principal, a group it is through (if any), an action,
    a target. A finding without a reach (administrator-equivalence) ends at its id."""
    via = groups_of(finding) or [""]
    ends = [(r.action, target) for r in finding.reach for target in r.resources] or \
        [(finding.id, "")]
    return [[p for p in (finding.principal, group, action, target) if p]
            for group in via for action, target in ends]


@dataclass
class _Graph:
    nodes: dict[str, str] = field(default_factory=dict)  # label -> id
    edges: dict[tuple[str, str], None] = field(default_factory=dict)  # ordered, unique

    def fits(self, chains: Sequence[Sequence[str]]) -> bool:
        new = {n for chain in chains for n in chain if n not in self.nodes}
        return len(self.nodes) + len(new) <= MAX_NODES

    def add(self, chain: Sequence[str]) -> None:
        ids = [self.nodes.setdefault(n, f"n{len(self.nodes)}") for n in chain]
        for edge in pairwise(ids):
            self.edges[edge] = None


def escalation_graph(findings: Sequence[EscalationFinding]) -> list[str]:
    """A ```mermaid block of the plan's new escalation paths, or nothing when it has none.
    Whole findings only: a path is drawn complete or counted as left out."""
    new = [f for f in findings if f.status == NEW]
    if not new:
        return []
    graph, left = _Graph(), 0
    for finding in new:
        chains = steps(finding)
        if not graph.fits(chains):
            left += 1
            continue
        for chain in chains:
            graph.add(chain)
    lines = ["```mermaid", "graph LR"]
    lines += [f"  {node}[{label(text)}]" for text, node in graph.nodes.items()]
    lines += [f"  {a} --> {b}" for a, b in graph.edges]
    if left:
        note = f"{left:,} more new paths not drawn: see the findings above"
        lines.append(f"  more[{label(note)}]")
    return [*lines, "```"]
