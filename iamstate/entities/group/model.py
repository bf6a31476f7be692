"""A group, its inline policies and its managed policy attachments."""

from __future__ import annotations

from dataclasses import dataclass, field

from iamstate.model.fields import NOT_IN_PLAN
from iamstate.model.location import Location
from iamstate.repository.policy import PolicyDocument


@dataclass(frozen=True)
class Group:
    name: str
    path: str = "/"
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    managed_policies: frozenset[str] = frozenset()  # ARNs, AWS or customer managed
    # Live only: every member, ignored users included (a deletion removes them all).
    members: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)


@dataclass(frozen=True)
class GroupPolicy:
    """An inline policy of a group."""

    group: str
    name: str
    document: PolicyDocument


@dataclass(frozen=True)
class GroupAttachment:
    group: str
    arn: str
