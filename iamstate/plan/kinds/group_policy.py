"""Inline policies of declared groups (an undeclared group's go with the group)."""

from __future__ import annotations

from collections.abc import Iterable

from iamstate.model.changes import Change, Create, Delete, Update
from iamstate.model.entities import GroupPolicy, iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext, register
from iamstate.repository.policy import PolicyDocument


@register
class GroupPolicyKind(Kind[GroupPolicy]):
    name = "group_policy"
    label = "group inline policy"
    model = GroupPolicy
    after = ("group",)
    actions = frozenset({"iam:PutGroupPolicy", "iam:DeleteGroupPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.groups):
            have = ctx.live.groups.get(want.name)
            live = dict(have.inline_policies) if have else {}
            wanted = dict(want.inline_policies)
            for name, document in wanted.items():
                after = GroupPolicy(want.name, name, document)
                if name not in live:
                    changes.append(Create(after))
                elif live[name] != document:
                    changes.append(Update(GroupPolicy(want.name, name, live[name]), after))
            changes += [Delete(GroupPolicy(want.name, name, document))
                        for name, document in live.items() if name not in wanted]
        return changes

    def key(self, obj: GroupPolicy) -> str:
        return f"{obj.group}/{obj.name}"

    def documents(self, change: Change) -> tuple[PolicyDocument | None, PolicyDocument | None]:
        before = None if isinstance(change, Create) else change.before.document
        after = None if isinstance(change, Delete) else change.after.document
        return before, after

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        policy: GroupPolicy = change.subject
        if isinstance(change, Delete):
            ctx.iam.gone("delete_group_policy", GroupName=policy.group, PolicyName=policy.name)
        else:
            ctx.iam.call("put_group_policy", fresh=[policy.group], GroupName=policy.group,
                         PolicyName=policy.name, PolicyDocument=policy.document.to_json())
