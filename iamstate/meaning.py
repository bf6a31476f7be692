"""What a plan means for people, as data: the plan file and every renderer read it, and
none of them needs the engines that compute it (consequences.py) to be loaded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NEW, ACCEPTED, GONE = "new", "accepted", "gone"
UNREADABLE = "UNREADABLE-POLICY"


@dataclass(frozen=True)
class PlanFinding:
    id: str
    principal: str
    severity: str
    status: str
    detail: str
    via: tuple[str, ...] = ()
    accepted_at: str | None = None  # file:line of the acceptance in account.yaml

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "principal": self.principal,
                               "severity": self.severity, "status": self.status,
                               "detail": self.detail, "via": list(self.via)}
        if self.accepted_at:
            out["accepted_at"] = self.accepted_at
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanFinding:
        return cls(data["id"], data["principal"], data["severity"], data["status"],
                   data.get("detail", ""), tuple(data.get("via", ())), data.get("accepted_at"))


@dataclass(frozen=True)
class Consequences:
    """Per user: gains, losses, admin (as JSON, SPEC §3); the plan's findings."""

    users: Mapping[str, Mapping[str, Any]]
    findings: tuple[PlanFinding, ...]

    @property
    def new_findings(self) -> tuple[PlanFinding, ...]:
        return tuple(f for f in self.findings if f.status == NEW)

    def new_admins(self) -> list[str]:
        return sorted(name for name, change in self.users.items()
                      if change.get("admin") and not change.get("admin_before"))

    def to_json(self) -> dict[str, Any]:
        return {"users": {name: {k: v for k, v in change.items() if k != "admin_before"}
                          for name, change in self.users.items()},
                "findings": [f.to_json() for f in self.findings]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Consequences:
        return cls(dict(data.get("users", {})),
                   tuple(PlanFinding.from_json(f) for f in data.get("findings", ())))


def _compact(value: Any) -> str:
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def grant_line(grant: Mapping[str, Any], max_actions: int | None = None) -> str:
    """One grant (as `Grant.to_json` writes it, so a plan file renders the same) on a line;
    past `max_actions`, the rest of the actions are counted (the plan JSON has them all)."""
    actions = list(grant["actions"])
    if max_actions is not None and len(actions) > max_actions:
        services = len({a.partition(":")[0] for a in actions})
        actions = [*actions[:max_actions],
                   f"... {len(actions) - max_actions:,} more in {services:,} services"]
    text = f"{', '.join(actions)} on {', '.join(grant['resources'])}"
    if grant.get("not_resources"):
        text += f" except {', '.join(grant['not_resources'])}"
    if grant.get("conditions"):
        text += f" when {_compact(grant['conditions'])}"
    text += "".join(f" unless {_compact(block)}" for block in grant.get("unless", ()))
    sources = f"via {', '.join(grant['via'])}"
    if grant.get("denied_by"):
        sources += f"; restricted by {', '.join(grant['denied_by'])}"
    return f"{text}  ({sources})"
