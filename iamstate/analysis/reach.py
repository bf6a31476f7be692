"""What an escalation path reaches, as a reviewer accepts it in account.yaml
(`accepted_risks: reach:`) and the plan records it: a small value type the model holds and
the analysis compares; it needs only IAM's wildcards (globs.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iamstate.analysis.globs import glob_covers


def _condition_triples(text: str) -> frozenset[tuple[str, str, tuple[str, ...]]]:
    """A Condition mapping (compact JSON) as (operator, key, values) triples: a request
    must satisfy every one, so more triples can only mean a narrower reach."""
    if not text:
        return frozenset()
    mapping = json.loads(text)
    out = set()
    for operator, keys in mapping.items():
        for key, values in keys.items():
            listed = values if isinstance(values, list) else [values]
            out.add((operator.lower(), key.lower(), tuple(sorted(map(str, listed)))))
    return frozenset(out)


@dataclass(frozen=True)
class Reach:
    """What one action of an escalation path reaches: its resources (less the excluded
    ones) under its conditions, and the conditions under which a Deny takes it away
    (`unless`). The route (which policy grants it) is not part of it: moving a grant to
    another policy changes nothing a reviewer accepted."""

    action: str
    resources: tuple[str, ...]
    not_resources: tuple[str, ...] = ()
    conditions: str = ""  # compact JSON of the Condition mapping; "" = unconditional
    unless: tuple[str, ...] = ()  # compact JSON of each Deny's condition block

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "resources": list(self.resources)}
        if self.not_resources:
            out["not_resources"] = list(self.not_resources)
        if self.conditions:
            out["conditions"] = json.loads(self.conditions)
        if self.unless:
            out["unless"] = [json.loads(u) for u in self.unless]
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Reach:
        def listed(value: Any) -> tuple[str, ...]:
            return tuple(sorted(str(v) for v in ([value] if isinstance(value, str)
                                                 else value or ())))

        return cls(str(data["action"]), listed(data.get("resources", ())),
                   listed(data.get("not_resources", ())),
                   compact(data["conditions"]) if data.get("conditions") else "",
                   tuple(sorted(compact(u) for u in data.get("unless") or ())))

    def within(self, other: Reach) -> bool:
        """Does `other` reach at least as far as this? The same action; every resource of
        this inside one of `other`'s; every exclusion and condition of `other` kept here;
        every Deny exception of `other` kept here. When unsure: no (a reviewer looks)."""
        if self.action.lower() != other.action.lower():
            return False
        if not all(any(glob_covers(o, r) for o in other.resources) for r in self.resources):
            return False
        if not all(any(glob_covers(mine, e) for mine in self.not_resources)
                   for e in other.not_resources):
            return False
        if not _condition_triples(other.conditions) <= _condition_triples(self.conditions):
            return False
        return set(other.unless) <= set(self.unless)


def reach_within(reach: Sequence[Reach], accepted: Sequence[Reach]) -> bool:
    """Is every part of `reach` inside some part of `accepted`? (Nothing reaches further.)"""
    return all(any(part.within(wide) for wide in accepted) for part in reach)


def compact(value: Any) -> str:
    return json.dumps(plain(value), sort_keys=True, separators=(",", ":"))


def plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
