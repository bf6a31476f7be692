"""IAM roles, read from GAAD for the analysis only: iamstate never plans one (no kind), so
a role is never declared, never changed, and whatever a role holds stays (see
PlanContext.untouchable). Assuming or passing a role carries its power, so the escalation
analysis reads who may assume it and what it may do. Service-linked roles are left out:
only their service can use them."""

from __future__ import annotations

from iamstate.entities.base import Entity, Gaad
from iamstate.entities.role.live import read_roles
from iamstate.entities.role.model import Role

ENTITY: Entity[Role] = Entity("role", Role, "roles", read=read_roles,
                              gaad=Gaad("Role", "RoleDetailList"))
