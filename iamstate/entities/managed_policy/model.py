"""A customer managed policy of the account."""

from __future__ import annotations

from dataclasses import dataclass, field

from iamstate.model.fields import NOT_IN_PLAN
from iamstate.model.location import Location
from iamstate.repository.policy import PolicyDocument


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    document: PolicyDocument
    path: str = "/"
    description: str = ""
    # Live only: non-default version ids, oldest first (IAM keeps at most 5 versions).
    old_versions: tuple[str, ...] = field(default=(), compare=False)
    # Live only, read where a change depends on it: what has it attached as a permissions
    # policy ("group/G", "user/U", "role/R") and what uses it as a permissions boundary.
    attached: tuple[str, ...] = field(default=(), compare=False)
    boundary_of: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)
