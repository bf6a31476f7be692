"""Roles as GAAD lists them (service-linked ones left out: only their service uses them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamstate.entities.base import Reading, entity_of
from iamstate.entities.io import document_from_aws
from iamstate.entities.role.model import Role
from iamstate.model.arn import PROTECTED_PATHS


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

