"""IAM users: declared under `users:` in resource files, read from GAAD, planned by the
user, login profile, user policy and membership kinds."""

from __future__ import annotations

import dataclasses
from typing import Any

from iamstate.entities.base import Alignment, Entity, Fragment, Gaad, keeping_ignored
from iamstate.entities.group.model import Group
from iamstate.entities.user.files import load_users, user_yaml
from iamstate.entities.user.kinds import (
    LoginProfileKind,
    MembershipKind,
    UserAttachmentKind,
    UserKind,
    UserPolicyKind,
)
from iamstate.entities.user.live import read_users
from iamstate.entities.user.model import User


def digest(user: User) -> dict[str, Any]:
    return {"path": user.path, "groups": sorted(user.groups), "tags": dict(user.tags),
            "console_access": user.console_access,
            "inline_policies": {name: doc.canonical for name, doc in user.inline_policies},
            "attached_policies": sorted(user.attached_policies)}


def align(user: User, names: Alignment) -> User:
    return dataclasses.replace(
        user, name=names.name("user", user.name),
        groups=frozenset(names.name("group", g) for g in user.groups),
        attached_policies=frozenset(map(names.arn, user.attached_policies)))


SCHEMA = Fragment.of_package("iamstate.entities.user")  # its schema.json
ENTITY: Entity[User] = Entity(
    "user", User, "users",
    kinds=(UserKind, LoginProfileKind, UserPolicyKind, UserAttachmentKind, MembershipKind),
    needs=(Group,), schema=SCHEMA, load=load_users, read=read_users,
    to_yaml=user_yaml, digest=digest, gaad=Gaad("User", "UserDetailList"), ignore="users",
    under_paths=True, settle=keeping_ignored("attached_policies"), align=align)
