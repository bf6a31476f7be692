"""Customer managed policies in the repository: a declaration -> `ManagedPolicy` (every
error at file:line), and a live one -> its YAML (`iamstate import`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamstate.entities.base import Exporting, Loading
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.model.quotas import MANAGED_POLICY_MAX
from iamstate.repository.declared import Declared
from iamstate.repository.policy import quota_length


def load_policies(ctx: Loading) -> Mapping[str, ManagedPolicy]:
    return {name: policy for name, entry in ctx.declared(ManagedPolicy).items()
            if entry is not None and (policy := load_policy(ctx, entry)) is not None}


def load_policy(ctx: Loading, entry: Declared) -> ManagedPolicy | None:
    data = entry.data
    document = ctx.document(data["document"], entry.location.file,
                            entry.lines_under("document"), f"policy {entry.name}")
    if document is None:
        return None
    size = quota_length(document.document)
    if size > MANAGED_POLICY_MAX:
        ctx.problems.add(entry.location.file, entry.line("document"), (
            f"policy {entry.name}: document is {size:,} characters without whitespace, "
            f"over IAM's {MANAGED_POLICY_MAX:,}: split it into several policies"))
    description = data.get("description", "")
    if any(not (c in "\t\n\r" or " " <= c <= "\xff") for c in description):
        ctx.problems.add(entry.location.file, entry.line("description"), (
            f"policy {entry.name}: description has characters AWS refuses: use printable "
            "Latin-1 text"))
    return ManagedPolicy(entry.name, document, data.get("path", "/"), description,
                         source=entry.location)


def policy_yaml(policy: ManagedPolicy, ctx: Exporting) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if policy.path != "/":
        spec["path"] = policy.path
    if policy.description:
        spec["description"] = policy.description
    spec["document"] = dict(policy.document.document)
    return spec
