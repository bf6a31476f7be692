"""Every entity iamstate knows, registered: a new entity is one line here (and its own
package). Whatever loops over the entities imports this module (the loader, the live
reader, the importer, the planner, the schema)."""

from __future__ import annotations

from typing import Any

from iamstate.entities.base import ENTITIES, Entity, entity_of, in_order, named, register
from iamstate.entities.group.entity import ENTITY as GROUP
from iamstate.entities.managed_policy.entity import ENTITY as POLICY
from iamstate.entities.password_policy.entity import ENTITY as PASSWORD_POLICY
from iamstate.entities.role.entity import ENTITY as ROLE
from iamstate.entities.user.entity import ENTITY as USER

__all__ = ["ENTITIES", "Entity", "entity_of", "in_order", "named", "planned"]

# In this order: GAAD's filters, the kinds' registry and a plan's kept items follow it.
BUILT_IN: tuple[Entity[Any], ...] = (USER, GROUP, POLICY, PASSWORD_POLICY, ROLE)
for _entity in BUILT_IN:
    register(_entity)


def planned() -> list[Entity[Any]]:
    """The entities a plan changes (and a state's digest covers)."""
    return [entity for entity in ENTITIES.values() if entity.planned]
