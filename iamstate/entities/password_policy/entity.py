"""The account password policy: `password_policy:` in account.yaml (only the settings it
declares; the others keep their live values), planned by the password policy kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamstate.entities.base import Entity, Exporting, Fragment, Loading
from iamstate.entities.password_policy.kinds import PasswordPolicyKind
from iamstate.entities.password_policy.live import read_password_policy
from iamstate.entities.password_policy.model import PasswordPolicy


def load(ctx: Loading) -> Mapping[str, PasswordPolicy]:
    return {name: PasswordPolicy.from_yaml(entry.data)
            for name, entry in ctx.declared(PasswordPolicy).items() if entry is not None}


def to_yaml(policy: PasswordPolicy, ctx: Exporting) -> dict[str, Any]:
    return dict(policy.yaml_fields())


def digest(policy: PasswordPolicy) -> dict[str, Any]:
    return dict(policy.as_dict())


SCHEMA = Fragment.of_package("iamstate.entities.password_policy")  # its schema.json
ENTITY: Entity[PasswordPolicy] = Entity(
    "password_policy", PasswordPolicy, "password_policy", kinds=(PasswordPolicyKind,),
    schema=SCHEMA, load=load, read=read_password_policy,
    to_yaml=to_yaml, digest=digest, single=True)
