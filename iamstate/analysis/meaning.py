"""What a plan means for people, as data: the plan file and every renderer read it, and
none of them needs the engines that compute it (consequences.py) to be loaded."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from iamstate.analysis.conditions import wording
from iamstate.analysis.findings import Finding
from iamstate.analysis.reach import Reach, plain
from iamstate.wording import count

NEW, ACCEPTED, GONE = "new", "accepted", "gone"
UNREADABLE = "UNREADABLE-POLICY"


@dataclass(frozen=True)
class EscalationFinding:
    """A privilege-escalation path (or an administrator) of one principal: what the
    escalation engine finds on a state, and, with the `status` a plan gives it against the
    state before (new, accepted, gone), what the plan file holds and every renderer reads.
    One class for both, so the plan file and an audit say the same thing the same way."""

    id: str
    principal: str  # group/NAME or user/NAME
    severity: str
    detail: str
    via: tuple[str, ...] = ()  # the policies (sources) that enable it
    # What the path reaches: one entry per action it uses and grant allowing it (targets
    # and conditions, never the route). An acceptance pins this; a wider reach is new.
    reach: tuple[Reach, ...] = ()
    references: tuple[str, ...] = ()  # the same path in public catalogues
    status: str = ""  # in a plan: NEW, ACCEPTED or GONE; "" on a state
    accepted_at: str | None = None  # file:line of the acceptance in account.yaml

    def to_json(self) -> dict[str, Any]:
        """SPEC §3 `consequences.findings[]` (`status` once a plan set it). The keys keep
        their order: the plan file's digest is of its bytes."""
        out: dict[str, Any] = {"id": self.id, "principal": self.principal,
                               "severity": self.severity}
        if self.status:
            out["status"] = self.status
        out |= {"detail": self.detail, "via": list(self.via)}
        if self.accepted_at:
            out["accepted_at"] = self.accepted_at
        if self.reach:
            out["reach"] = [r.to_json() for r in self.reach]
        if self.references:
            out["references"] = list(self.references)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EscalationFinding:
        """A plan file's finding (its `status` is required there)."""
        return cls(data["id"], data["principal"], data["severity"], data.get("detail", ""),
                   tuple(data.get("via", ())),
                   tuple(Reach.from_json(r) for r in data.get("reach", ())),
                   tuple(data.get("references", ())), data["status"], data.get("accepted_at"))

    def finding(self) -> Finding:
        """As the one `Finding` every output reads (an accepted one says where)."""
        return Finding(self.id, self.principal, self.severity, self.detail,
                       "remove what enables it, or accept it in account.yaml's accepted_risks",
                       references=self.references, accepted_at=self.accepted_at or "")

    def acceptance(self) -> str:
        """The `accepted_risks` entry that accepts exactly this finding's reach, ready to
        paste under `accepted_risks:` (one YAML flow line; the reach is JSON, which YAML
        reads as it is)."""
        reach = (", reach: " + json.dumps([r.to_json() for r in self.reach], sort_keys=True)
                 if self.reach else "")
        return f"- {{id: {self.id}, principal: {self.principal}{reach}, reason: ...}}"




@dataclass(frozen=True)
class PlanGrant:
    """A gain or a loss as a plan holds it (SPEC §3 `gains[]`/`losses[]`): what the
    permission engine's grant says, without the engine's compiled sets, so a plan read
    back from its file holds the same objects as the plan in memory."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: Mapping[str, Any] = field(default_factory=dict, hash=False)
    via: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    unless: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    denied_by: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As the engine's `Grant.to_json` writes it: the optional parts only when they
        say something. (The conditions are plain JSON already: `from_json` made them so.)"""
        out: dict[str, Any] = {"actions": list(self.actions), "resources": list(self.resources),
                               "conditions": dict(self.conditions), "via": list(self.via)}
        if self.not_resources:
            out["not_resources"] = list(self.not_resources)
        if self.unless:
            out["unless"] = [dict(block) for block in self.unless]
        if self.denied_by:
            out["denied_by"] = list(self.denied_by)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanGrant:
        return cls(tuple(data["actions"]), tuple(data["resources"]),
                   plain(data.get("conditions") or {}), tuple(data["via"]),
                   tuple(data.get("not_resources", ())),
                   tuple(plain(block) for block in data.get("unless", ())),
                   tuple(data.get("denied_by", ())))

    def line(self, max_actions: int | None = None, user: str | None = None) -> str:
        return grant_line(self.to_json(), max_actions, user)

    def detail(self) -> str:
        """Its conditions as the policies write them ("" when the line shows them so)."""
        return grant_detail(self.to_json())


@dataclass(frozen=True)
class UserConsequence:
    """How a plan changes one user's permissions (SPEC §3 `consequences.users.<name>`)."""

    gains: tuple[PlanGrant, ...]
    losses: tuple[PlanGrant, ...]
    admin: bool  # administrator-equivalent after the plan
    admin_before: bool
    unknown_policies: tuple[str, ...] = ()  # documents that could not be read: said so

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"gains": [g.to_json() for g in self.gains],
                               "losses": [g.to_json() for g in self.losses],
                               "admin": self.admin}
        if self.unknown_policies:
            out["unknown_policies"] = list(self.unknown_policies)
        out["admin_before"] = self.admin_before
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserConsequence:
        """Every field required: a plan file that lost one is not a plan (a renderer
        reading a default would show a wrong comment)."""
        return cls(tuple(PlanGrant.from_json(g) for g in data["gains"]),
                   tuple(PlanGrant.from_json(g) for g in data["losses"]),
                   bool(data["admin"]), bool(data["admin_before"]),
                   tuple(data.get("unknown_policies", ())))


@dataclass(frozen=True)
class Consequences:
    """Per user: gains, losses, admin and admin_before (SPEC §3); the plan's findings.
    This one typed shape is what the plan file holds and what every renderer reads, so a
    plan read back from its file renders exactly as the plan in memory (the PR comment is
    rendered from the file, apply renders the plan it makes: they must agree)."""

    users: Mapping[str, UserConsequence]
    findings: tuple[EscalationFinding, ...]

    @property
    def new_findings(self) -> tuple[EscalationFinding, ...]:
        return tuple(f for f in self.findings if f.status == NEW)

    def new_admins(self) -> list[str]:
        return sorted(name for name, change in self.users.items()
                      if change.admin and not change.admin_before)

    def to_json(self) -> dict[str, Any]:
        return {"users": {name: change.to_json() for name, change in self.users.items()},
                "findings": [f.to_json() for f in self.findings]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Consequences:
        return cls({name: UserConsequence.from_json(change)
                    for name, change in data.get("users", {}).items()},
                   tuple(EscalationFinding.from_json(f) for f in data.get("findings", ())))


def grant_line(grant: Mapping[str, Any], max_actions: int | None = None,
               user: str | None = None) -> str:
    """One grant (as `Grant.to_json` writes it, so a plan file renders the same) on a line,
    its conditions in words (conditions.py); past `max_actions`, the rest of the actions
    are counted (the plan JSON has them all). `user`: whose grant it is, so their own ARNs
    read "their own user"."""
    actions = list(grant["actions"])
    if max_actions is not None:
        shown = _fitting(actions, max_actions)
        if shown < len(actions):
            services = len({a.partition(":")[0] for a in actions})
            actions = [*actions[:shown], f"... {len(actions) - shown:,} more in "
                                         f"{count(services, 'service')}"]
    text = f"{', '.join(actions)} on {', '.join(_resources(grant['resources'], user))}"
    if grant.get("not_resources"):
        text += f" except {', '.join(_resources(grant['not_resources'], user))}"
    said = wording(grant.get("conditions"), grant.get("unless") or ()).text
    text += f" {said}" if said else ""
    sources = f"via {', '.join(grant['via'])}"
    if grant.get("denied_by"):
        sources += f"; restricted by {', '.join(grant['denied_by'])}"
    return f"{text}  ({sources})"


ACTIONS_TEXT_MAX = 120  # characters of action names on a line before the rest is counted


def _fitting(actions: Sequence[str], most: int) -> int:
    """How many actions a line shows: at most `most`, and no more than fit in
    ACTIONS_TEXT_MAX characters (at least one)."""
    length = 0
    for shown, action in enumerate(actions[:most]):
        length += len(action) + 2
        if shown and length > ACTIONS_TEXT_MAX:
            return shown
    return min(len(actions), most)


def grant_detail(grant: Mapping[str, Any]) -> str:
    """The conditions `grant_line` puts into words, as the policies write them (for the
    folded detail under the line); "" when the line shows every condition as written."""
    written = wording(grant.get("conditions"), grant.get("unless") or ()).written
    return f"as written: {'; '.join(written)}" if written else ""


_OWN = {"user": "their own user", "mfa": "their own MFA device"}


def _resources(resources: Sequence[str], user: str | None) -> list[str]:
    """Resources as a reader says them: the user's own ARNs (`user/jdoe`, `user/*/jdoe`,
    what `${aws:username}` became) read "their own user"."""
    if user is None:
        return list(resources)
    own = re.compile(rf"arn:[\w-]+:iam::(?:\d{{12}}|\*):(user|mfa)/(?:.*/)?"
                     rf"{re.escape(user)}", re.IGNORECASE)
    said = [_OWN[m.group(1).lower()] if (m := own.fullmatch(r)) else r for r in resources]
    return list(dict.fromkeys(said))
