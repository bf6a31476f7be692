"""Conditions: blocks as written, and a small evaluator to tell which combinations can hold.

Not conditions.py, which says conditions in words: this one decides, per request context,
whether a block holds, cannot hold, or cannot be told (then both outcomes count)."""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from itertools import product
from typing import Any

from iamstate.analysis.globs import _ANY_VARIABLE, glob_match

Clause = tuple[str, str, tuple[str, ...]]  # operator, key as written, values
Block = tuple[Clause, ...]  # one statement's Condition: every clause must hold

_NEGATED = {
    "StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals",
    "DateNotEquals": "DateEquals", "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}
_OTHER_VALUE = "iamstate-other-value"
_SEARCH_LIMIT = 4096  # combinations of candidate values tried before assuming "possible"

def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None

def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool | None]:
    def match(actual: str, expected: str) -> bool | None:
        a, e = _number(actual), _number(expected)
        return None if a is None or e is None else compare(a, e)
    return match

def _ip(actual: str, expected: str) -> bool | None:
    try:
        return ipaddress.ip_address(actual) in ipaddress.ip_network(expected, strict=False)
    except ValueError:
        return None

_MATCHERS: dict[str, Callable[[str, str], bool | None]] = {
    "StringEquals": lambda a, e: a == e,
    "StringEqualsIgnoreCase": lambda a, e: a.lower() == e.lower(),
    "StringLike": lambda a, e: glob_match(e, a),
    "ArnEquals": lambda a, e: glob_match(e, a),
    "ArnLike": lambda a, e: glob_match(e, a),
    "Bool": lambda a, e: a.lower() == e.lower(),
    "BinaryEquals": lambda a, e: a == e,
    "IpAddress": _ip,
    "NumericEquals": _numeric(lambda a, e: a == e),
    "NumericLessThan": _numeric(lambda a, e: a < e),
    "NumericLessThanEquals": _numeric(lambda a, e: a <= e),
    "NumericGreaterThan": _numeric(lambda a, e: a > e),
    "NumericGreaterThanEquals": _numeric(lambda a, e: a >= e),
}

def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

def parse_condition(condition: Any) -> Block:
    """A statement's Condition as a sorted block of (operator, key, values) clauses."""
    if not isinstance(condition, Mapping):
        return ()
    clauses: list[Clause] = []
    for operator, entries in condition.items():
        if not isinstance(entries, Mapping):
            continue
        for key, raw in entries.items():
            values = [raw] if isinstance(raw, str | int | float | bool) else list(raw)
            clauses.append((str(operator), str(key), tuple(sorted(_value_text(v)
                                                                  for v in values))))
    return tuple(sorted(clauses))

def _resolve_values(values: tuple[str, ...], context: Mapping[str, str | None]) -> list[str]:
    def replace(match: re.Match[str]) -> str:
        found = context.get(match.group(0)[2:-1].lower())
        return found if found is not None else match.group(0)
    return [_ANY_VARIABLE.sub(replace, v) if "${" in v else v for v in values]

def _clause_holds(clause: Clause, context: Mapping[str, str | None]) -> bool | None:
    """True/False, or None when iamstate cannot tell (an operator it does not evaluate,
    multi-valued keys, dates): callers then assume both outcomes are possible."""
    operator, key, values = clause
    if ":" in operator:  # ForAnyValue: / ForAllValues: work on multi-valued keys
        return None
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    actual = context.get(key.lower())
    if base == "Null":
        return ("true" if actual is None else "false") in {v.lower() for v in values}
    positive = _NEGATED.get(base, base)
    matcher = _MATCHERS.get(positive)
    if actual is None:
        return if_exists or base in _NEGATED
    if matcher is None:
        return None
    results = [matcher(actual, v) for v in _resolve_values(values, context)]
    if any(r is None for r in results):
        return None
    hit = any(results)
    return not hit if base in _NEGATED else hit

def _block_holds(block: Block, context: Mapping[str, str | None]) -> bool | None:
    results = [_clause_holds(clause, context) for clause in block]
    if False in results:
        return False
    return None if None in results else True

def _candidates(clauses: Iterable[Clause]) -> dict[str, list[str | None]]:
    """Per condition key (lower-case): absent, each value written, values around them, and
    one value nobody wrote (not for booleans: a Bool key is "true" or "false")."""
    found: dict[str, set[str]] = {}
    boolean: dict[str, bool] = {}
    for operator, key, values in clauses:
        texts = found.setdefault(key.lower(), set())
        is_bool = operator.removesuffix("IfExists") in ("Bool", "Null")
        boolean[key.lower()] = boolean.get(key.lower(), True) and is_bool
        for value in values:
            texts.add(value)
            texts.add(value.replace("*", "").replace("?", "x"))
            number = _number(value)
            if number is not None:
                texts.update({repr(number - 1), repr(number + 1)})
            if "IpAddress" in operator:
                with contextlib.suppress(ValueError):
                    texts.add(str(ipaddress.ip_network(value, strict=False).network_address))
    out: dict[str, list[str | None]] = {}
    for key, texts in sorted(found.items()):
        if boolean[key]:
            out[key] = [None, "true", "false"]
        else:
            out[key] = [None, *sorted(texts - {_OTHER_VALUE}), _OTHER_VALUE]
    return out

@lru_cache(maxsize=65536)
def _example(
    required: frozenset[Block], excluded: frozenset[Block], fixed: tuple[tuple[str, str], ...]
) -> tuple[tuple[str, str], ...] | None:
    """Some context (key, value pairs; absent keys left out) where every `required` block may
    hold and no `excluded` block surely holds, with `fixed` keys set; None if there is none."""
    fixed_values = {k.lower(): v for k, v in fixed}
    clauses = [c for block in required | excluded for c in block]
    written = {key.lower(): key for _, key, _ in clauses} | {k.lower(): k for k, _ in fixed}
    choices = {k: v for k, v in _candidates(clauses).items() if k not in fixed_values}
    combinations = 1
    for values in choices.values():
        combinations *= len(values)
    if combinations > _SEARCH_LIMIT:
        return tuple(fixed)  # too many to try: assume it can hold (a reviewer sees more)
    keys = list(choices)
    for picked in product(*choices.values()):
        context: dict[str, str | None] = {**dict(zip(keys, picked, strict=True)),
                                          **fixed_values}
        if all(_block_holds(b, context) is not False for b in required) and all(
                _block_holds(b, context) is not True for b in excluded):
            return tuple(sorted((written.get(k, k), v) for k, v in context.items()
                                if v is not None))
    return None

def conditions_possible(
    required: Iterable[Block], excluded: Iterable[Block] = (),
    fixed: Mapping[str, str] | None = None,
) -> bool:
    """Can a request satisfy every `required` block while no `excluded` block applies?"""
    return _example(frozenset(required), frozenset(excluded),
                    tuple(sorted((fixed or {}).items()))) is not None

def _block_json(blocks: Iterable[Block]) -> dict[str, Any]:
    """Blocks merged into one IAM Condition mapping; `AllOf` when two blocks would clash."""
    merged: dict[str, dict[str, list[str]]] = {}
    ordered = sorted(blocks)
    for block in ordered:
        for operator, key, values in block:
            existing = merged.setdefault(operator, {})
            if key in existing and existing[key] != list(values):
                return {"AllOf": [_block_json([b]) for b in ordered]}
            existing[key] = list(values)
    return merged
