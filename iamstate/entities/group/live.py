"""Groups as GAAD lists them; ignored ones (by name or path) go to `outside`: never
planned, but what they grant is what their members may do (the analysis)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamstate.entities.base import Reading, entity_of
from iamstate.entities.group.model import Group
from iamstate.entities.io import document_from_aws
from iamstate.model.account import Ignore, ignored


def read_groups(ctx: Reading) -> Mapping[str, Group]:
    raws = ctx.gaad(entity_of(Group))
    members: dict[str, list[str]] = {}
    for raw in ctx.entries.get("UserDetailList", ()):  # ignored users too: a deletion
        for group in raw.get("GroupList", []):  # removes every member
            members.setdefault(group, []).append(raw["UserName"])
    ignore = ctx.config.ignore
    ctx.outside["groups"] = {
        g["GroupName"]: group_from_aws(g, members.get(g["GroupName"], []))
        for g in raws if ignored_group(g, ignore)}
    return {g["GroupName"]: group_from_aws(g, members.get(g["GroupName"], []))
            for g in raws if not ignored_group(g, ignore)}


def ignored_group(raw: Any, ignore: Ignore) -> bool:
    """By name, or by the IAM path it lives under (`ignore.paths`)."""
    return ignored(raw["GroupName"], ignore.groups) or ignore.under_path(
        raw.get("Path", "/")) is not None


def group_from_aws(raw: Any, members: list[str]) -> Group:
    return Group(
        name=raw["GroupName"],
        path=raw.get("Path", "/"),
        inline_policies=tuple(sorted(
            (p["PolicyName"], document_from_aws(p["PolicyDocument"]))
            for p in raw.get("GroupPolicyList", []))),
        managed_policies=frozenset(
            p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])),
        members=tuple(sorted(members)),
    )
