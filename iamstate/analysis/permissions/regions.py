"""Regions: resources (patterns minus patterns) times conditions (blocks minus deny blocks),
and the difference of two regions as regions, which Denies and diffs are made of."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from iamstate.analysis.globs import (
    _USERNAME_VARIABLE,
    _drop_covered,
    glob_covers,
    glob_intersection,
    glob_match,
)
from iamstate.analysis.permissions.condition_eval import Block, conditions_possible


@dataclass(frozen=True)
class Region:
    """Requests a grant covers, for its actions: a resource matching one of `resources` and
    none of `not_resources`, in a context where every block of `conditions` holds and no
    block of `unless` does (`unless` = the conditions of Deny statements that apply)."""

    resources: frozenset[str]
    not_resources: frozenset[str] = frozenset()
    conditions: frozenset[Block] = frozenset()
    unless: frozenset[Block] = frozenset()

    @cached_property
    def sort_key(self) -> tuple[Any, ...]:
        return (sorted(self.resources), sorted(self.not_resources), sorted(self.conditions),
                sorted(self.unless))

    def matches_resource(self, resource: str) -> bool:
        return any(glob_match(p, resource) for p in self.resources) and not any(
            glob_match(p, resource) for p in self.not_resources)

def _normal_resources(
    include: Iterable[str], exclude: Iterable[str]
) -> tuple[frozenset[str], frozenset[str]] | None:
    excluded = _drop_covered(exclude)
    kept = [p for p in _drop_covered(include) if not any(glob_covers(e, p) for e in excluded)]
    if not kept:
        return None
    relevant = [e for e in excluded if any(glob_intersection(e, p) for p in kept)]
    return frozenset(kept), frozenset(relevant)

def _normal_conditions(
    required: frozenset[Block], excluded: frozenset[Block]
) -> tuple[frozenset[Block], frozenset[Block]] | None:
    if not conditions_possible(required, excluded):
        return None
    # A deny block that can never hold alongside the required ones restricts nothing.
    return required, frozenset(b for b in excluded if conditions_possible(required | {b}))

def _region(
    include: Iterable[str], exclude: Iterable[str], required: frozenset[Block],
    excluded: frozenset[Block],
) -> Region | None:
    resources = _normal_resources(include, exclude)
    conditions = _normal_conditions(required, excluded) if resources else None
    if resources is None or conditions is None:
        return None
    return Region(resources[0], resources[1], conditions[0], conditions[1])

def _intersect_all(groups: Sequence[Iterable[str]]) -> set[str]:
    """Patterns for strings matching one pattern of every group."""
    current = set(groups[0])
    for group in groups[1:]:
        current = {r for a in current for b in group for r in glob_intersection(a, b)}
    return current

@lru_cache(maxsize=65536)
def region_minus(a: Region, b: Region) -> tuple[Region, ...]:
    """The requests of `a` that `b` does not cover, as regions (empty: `b` covers `a`).

    a - b = (resources a - b) x conditions a  +  (resources a & b) x (conditions a - b)."""
    if not (_intersect_all([a.resources, b.resources])):
        return (a,)
    out: list[Region | None] = [_region(a.resources, a.not_resources | b.resources,
                                        a.conditions, a.unless)]
    if b.not_resources:  # the part of `a` inside b's exceptions is not covered by b either
        inside = _intersect_all([a.resources, b.not_resources, b.resources])
        out.append(_region(inside, a.not_resources, a.conditions, a.unless))
    common = _intersect_all([a.resources, b.resources])
    for required, excluded in _conditions_minus(a, b):
        out.append(_region(common, a.not_resources | b.not_resources, required, excluded))
    regions = {r for r in out if r is not None}
    return tuple(sorted(regions, key=lambda r: r.sort_key))

def _conditions_minus(a: Region, b: Region) -> list[tuple[frozenset[Block], frozenset[Block]]]:
    """not b = (some required block of b fails) or (some deny block of b holds)."""
    pieces = [(a.conditions, a.unless | {x}) for x in sorted(b.conditions - a.conditions)]
    pieces += [(a.conditions | {y}, a.unless) for y in sorted(b.unless - a.unless)]
    return pieces

@lru_cache(maxsize=16384)
def _region_minus_all(a: Region, others: tuple[Region, ...]) -> tuple[Region, ...]:
    remaining = [a]
    for other in others:
        remaining = [piece for r in remaining for piece in region_minus(r, other)]
        if not remaining:
            break
    unique = {r: None for r in remaining}
    return tuple(sorted(unique, key=lambda r: r.sort_key))

def _mentions_username(region: Region) -> bool:
    texts = [*region.resources, *region.not_resources]
    texts += [v for block in region.conditions | region.unless for c in block for v in c[2]]
    return any(_USERNAME_VARIABLE.search(text) for text in texts)

def _resolve_region(region: Region, username: str) -> Region:
    def one(text: str) -> str:
        return _USERNAME_VARIABLE.sub(lambda _: username, text) if "${" in text else text

    def blocks(values: frozenset[Block]) -> frozenset[Block]:
        return frozenset(tuple((op, key, tuple(sorted(one(v) for v in vals)))
                               for op, key, vals in block) for block in values)

    return Region(frozenset(map(one, region.resources)), frozenset(map(one, region.not_resources)),
                  blocks(region.conditions), blocks(region.unless))
