"""Checks a plan must pass before apply changes anything, each with a stable id and its own
error type. A check is overridden only the way it says: the deletion threshold by
`--allow-deletions N` (a number the reviewer reads), escalation findings by
`accepted_risks` reviewed in git; a one-time password with no reviewed recipient never."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iamstate.entities.user.model import LoginProfile
from iamstate.errors import RiskyPlan, SecretUndeliverable, TooManyDeletions, UnsafePlan
from iamstate.model.changes import Create
from iamstate.plan.planner import AccountPlan
from iamstate.plan.secrets import fingerprint
from iamstate.wording import count


@dataclass(frozen=True)
class Overrides:
    """What the person (or job) applying says, by check."""

    allow_deletions: int | None = None


class Check:
    id: str
    error: type[UnsafePlan]
    description: str

    def check(self, plan: AccountPlan, overrides: Overrides) -> None:
        raise NotImplementedError


class DeletionThreshold(Check):
    id = TooManyDeletions.check_id
    error = TooManyDeletions
    description = "no more users, groups and policies deleted than safety.max_deletions"

    def check(self, plan: AccountPlan, overrides: Overrides) -> None:
        limit = (plan.config.max_deletions if overrides.allow_deletions is None
                 else overrides.allow_deletions)
        count = plan.deletions()
        if count > limit:
            raise self.error(
                f"account {plan.config.name}: the plan deletes {count} users, groups and "
                f"policies, more than the {limit} allowed (safety.max_deletions in "
                f"account.yaml): review it, then apply with --allow-deletions {count}")


class SecretDelivery(Check):
    id = SecretUndeliverable.check_id
    error = SecretUndeliverable
    description = "every new one-time password is encrypted to the key the plan shows"

    def check(self, plan: AccountPlan, overrides: Overrides) -> None:
        for change in plan.changes:
            if not (isinstance(change, Create) and isinstance(change.after, LoginProfile)):
                continue
            profile = change.after
            if profile.public_key is None or fingerprint(profile.public_key) != \
                    profile.recipient:
                raise self.error(f"account {plan.config.name}: the login profile of "
                                 f"{profile.user} has no reviewed public key to encrypt its "
                                 "one-time password to: nothing was changed")


class EscalationGate(Check):
    id = RiskyPlan.check_id
    error = RiskyPlan
    description = ("no new privilege-escalation path or administrator-equivalent user unless "
                   "account.yaml's accepted_risks accepts it (reviewed in git)")

    def check(self, plan: AccountPlan, overrides: Overrides) -> None:
        found = plan.consequences.new_findings if plan.consequences else ()
        if found:
            lines = [f"  {f.id} {f.principal} ({f.severity}): {f.detail}" for f in found]
            accept = "\n".join(f"  {f.acceptance()}" for f in found)
            raise self.error(
                f"account {plan.config.name}: the plan introduces "
                f"{count(len(found), 'privilege-escalation finding')} the repository does not "
                "accept:\n" + "\n".join(lines)
                + "\nNothing was changed. Remove what enables them, or accept them in "
                f"accounts/{plan.config.name}/account.yaml (reviewed in the pull request):\n"
                f"accepted_risks:\n{accept}")


CHECKS: list[Check] = [DeletionThreshold(), SecretDelivery(), EscalationGate()]


def register(check: Check) -> Check:
    CHECKS.append(check)
    return check


def run_checks(plans: Sequence[AccountPlan], overrides: Overrides) -> None:
    """Every check on every account, before any account changes."""
    for plan in plans:
        for check in CHECKS:
            check.check(plan, overrides)
