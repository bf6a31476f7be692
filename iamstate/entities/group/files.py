"""Groups in the repository: a declaration -> `Group` (its documents resolved, its managed
policies' references checked, every error at file:line), and a live `Group` -> its YAML
(`iamstate import`)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from iamstate.entities.base import Exporting, Loading
from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.errors import shown
from iamstate.model.account import ignored
from iamstate.model.arn import POLICY_ARN
from iamstate.model.quotas import GROUP_INLINE_TOTAL_MAX, MAX_MANAGED_POLICIES_PER_GROUP
from iamstate.repository.declared import Declared
from iamstate.repository.policy import PolicyDocument, quota_length, substitute


def load_groups(ctx: Loading) -> Mapping[str, Group]:
    """Declared groups, and the strategy's common and category groups (declared or not)."""
    groups = {name: group for name, entry in ctx.declared(Group).items()
              if entry is not None and (group := load_group(ctx, entry)) is not None}
    for implicit in ctx.config.strategy.implicit_groups():
        groups.setdefault(implicit, Group(implicit))
    return groups


def load_group(ctx: Loading, entry: Declared) -> Group | None:
    data = entry.data
    file = entry.location.file
    inline: list[tuple[str, PolicyDocument]] = []
    for name, ref in (data.get("inline_policies") or {}).items():
        document = ctx.document(ref, file, entry.lines_under("inline_policies", name),
                                f"group {entry.name} > inline policy {name}")
        if document is not None:
            inline.append((name, document))
    total = sum(quota_length(d.document) for _, d in inline)
    if total > GROUP_INLINE_TOTAL_MAX:
        ctx.problems.add(file, entry.line("inline_policies"), (
            f"group {entry.name}: inline policies total {total:,} characters without "
            f"whitespace, over IAM's {GROUP_INLINE_TOTAL_MAX:,} per group: move some into "
            "customer managed policies"))
    arns = set()
    refs = data.get("managed_policies") or []
    for index, ref in enumerate(refs):
        arn = _managed_arn(ctx, ref, file, entry.line("managed_policies", index), entry.name)
        if arn is not None:
            arns.add(arn)
    if len(refs) > MAX_MANAGED_POLICIES_PER_GROUP:
        ctx.problems.add(file, entry.line("managed_policies"), (
            f"group {entry.name}: {len(refs)} managed policies, over IAM's limit of "
            f"{MAX_MANAGED_POLICIES_PER_GROUP} per group: merge some or split the group"))
    return Group(entry.name, data.get("path", "/"), tuple(sorted(inline)),
                 frozenset(arns), source=entry.location)


def _managed_arn(ctx: Loading, ref: str, file: Path, line: int, group: str) -> str | None:
    """The ARN a group's `managed_policies` entry names, or None with the error said:
    a declared policy by name, an AWS managed ARN, or an own-account ARN of a declared
    or ignored policy (anything else AWS refuses, or iamstate would delete it)."""
    if ref.startswith("arn:"):
        return _policy_arn(ctx, ref, file, line, group)
    policies = ctx.loaded(ManagedPolicy)
    policy = policies.get(ref)
    if policy is None and ref in ctx.declared(ManagedPolicy):
        return None  # declared but invalid: its own error is already reported
    if policy is None:
        close = difflib.get_close_matches(ref, list(policies), n=1)
        hint = f"did you mean {shown(close[0])}? " if close else ""
        ctx.problems.add(file, line, (
            f"group {group}: managed policy {shown(ref)} is not declared under policies: "
            f"{hint}declare it, or write an AWS managed policy as its full ARN"))
        return None
    return ctx.config.policy_arn(policy.path, policy.name)


def _policy_arn(ctx: Loading, ref: str, file: Path, line: int, group: str) -> str | None:
    config = ctx.config

    def fail(message: str) -> None:
        ctx.problems.add(file, line, f"group {group}: managed policy {shown(ref)}: {message}")

    unknown: list[str] = []
    arn = str(substitute(ref, ctx.variables, lambda _path, name: unknown.append(name)))
    if unknown:
        fail(f"unknown variable ${{{unknown[0]}}}: only ${{account_id}} and ${{partition}} "
             "are substituted here")
        return None
    found = POLICY_ARN.fullmatch(arn)
    if found is None:
        fail("not a managed policy ARN: write arn:aws:iam::aws:policy/NAME for an AWS "
             "managed policy, or the name of a policy declared under policies:")
        return None
    if found["partition"] != config.partition:
        fail(f"partition {shown(found['partition'])} is not this account's "
             f"{shown(config.partition)}: write arn:${{partition}}:...")
        return None
    owner, name = found["account"], found["name"]
    if owner == "aws":
        return arn  # AWS managed: that it exists is checked by plan, which reads AWS
    if owner != config.account_id:
        fail(f"it belongs to account {owner}: a group can use AWS managed policies and "
             f"customer managed policies of its own account ({config.account_id})")
        return None
    policies = ctx.loaded(ManagedPolicy)
    declared = next((p for p in policies.values() if p.name.lower() == name.lower()), None)
    if declared is not None:
        own = config.policy_arn(declared.path, declared.name)
        if own != arn:
            fail(f"policy {shown(declared.name)} is declared with path "
                 f"{shown(declared.path)}, so its ARN is {own}: write its name, "
                 f"{declared.name}, instead")
            return None
        return arn
    if name in ctx.declared(ManagedPolicy):
        return None  # declared but invalid: its own error is already reported
    if ignored(name, config.ignore.policies):
        return arn  # not iamstate's to manage, but a group may use it
    fail(f"no policy {shown(name)} is declared under policies: (and it is not ignored), so "
         "iamstate would attach it and delete it in the same apply: declare it, or write "
         "its name under ignore: policies: in account.yaml")
    return None


def group_yaml(group: Group, ctx: Exporting) -> dict[str, Any]:
    """A live group as `iamstate import` writes it: own policies by name."""
    own = {ctx.config.policy_arn(p.path, p.name): p.name for p in ctx.live.policies.values()}
    spec: dict[str, Any] = {}
    if group.path != "/":
        spec["path"] = group.path
    if group.inline_policies:
        spec["inline_policies"] = {name: dict(doc.document)
                                   for name, doc in group.inline_policies}
    if group.managed_policies:
        spec["managed_policies"] = sorted(own.get(arn, arn) for arn in group.managed_policies)
    return spec
