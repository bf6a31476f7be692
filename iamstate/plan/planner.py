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
from iamstate.entities.base import Alignment
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.entities.registry import planned
from iamstate.errors import RepoError
from iamstate.model.account import AccountConfig
from iamstate.model.changes import CREATE, DELETE, UPDATE, Change, Replace
from iamstate.model.state import State
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
    return ctx.live.replace(policies={**ctx.live.policies, **moved})


def _after(desired: State, ctx: PlanContext) -> State:
    """The state once the plan is applied: the repository's, each declared item as the plan
    leaves it (what it keeps on it), plus the undeclared items the plan keeps."""
    kept = {(KINDS[k.kind].model, k.name) for k in ctx.kept if k.kind in KINDS}
    items: dict[str, Mapping[str, Any]] = {}
    for entity in planned():
        declared, current = desired.items(entity.key), ctx.live.items(entity.key)
        if entity.settle is not None:
            settle = entity.settle
            declared = {name: settle(item, current.get(name), ctx)
                        for name, item in declared.items()}
        items[entity.key] = {**declared, **{name: item for name, item in current.items()
                                            if (entity.model, name) in kept}}
    return State.of(items)


def plan_changes(config: AccountConfig, desired: State, live: State) -> list[Change]:
    return list(plan_account(config, desired, live).changes)


def effective_password_policy(desired: State, live: State) -> PasswordPolicy | None:
    """The account's password policy once the plan is applied (for new passwords)."""
    if desired.password_policy is None:
        return live.password_policy
    return desired.password_policy.over(live.password_policy)


def align(config: AccountConfig, desired: State, live: State) -> PlanContext:
    """The context every kind diffs in: live items named as the repository names them
    (IAM names are case-insensitive: a live `asmith` declared as `ASmith` is that user,
    renamed in place), and what refers to a policy moving to a new path found under its
    new ARN."""
    renamed = {entity.name: _case_renames(desired.items(entity.key), live.items(entity.key))
               for entity in planned() if entity.align is not None}
    names = Alignment({entity: {old: new for new, old in renames.items()}
                       for entity, renames in renamed.items()},
                      _replaced_arns(config, desired, live))
    items: dict[str, Mapping[str, Any]] = {}
    for entity in planned():
        aligned = entity.align
        if aligned is not None:
            view = (aligned(item, names) for item in live.items(entity.key).values())
            items[entity.key] = {item.name: item for item in view}
        else:
            items[entity.key] = live.items(entity.key)
    return PlanContext(config, desired, State.of(items, live.outside), renamed)


def _case_renames(desired: Mapping[str, Any], live: Mapping[str, Any]) -> dict[str, str]:
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
