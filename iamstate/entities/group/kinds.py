"""The kinds of change that plan groups.

- group: created, moved or renamed in place (UpdateGroup keeps members and policies),
  deleted with everything AWS requires removed first. A group with an ignored member or an
  ignored policy attached is never deleted: that would change the ignored resource.
- group_policy: inline policies of declared groups (an undeclared group's go with it).
- group_attachment: managed policies attached to declared groups. An ignored policy stays
  attached even where the repository does not list it: iamstate never changes an ignored
  resource's attachments.
"""

from __future__ import annotations

from collections.abc import Iterable

from iamstate.entities.group.model import Group, GroupAttachment, GroupPolicy
from iamstate.model.changes import Change, Create, Delete, Update
from iamstate.model.quotas import MAX_MANAGED_POLICIES_PER_GROUP
from iamstate.model.state import iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext
from iamstate.repository.policy import PolicyDocument


class GroupKind(Kind[Group]):
    name = "group"
    label = "group"
    model = Group
    after = ("policy",)
    counts_as_deletion = True
    actions = frozenset({"iam:CreateGroup", "iam:UpdateGroup", "iam:DeleteGroup",
                         "iam:RemoveUserFromGroup", "iam:DeleteGroupPolicy",
                         "iam:DetachGroupPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.groups):
            have = ctx.live.groups.get(want.name)
            old_name = ctx.live_name("group", want.name)
            if have is None:
                changes.append(Create(want))
            elif want.path != have.path or old_name != want.name:
                before = Group(old_name, have.path, have.inline_policies,
                               have.managed_policies, have.members)
                changes.append(Update(before, want))
        return changes + self.remove_undeclared(ctx, ctx.live.groups, ctx.desired.groups,
                                                lambda have: _held(ctx, have))

    def describe(self, change: Change) -> list[str]:
        if isinstance(change, Create):
            return [f"path: {change.after.path}"] if change.after.path != "/" else []
        if isinstance(change, Update):
            before, after = change.before, change.after
            lines = [f"renamed: {before.name} -> {after.name} (members and policies kept)"] \
                if before.name != after.name else []
            if before.path != after.path:
                lines.append(f"path: {before.path} -> {after.path}")
            return lines
        if isinstance(change, Delete):
            group = change.before
            lines = []
            for label, items in (("members removed", group.members),
                                 ("inline policies deleted", [n for n, _ in
                                                              group.inline_policies]),
                                 ("policies detached", sorted(group.managed_policies))):
                if items:
                    lines.append(f"{label}: {', '.join(items)}")
            return lines
        return []

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        iam = ctx.iam
        if isinstance(change, Create):
            iam.call("create_group", GroupName=change.after.name, Path=change.after.path)
            iam.created_now(change.after.name)
        elif isinstance(change, Update):
            params = {"GroupName": change.before.name}
            if change.before.name != change.after.name:
                params["NewGroupName"] = change.after.name
            if change.before.path != change.after.path:
                params["NewPath"] = change.after.path
            iam.call("update_group", **params)
            iam.created_now(change.after.name)  # the new name may lag, like a new group
        elif isinstance(change, Delete):
            # What the plan showed goes, in the order AWS requires; anything added since
            # makes AWS answer DeleteConflict, and apply stops rather than remove it unseen.
            group = change.before
            for user in group.members:
                iam.gone("remove_user_from_group", GroupName=group.name, UserName=user)
            for policy, _ in group.inline_policies:
                iam.gone("delete_group_policy", GroupName=group.name, PolicyName=policy)
            for arn in sorted(group.managed_policies):
                iam.gone("detach_group_policy", GroupName=group.name, PolicyArn=arn)
            iam.gone("delete_group", GroupName=group.name)


def _held(ctx: PlanContext, group: Group) -> str | None:
    """Why deleting the group would change an ignored resource, if it would."""
    reasons = [f"ignored user {m} is a member" for m in group.members if ctx.ignored_user(m)]
    reasons += [f"ignored policy {arn} is attached" for arn in sorted(group.managed_policies)
                if ctx.ignored_policy(arn)]
    return f"{'; '.join(reasons)}: declare the group, or ignore it" if reasons else None


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
                    ctx.keep(self, f"{want.name} {arn}", "the policy is ignored")
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
