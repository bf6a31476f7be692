"""IAM roles, read from GAAD for the analysis only: iamstate never plans one (no kind), so
a role is never declared, never changed, and whatever a role holds stays (see
PlanContext.untouchable). Assuming or passing a role carries its power, so the escalation
analysis reads who may assume it and what it may do. Service-linked roles are left out:
only their service can use them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from iamstate.entities.base import Entity, Gaad, Reading, entity_of
from iamstate.entities.io import document_from_aws
from iamstate.model.arn import PROTECTED_PATHS
from iamstate.repository.policy import PolicyDocument


@dataclass(frozen=True)
class Role:
    """A live role, read for analysis only (iamstate never changes one): who may assume it
    (`trust`) and what it may do, so that assuming or passing it carries its power."""

    name: str
    path: str = "/"
    trust: PolicyDocument | None = None
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    attached_policies: frozenset[str] = frozenset()


def read_roles(ctx: Reading) -> Mapping[str, Role]:
    """Roles go to `outside` (what the analysis reads): the state holds none."""
    ctx.outside["roles"] = {r.name: r for r in map(role_from_aws, ctx.gaad(entity_of(Role)))
                            if r is not None}
    return {}


def role_from_aws(raw: Any) -> Role | None:
    path = raw.get("Path", "/")
    if path.startswith(PROTECTED_PATHS[0]):
        return None
    trust = raw.get("AssumeRolePolicyDocument")
    return Role(
        name=raw["RoleName"], path=path,
        trust=document_from_aws(trust) if trust else None,
        inline_policies=tuple(sorted(
            (p["PolicyName"], document_from_aws(p["PolicyDocument"]))
            for p in raw.get("RolePolicyList", []))),
        attached_policies=frozenset(
            p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])))


ENTITY: Entity[Role] = Entity("role", Role, "roles", read=read_roles,
                              gaad=Gaad("Role", "RoleDetailList"))
