"""Every kind of change, registered on import: plan, render and apply loop over `KINDS`."""

from iamstate.plan.kinds import (  # noqa: F401 (each module registers its kind)
    group,
    group_attachment,
    group_policy,
    login_profile,
    managed_policy,
    membership,
    password_policy,
    user,
    user_policy,
)
from iamstate.plan.kinds.base import KINDS, Kind, all_actions, kind_of, order_key, stage

__all__ = ["KINDS", "Kind", "all_actions", "kind_of", "order_key", "stage"]
