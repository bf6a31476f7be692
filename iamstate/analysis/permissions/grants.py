"""Grants: pieces as people read them (folded actions, resources, conditions as IAM writes
them, the policies they come from), and the questions asked of one grant."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from iamstate.analysis.meaning import grant_line
from iamstate.analysis.permissions.action_sets import ActionSet
from iamstate.analysis.permissions.condition_eval import Block, _block_holds, _block_json, _example
from iamstate.analysis.permissions.regions import Region, _resolve_region
from iamstate.analysis.permissions.statements import _Piece
from iamstate.analysis.reach import compact, plain

ConditionJson = Mapping[str, Any]

@dataclass(frozen=True)
class Grant:
    """Actions on resources under conditions, and the policies it comes from (`via`).

    `not_resources`: resources excluded (NotResource, or an unconditional Deny on part of
    the resources). `unless`: conditions under which a Deny (named in `denied_by`) takes it
    away — e.g. require-MFA's `BoolIfExists aws:MultiFactorAuthPresent false`."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: ConditionJson = field(default_factory=dict, hash=False)
    via: tuple[str, ...] = ()
    not_resources: tuple[str, ...] = ()
    unless: tuple[ConditionJson, ...] = field(default=(), hash=False)
    denied_by: tuple[str, ...] = ()
    action_set: ActionSet = field(default=ActionSet(), compare=False, repr=False)
    region: Region = field(default=Region(frozenset()), compare=False, repr=False)
    order_text: str = field(default="", compare=False, repr=False)  # conditions, for sorting

    def line(self) -> str:
        """`s3:DeleteObject, s3:PutObject on arn:aws:s3:::prod/*  (via group/Data inline X)`"""
        return grant_line(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """SPEC §3 `gains[]`/`losses[]`: actions, resources, conditions, via; plus
        not_resources, unless and denied_by when (and only when) they say something."""
        out: dict[str, Any] = {"actions": list(self.actions), "resources": list(self.resources),
                               "conditions": plain(self.conditions), "via": list(self.via)}
        if self.not_resources:
            out["not_resources"] = list(self.not_resources)
        if self.unless:
            out["unless"] = [plain(block) for block in self.unless]
        if self.denied_by:
            out["denied_by"] = list(self.denied_by)
        return out

    def covers(self, action: str, resource: str, context: Mapping[str, str]) -> bool:
        """Does this grant speak about that request? (An undecidable condition counts as yes.)"""
        if action not in self.action_set or not self.region.matches_resource(resource):
            return False
        values: dict[str, str | None] = {k.lower(): v for k, v in context.items()}
        return all(_block_holds(b, values) is not False for b in self.region.conditions) and all(
            _block_holds(b, values) is not True for b in self.region.unless)

    def example_context(self, fixed: Mapping[str, str] | None = None) -> dict[str, str] | None:
        """A request context (keys left out are absent) under which the grant applies."""
        found = _example(self.region.conditions, self.region.unless,
                         tuple(sorted((fixed or {}).items())))
        return None if found is None else dict(found)

    def possible(self, fixed: Mapping[str, str] | None = None) -> bool:
        """Can the grant apply to a request carrying the `fixed` context keys?"""
        return self.example_context(fixed) is not None

@lru_cache(maxsize=65536)
def _conditions_json(blocks: tuple[Block, ...]) -> tuple[Mapping[str, Any], str]:
    """Blocks as a Condition mapping, and its compact text (for ordering): the same few
    conditions recur on thousands of grants, so each is worked out once."""
    merged = MappingProxyType(_block_json(blocks))
    return merged, compact(merged)

def _grant(piece: _Piece, username: str | None = None) -> Grant:
    region = piece.region if username is None else _resolve_region(piece.region, username)
    conditions, conditions_text = _conditions_json(tuple(sorted(region.conditions)))
    unless = tuple(_conditions_json((b,)) for b in sorted(region.unless))
    return Grant(
        actions=piece.actions.folded(),
        resources=tuple(sorted(region.resources)),
        conditions=conditions,
        via=tuple(sorted(piece.via)),
        not_resources=tuple(sorted(region.not_resources)),
        unless=tuple(mapping for mapping, _ in unless),
        denied_by=tuple(sorted(piece.denied_by)),
        action_set=piece.actions,
        region=region,
        order_text=conditions_text + "|" + "|".join(text for _, text in unless),
    )

def _grant_order(grant: Grant) -> tuple[Any, ...]:
    # `actions` is already in case-insensitive order; comparing the tuples stops early.
    return (grant.resources, grant.not_resources, grant.actions, grant.order_text,
            grant.via, grant.denied_by)
