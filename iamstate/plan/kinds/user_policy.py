"""Policies written or attached directly on declared users: the strategy bans them, so
they are only ever removed (an undeclared user's go with its teardown). An ignored
policy's attachment stays."""

from __future__ import annotations

from collections.abc import Iterable

from iamstate.model.changes import Change, Delete
from iamstate.model.entities import UserAttachment, UserPolicy, iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext, register
from iamstate.repository.policy import PolicyDocument
from iamstate.repository.strategy import USER_POLICIES_BANNED


@register
class UserPolicyKind(Kind[UserPolicy]):
    name = "user_policy"
    label = "user inline policy"
    model = UserPolicy
    after = ("user",)
    actions = frozenset({"iam:DeleteUserPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        if not USER_POLICIES_BANNED:
            return []
        return [Delete(UserPolicy(want.name, name, document))
                for want in iter_sorted(ctx.desired.users)
                if (have := ctx.live.users.get(want.name)) is not None
                for name, document in have.inline_policies]

    def key(self, obj: UserPolicy) -> str:
        return f"{obj.user}/{obj.name}"

    def documents(self, change: Change) -> tuple[PolicyDocument | None, PolicyDocument | None]:
        return change.subject.document, None

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        policy: UserPolicy = change.subject
        ctx.iam.gone("delete_user_policy", UserName=policy.user, PolicyName=policy.name)


@register
class UserAttachmentKind(Kind[UserAttachment]):
    name = "user_attachment"
    label = "user policy attachment"
    model = UserAttachment
    after = ("user",)
    actions = frozenset({"iam:DetachUserPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        if not USER_POLICIES_BANNED:
            return []
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.users):
            have = ctx.live.users.get(want.name)
            for arn in sorted(have.attached_policies if have else ()):
                if ctx.ignored_policy(arn):
                    ctx.keep(self.label, f"{want.name} {arn}", "the policy is ignored")
                else:
                    changes.append(Delete(UserAttachment(want.name, arn)))
        return changes

    def key(self, obj: UserAttachment) -> str:
        return f"{obj.user} {obj.arn}"

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        link: UserAttachment = change.subject
        ctx.iam.gone("detach_user_policy", UserName=link.user, PolicyArn=link.arn)
