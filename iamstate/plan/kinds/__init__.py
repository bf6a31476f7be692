"""The kinds of change: each entity (iamstate/entities/) registers the kinds that plan it,
and plan, render and apply loop over `KINDS`."""

from iamstate.plan.kinds.base import KINDS, Kind, all_actions, kind_of, order_key, stage

__all__ = ["KINDS", "Kind", "all_actions", "kind_of", "order_key", "stage"]
