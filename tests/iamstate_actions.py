"""The IAM actions iamstate may call, from where they are declared: the reader's
`READ_ACTIONS` (plan, drift, audit, import: the plan role) and every kind's `actions` (apply:
the apply role, with the reads, since apply plans again first)."""

from __future__ import annotations

from iamstate.aws.live import READ_ACTIONS
from iamstate.plan.kinds import all_actions

PLAN_ACTIONS: tuple[str, ...] = tuple(sorted(READ_ACTIONS))
APPLY_ACTIONS: tuple[str, ...] = tuple(sorted(all_actions()))
