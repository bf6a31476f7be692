"""Immutable JSON-like containers: a frozen model must not hold a dict a caller can change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class FrozenDict(dict[K, V]):
    """A dict that cannot change after it is made (and so can be hashed). A dict subclass so
    that json, jsonschema and isinstance(x, dict) keep working on it."""

    def _immutable(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("FrozenDict is immutable")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _immutable
    __ior__ = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset((k, _hashable(v)) for k, v in self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[T]):
    """A list that cannot change (JSON arrays inside policy documents)."""

    def _immutable(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("FrozenList is immutable")

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = _immutable
    clear = sort = reverse = _immutable
    __iadd__ = __imul__ = _immutable

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(_hashable(v) for v in self))

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, dict | list) else hash(freeze(value))


def freeze(value: Any) -> Any:
    """A deep, immutable copy of JSON-like data."""
    if isinstance(value, FrozenDict | FrozenList):
        return value
    if isinstance(value, Mapping):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return FrozenList(freeze(v) for v in value)
    return value


def frozen_map(items: Mapping[K, V] | Iterable[tuple[K, V]] = ()) -> FrozenDict[K, V]:
    return items if isinstance(items, FrozenDict) else FrozenDict(items)
