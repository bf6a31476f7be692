"""IAM groups: declared under `groups:` in resource files (the strategy's common and
category groups always), read from GAAD, planned by the group, group policy and group
attachment kinds."""

from __future__ import annotations

import dataclasses
from typing import Any

from iamstate.entities.base import Alignment, Entity, Fragment, Gaad, keeping_ignored
from iamstate.entities.group.files import group_yaml, load_groups
from iamstate.entities.group.kinds import GroupAttachmentKind, GroupKind, GroupPolicyKind
from iamstate.entities.group.live import read_groups
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy


def digest(group: Group) -> dict[str, Any]:
    return {"path": group.path,
            "inline_policies": {name: doc.canonical for name, doc in group.inline_policies},
            "managed_policies": sorted(group.managed_policies)}


def align(group: Group, names: Alignment) -> Group:
    return dataclasses.replace(group, name=names.name("group", group.name),
                               managed_policies=frozenset(map(names.arn,
                                                              group.managed_policies)))


SCHEMA = Fragment.of_package("iamstate.entities.group")  # its schema.json
ENTITY: Entity[Group] = Entity(
    "group", Group, "groups", kinds=(GroupKind, GroupPolicyKind, GroupAttachmentKind),
    needs=(ManagedPolicy,), schema=SCHEMA, load=load_groups,
    read=read_groups, to_yaml=group_yaml, digest=digest,
    gaad=Gaad("Group", "GroupDetailList"), ignore="groups", under_paths=True,
    settle=keeping_ignored("managed_policies"), align=align)
