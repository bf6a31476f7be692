"""Customer managed policies as GAAD lists them (AWS's own paths left out); one about to
be deleted or replaced is read exactly: what uses it decides whether that may happen."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from iamstate.aws.answers import policy_entities
from iamstate.entities.base import Reading, entity_of
from iamstate.entities.io import document_from_aws
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.model.account import AccountConfig, ignored
from iamstate.model.arn import PROTECTED_PATHS, parse

if TYPE_CHECKING:
    from iamstate.aws.session import Connection


def read_policies(ctx: Reading) -> Mapping[str, ManagedPolicy]:
    policies = {}
    for raw in ctx.gaad(entity_of(ManagedPolicy)):
        policy = policy_from_aws(raw)
        if policy is not None and not ignored(policy.name, ctx.config.ignore.policies):
            policies[policy.name] = policy
    for name, policy in policies.items():
        want = ctx.desired.policies.get(name)
        if want is None or (want.path, want.description) != (policy.path, policy.description):
            # To be deleted or replaced: what uses it decides whether that may happen.
            policies[name] = with_usage(ctx.conn, ctx.config, policy)
    return policies


def policy_from_aws(raw: Any) -> ManagedPolicy | None:
    # moto leaves PolicyName out of GAAD: derive name and path from the ARN.
    parts = parse(raw["Arn"])
    if parts is None or parts.path.startswith(PROTECTED_PATHS):
        return None
    versions = raw.get("PolicyVersionList", [])
    default = next((v for v in versions if v.get("IsDefaultVersion")), None)
    if default is None:
        return None
    old = [v for v in versions if not v.get("IsDefaultVersion")]
    old.sort(key=lambda v: (v.get("CreateDate") or 0, _version_number(v["VersionId"])))
    return ManagedPolicy(
        name=parts.name, path=parts.path, description=raw.get("Description", "") or "",
        document=document_from_aws(default["Document"]),
        old_versions=tuple(v["VersionId"] for v in old),
    )


def _version_number(version_id: str) -> int:
    return int(version_id.lstrip("v") or 0)


def with_usage(conn: Connection, config: AccountConfig, policy: ManagedPolicy) -> ManagedPolicy:
    """What uses a policy about to be deleted or replaced: every entity that has it as a
    permissions policy (roles included: not iamstate's, so never left without it) and, apart,
    what uses it as a permissions boundary (that must never be removed). Without
    PolicyUsageFilter, ListEntitiesForPolicy mixes the two."""
    arn = config.policy_arn(policy.path, policy.name)
    attached = listed_entities(conn.iam, arn, "PermissionsPolicy")
    # moto ignores PolicyUsageFilter (it answers the attachments) and knows no boundaries:
    # against the sandbox, none exist; on AWS the call is made and answered exactly.
    boundary_of = () if conn.emulated else listed_entities(conn.iam, arn, "PermissionsBoundary")
    return dataclasses.replace(policy, attached=attached, boundary_of=boundary_of)


def listed_entities(iam: Any, arn: str, usage: str) -> tuple[str, ...]:
    """ListEntitiesForPolicy with one usage filter, every page: "group/G", "user/U"..."""
    return policy_entities(iam.get_paginator("list_entities_for_policy").paginate(
        PolicyArn=arn, PolicyUsageFilter=usage))
