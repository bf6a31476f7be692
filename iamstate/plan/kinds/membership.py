"""Group memberships of declared users: the common groups and the category are part of
every user's groups already (the loader adds them, see strategy.py)."""

from __future__ import annotations

from collections.abc import Iterable

from iamstate.model.changes import Change, Create, Delete
from iamstate.model.entities import Membership, iter_sorted
from iamstate.model.quotas import MAX_GROUPS_PER_USER
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext, register
from iamstate.wording import count


@register
class MembershipKind(Kind[Membership]):
    name = "membership"
    label = "group membership"
    model = Membership
    # A user joins a group only once the group is complete (its policies in place) and the
    # user's login profile exists: SPEC §4 order.
    after = ("login_profile",)
    actions = frozenset({"iam:AddUserToGroup", "iam:RemoveUserFromGroup"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.users):
            have = ctx.live.users.get(want.name)
            live = have.groups if have else frozenset()
            kept = len(have.protected) if have else 0  # memberships of ignored groups stay
            if len(want.groups) + kept > MAX_GROUPS_PER_USER:
                ctx.problem(want.source, (
                    f"user {want.name}: {len(want.groups)} groups here and "
                    f"{count(kept, 'ignored group')} it stays in make more than IAM's "
                    f"{MAX_GROUPS_PER_USER}: merge groups"))
            changes += [Create(Membership(want.name, g)) for g in sorted(want.groups - live)]
            changes += [Delete(Membership(want.name, g)) for g in sorted(live - want.groups)]
        return changes

    def key(self, obj: Membership) -> str:
        return f"{obj.user} {obj.group}"

    def why(self, change: Change) -> str:
        link: Membership = change.subject
        return f"expired {link.expired}" if isinstance(change, Delete) and link.expired else ""

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        link: Membership = change.subject
        if isinstance(change, Delete):
            ctx.iam.gone("remove_user_from_group", UserName=link.user, GroupName=link.group)
        else:
            ctx.iam.call("add_user_to_group", fresh=[link.user, link.group],
                         UserName=link.user, GroupName=link.group)
