"""The account password policy. The repository may declare only some settings: the others
keep their live values (UpdateAccountPasswordPolicy resets any field it is not sent, so the
whole merged policy is always sent, and nothing is weakened by omission)."""

from __future__ import annotations

from collections.abc import Iterable

from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.model.changes import Change, Create, Delete, Update
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext


class PasswordPolicyKind(Kind[PasswordPolicy]):
    name = "password_policy"
    label = "account password policy"
    model = PasswordPolicy
    actions = frozenset({"iam:UpdateAccountPasswordPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        want, have = ctx.desired.password_policy, ctx.live.password_policy
        if want is None:  # absent from account.yaml: left as it is
            return []
        merged = want.over(have)
        if have is None:
            return [Create(merged)]
        if merged != have:
            return [Update(have, merged)]
        return []

    def key(self, obj: PasswordPolicy) -> str:
        return "account"

    def describe(self, change: Change) -> list[str]:
        if isinstance(change, Update):
            old, new = change.before.as_dict(), change.after.as_dict()
            lines = [f"{k}: {old.get(k)} -> {v}" for k, v in new.items() if old.get(k) != v]
            return [*lines, "other settings: kept as they are"]
        if isinstance(change, Create):
            return [f"{k}: {v}" for k, v in change.after.as_dict().items()]
        return []

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        if isinstance(change, Delete):
            raise NotImplementedError("iamstate never deletes the password policy")
        ctx.iam.call("update_account_password_policy", **change.after.api_settings())
