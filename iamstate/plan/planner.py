"""The planner: a pure function from (desired, live) to an ordered list of typed changes.

It aligns live state to the repository first (IAM names are case-insensitive: a live
`asmith` declared as `ASmith` is that user, renamed in place; a policy replaced under a new
path keeps its attachments under its new ARN), then asks every registered kind for its
changes. The order comes from the kinds' declared dependencies: creations from the bottom of
the graph up, removals from the top down.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iamstate.analysis.meaning import Consequences
from iamstate.errors import RepoError, shown
from iamstate.model.changes import CREATE, DELETE, UPDATE, Change, Replace
from iamstate.model.entities import AccountConfig, Group, PasswordPolicy, State, User
from iamstate.plan.kinds import KINDS, kind_of, order_key
from iamstate.plan.kinds.base import Kept, PlanContext
from iamstate.repository.expiry import Expiry, mark_reasons

# AWS managed (and other unread) policies' documents by ARN, or a call that fetches them
Documents = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class AccountPlan:
    config: AccountConfig
    changes: tuple[Change, ...]
    live_digest: str
    desired_digest: str
    kept: tuple[Kept, ...] = ()
    consequences: Consequences | None = None

    def summary(self) -> dict[str, int]:
        """Counts for the summary line. A replacement is one to add and one to destroy
        (as Terraform counts it): the reviewer must see that something is deleted."""
        counts = {CREATE: 0, UPDATE: 0, DELETE: 0}
        for change in self.changes:
            if isinstance(change, Replace):
                counts[CREATE] += 1
                counts[DELETE] += 1
            else:
                counts[change.action] += 1
        return counts

    def deletions(self) -> int:
        """Users, groups and managed policies deleted or replaced (safety.max_deletions)."""
        return sum(1 for c in self.changes if kind_of(c).is_deletion(c))


def plan_account(config: AccountConfig, desired: State, live: State,
                 managed_documents: Documents | None = None,
                 with_consequences: bool = True,
                 expired: Sequence[Expiry] = ()) -> AccountPlan:
    """Every change that makes live match desired, in apply order, and what it means for
    people (`managed_documents`: AWS managed policies' documents by ARN, or what fetches
    them, called only when there are changes to explain). `desired` is already as of today
    (expiry.as_of); `expired` says which removals an expiry causes. Raises RepoError
    (at the declaration's file:line) for what the repository asks and cannot be done."""
    ctx = align(config, desired, live)
    changes = mark_reasons([change for kind in KINDS.values() for change in kind.diff(ctx)],
                           expired)
    if ctx.problems:
        raise RepoError(ctx.problems)
    meaning = None
    if with_consequences:
        # No change, no consequence: the states before and after are the same, and the
        # engines (and their catalogue) need not even be loaded.
        meaning = _consequences(config, desired, ctx, managed_documents) if changes \
            else Consequences({}, ())
    return AccountPlan(config, tuple(sorted(changes, key=order_key)), live.digest(),
                       desired.digest(), tuple(ctx.kept), meaning)


def _consequences(config: AccountConfig, desired: State, ctx: PlanContext,
                  managed_documents: Documents | None) -> Consequences:
    # Loaded here, not at import: a plan with no changes never needs the engines.
    from iamstate.analysis.consequences import consequences

    return consequences(config, _before(desired, ctx), _after(desired, ctx),
                        (managed_documents() if callable(managed_documents)
                         else managed_documents) or {})


def _before(desired: State, ctx: PlanContext) -> State:
    """Live state as the engines must read it: aligned to the repository's names, and a
    policy that moves to a new path found under the ARN its holders are compared with."""
    moved = {name: dataclasses.replace(have, path=desired.policies[name].path)
             for name, have in ctx.live.policies.items()
             if name in desired.policies and desired.policies[name].path != have.path}
    return dataclasses.replace(ctx.live, policies={**ctx.live.policies, **moved})


def _after(desired: State, ctx: PlanContext) -> State:
    """The state once the plan is applied: the repository's, plus what the plan keeps."""
    kept = {(k.kind, k.name) for k in ctx.kept}
    live = ctx.live

    def keeping(label: str, declared: Mapping[str, Any], current: Mapping[str, Any]
                ) -> dict[str, Any]:
        return {**declared, **{n: v for n, v in current.items() if (label, n) in kept}}

    def holding_ignored(declared: Any, current: Any, field: str) -> Any:
        """A declared group or user with the ignored policies it keeps attached."""
        if current is None:
            return declared
        extra = {arn for arn in getattr(current, field) if ctx.ignored_policy(arn)}
        return dataclasses.replace(declared, **{field: getattr(declared, field) | extra}) \
            if extra else declared

    users = {name: holding_ignored(user, live.users.get(name), "attached_policies")
             for name, user in desired.users.items()}
    groups = {name: holding_ignored(group, live.groups.get(name), "managed_policies")
              for name, group in desired.groups.items()}
    return State(keeping("user", users, live.users),
                 keeping("group", groups, live.groups),
                 keeping("managed policy", desired.policies, live.policies),
                 desired.password_policy)


def plan_changes(config: AccountConfig, desired: State, live: State) -> list[Change]:
    return list(plan_account(config, desired, live).changes)


def effective_password_policy(desired: State, live: State) -> PasswordPolicy | None:
    """The account's password policy once the plan is applied (for new passwords)."""
    if desired.password_policy is None:
        return live.password_policy
    return desired.password_policy.over(live.password_policy)


def align(config: AccountConfig, desired: State, live: State) -> PlanContext:
    ctx = PlanContext(config, desired, live)
    users = _case_renames(desired.users, live.users)
    groups = _case_renames(desired.groups, live.groups)
    arns = _replaced_arns(config, desired, live)
    for want in desired.policies.values():
        have = next((p for p in live.policies.values() if p.name.lower() == want.name.lower()
                     and p.name != want.name), None)
        if have is not None:
            ctx.problem(want.source, (
                f"policy {want.name}: exists in AWS as {shown(have.name)}; IAM names are "
                "case-insensitive and a managed policy cannot be renamed: write "
                f"{shown(have.name)}"))

    def group_name(name: str) -> str:
        return next((d for d, old in groups.items() if old == name), name)

    def arn(value: str) -> str:
        return arns.get(value, value)

    view_groups = {group_name(g.name): dataclasses.replace(
        g, name=group_name(g.name), managed_policies=frozenset(map(arn, g.managed_policies)))
        for g in live.groups.values()}
    view_users = {}
    for user in live.users.values():
        name = next((d for d, old in users.items() if old == user.name), user.name)
        view_users[name] = dataclasses.replace(
            user, name=name, groups=frozenset(map(group_name, user.groups)),
            attached_policies=frozenset(map(arn, user.attached_policies)))
    ctx.live = State(view_users, view_groups, live.policies, live.password_policy,
                     live.outside)
    ctx.renamed_users = users
    ctx.renamed_groups = groups
    return ctx


def _case_renames(desired: Mapping[str, User | Group],
                  live: Mapping[str, User | Group]) -> dict[str, str]:
    """Declared name -> live name, where the two differ only by case."""
    folded = {name.lower(): name for name in live}
    return {name: folded[name.lower()] for name in desired
            if name not in live and name.lower() in folded}


def _replaced_arns(config: AccountConfig, desired: State, live: State) -> dict[str, str]:
    """Old ARN -> new ARN of each policy whose path changes: it is re-attached under the new
    ARN, so attachments are compared as if the replacement had happened."""
    return {config.policy_arn(have.path, have.name): config.policy_arn(want.path, want.name)
            for want in desired.policies.values()
            if (have := live.policies.get(want.name)) is not None and have.path != want.path}
