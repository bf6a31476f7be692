"""A change is one of four typed values holding the model objects it is about.

`Create[T]` has what will exist, `Delete[T]` what exists now, `Update[T]` and `Replace[T]`
both. Apply and every renderer read everything they need from these objects: nothing
downstream goes back to AWS to learn what the plan already knew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

CREATE, UPDATE, DELETE = "create", "update", "delete"


@dataclass(frozen=True)
class Create(Generic[T]):
    after: T
    action = CREATE
    symbol = "+"
    verb = "create"

    @property
    def subject(self) -> T:
        return self.after


@dataclass(frozen=True)
class Update(Generic[T]):
    before: T
    after: T
    action = UPDATE
    symbol = "~"
    verb = "update"

    @property
    def subject(self) -> T:
        return self.after


@dataclass(frozen=True)
class Delete(Generic[T]):
    before: T
    action = DELETE
    symbol = "-"
    verb = "destroy"

    @property
    def subject(self) -> T:
        return self.before


@dataclass(frozen=True)
class Replace(Generic[T]):
    """Deleted and created again, because IAM cannot change it in place (a managed
    policy's path or description). Written as an update in plan JSON (SPEC's three
    actions), counted as one to add and one to destroy, and against max_deletions."""

    before: T
    after: T
    action = UPDATE
    symbol = "-/+"
    verb = "replace"

    @property
    def subject(self) -> T:
        return self.after


Change = Create[Any] | Update[Any] | Delete[Any] | Replace[Any]
CHANGE_TYPES: dict[str, type[Create[Any] | Update[Any] | Delete[Any] | Replace[Any]]] = {
    "create": Create, "update": Update, "delete": Delete, "replace": Replace}


def change_type_name(change: Change) -> str:
    return "replace" if isinstance(change, Replace) else change.action


def before_of(change: Change) -> Any:
    return None if isinstance(change, Create) else change.before


def after_of(change: Change) -> Any:
    return None if isinstance(change, Delete) else change.after
