"""Customer managed policies: declared under `policies:` in resource files, read from GAAD
(their users read exactly where a change depends on them), planned by the policy kind."""

from __future__ import annotations

from typing import Any

from iamstate.entities.base import Entity, Fragment, Gaad
from iamstate.entities.managed_policy.files import load_policies, policy_yaml
from iamstate.entities.managed_policy.kinds import ManagedPolicyKind
from iamstate.entities.managed_policy.live import read_policies
from iamstate.entities.managed_policy.model import ManagedPolicy


def digest(policy: ManagedPolicy) -> dict[str, Any]:
    return {"path": policy.path, "description": policy.description,
            "document": policy.document.canonical}


SCHEMA = Fragment.of_package("iamstate.entities.managed_policy")  # its schema.json
ENTITY: Entity[ManagedPolicy] = Entity(
    "policy", ManagedPolicy, "policies", kinds=(ManagedPolicyKind,),
    schema=SCHEMA, load=load_policies, read=read_policies,
    to_yaml=policy_yaml, digest=digest, gaad=Gaad("LocalManagedPolicy", "Policies"),
    ignore="policies")
