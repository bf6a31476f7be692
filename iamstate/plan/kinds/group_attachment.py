"""Managed policies attached to declared groups. An ignored policy stays attached even
where the repository does not list it: iamstate never changes an ignored resource's
attachments."""

from __future__ import annotations

from collections.abc import Iterable

from iamstate.model.changes import Change, Create, Delete
from iamstate.model.entities import GroupAttachment, iter_sorted
from iamstate.model.quotas import MAX_MANAGED_POLICIES_PER_GROUP
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext, register


@register
class GroupAttachmentKind(Kind[GroupAttachment]):
    name = "group_attachment"
    label = "group policy attachment"
    model = GroupAttachment
    after = ("group",)
    actions = frozenset({"iam:AttachGroupPolicy", "iam:DetachGroupPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.groups):
            have = ctx.live.groups.get(want.name)
            live = have.managed_policies if have else frozenset()
            kept = {arn for arn in live - want.managed_policies if ctx.ignored_policy(arn)}
            if len(want.managed_policies | kept) > MAX_MANAGED_POLICIES_PER_GROUP:
                ctx.problem(want.source, (
                    f"group {want.name}: {len(want.managed_policies)} managed policies here "
                    f"and {len(kept)} ignored {'one' if len(kept) == 1 else 'ones'} it keeps "
                    f"make more than IAM's "
                    f"{MAX_MANAGED_POLICIES_PER_GROUP}: merge some"))
            changes += [Create(GroupAttachment(want.name, arn))
                        for arn in sorted(want.managed_policies - live)]
            for arn in sorted(live - want.managed_policies):
                if ctx.ignored_policy(arn):
                    ctx.keep(self.label, f"{want.name} {arn}", "the policy is ignored")
                else:
                    changes.append(Delete(GroupAttachment(want.name, arn)))
        return changes

    def key(self, obj: GroupAttachment) -> str:
        return f"{obj.group} {obj.arn}"

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        link: GroupAttachment = change.subject
        if isinstance(change, Delete):
            ctx.iam.gone("detach_group_policy", GroupName=link.group, PolicyArn=link.arn)
        else:
            ctx.iam.call("attach_group_policy", fresh=[link.group, link.arn],
                         GroupName=link.group, PolicyArn=link.arn)
