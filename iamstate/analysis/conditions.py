"""Conditions in words: the idioms a reviewer meets every day (require MFA, a corporate IP
range, a region, a tag) said as people say them — "only with MFA", "only from 10.0.0.0/8" —
instead of the policy's JSON.

A grant holds where every clause of its `conditions` holds and no Deny block of its `unless`
does (permissions/). So each clause is said twice here: what the request looks like when
it holds, and when it fails. An allow clause reads "only <holds>"; a Deny block of one
clause reads "only <fails>" (the grant survives exactly where the Deny's clause fails); a
Deny block of several clauses reads "unless <holds> and <holds>". A clause this table does
not know (an operator, a key, set operators, odd values) is never guessed at: its block is
shown as compact JSON, and every condition is said once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iamstate.wording import listed


@dataclass(frozen=True)
class Said:
    """One clause in words: the request when the clause holds, and when it fails."""

    holds: str
    fails: str


Clause = tuple[str, str, tuple[str, ...]]  # operator as written, key as written, values


def clauses(condition: Mapping[str, Any]) -> list[Clause]:
    """A Condition mapping as (operator, key, values) in the order written."""
    out = []
    for operator, keys in condition.items():
        if not isinstance(keys, Mapping):
            continue
        for key, values in keys.items():
            listed_values = values if isinstance(values, list | tuple) else [values]
            out.append((str(operator), str(key), tuple(_text(v) for v in listed_values)))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _mapping(found: Sequence[Clause]) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for operator, key, values in found:
        out.setdefault(operator, {})[key] = list(values)
    return out


def as_json(found: Sequence[Clause]) -> str:
    """Clauses as compact JSON (what a reader sees when no words fit, or in the detail)."""
    return json.dumps(_mapping(found), sort_keys=True, separators=(",", ":"))


# -- the idioms ------------------------------------------------------------------------------

def _mfa(base: str, if_exists: bool, value: str) -> Said | None:
    """aws:MultiFactorAuthPresent: true in MFA sessions, false in sessions without it,
    absent for long-term access keys (so IfExists and Null matter)."""
    with_mfa, without = "with MFA", "without MFA"
    keys = "with long-term access keys"
    if base == "Null":
        return Said(keys, "with temporary credentials") if value == "true" else Said(
            "with temporary credentials", keys)
    if base != "Bool":
        return None
    if value == "true":
        return Said(f"with MFA or {keys}", "in a session without MFA") if if_exists else Said(
            with_mfa, without)
    return Said(without, with_mfa) if if_exists else Said("in a session without MFA",
                                                           f"with MFA or {keys}")


def _bool_key(on: str, off: str) -> Callable[[str, bool, str], Said | None]:
    """A Bool key present in every request (aws:SecureTransport, aws:ViaAWSService)."""
    def said(base: str, if_exists: bool, value: str) -> Said | None:
        if base != "Bool":
            return None
        return Said(on, off) if value == "true" else Said(off, on)
    return said


_BOOL_KEYS: dict[str, Callable[[str, bool, str], Said | None]] = {
    "aws:multifactorauthpresent": _mfa,
    "aws:securetransport": _bool_key("over TLS", "without TLS"),
    "aws:viaawsservice": _bool_key("through an AWS service", "when called directly"),
}

_STRING_EQUAL = ("StringEquals", "StringEqualsIgnoreCase", "StringLike")
_STRING_NOT = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike")
# key -> (phrase for values that match, for values that do not), `{}` the values
_STRING_KEYS = {
    "aws:requestedregion": ("in {}", "outside {}"),
    "aws:sourcevpc": ("through VPC {}", "not through VPC {}"),
    "aws:sourcevpce": ("through VPC endpoint {}", "not through VPC endpoint {}"),
    "aws:principalaccount": ("for principals of account {}", "for principals of other "
                             "accounts than {}"),
}
_TAGS = {"aws:principaltag/": ("for users tagged {}", "for users not tagged {}"),
         "aws:resourcetag/": ("on resources tagged {}", "on resources not tagged {}"),
         "aws:requesttag/": ("when the request tags {}", "unless the request tags {}")}


def _string(base: str, key: str, values: tuple[str, ...]) -> Said | None:
    if base in _STRING_EQUAL:
        positive = True
    elif base in _STRING_NOT:
        positive = False
    else:
        return None
    low = key.lower()
    phrases = _STRING_KEYS.get(low)
    shown: str
    if phrases is not None:
        shown = listed(values, "or")
    else:
        prefix = next((p for p in _TAGS if low.startswith(p) and len(low) > len(p)), None)
        if prefix is None:
            return None
        phrases = _TAGS[prefix]
        tag = key[len(prefix):]
        shown = listed([f"{tag}={v}" for v in values], "or")
    match, miss = (phrase.format(shown) for phrase in phrases)
    return Said(match, miss) if positive else Said(miss, match)


def _ip(base: str, key: str, values: tuple[str, ...]) -> Said | None:
    if key.lower() != "aws:sourceip" or base not in ("IpAddress", "NotIpAddress"):
        return None
    inside, outside = f"from {listed(values, 'or')}", f"not from {listed(values, 'or')}"
    return Said(inside, outside) if base == "IpAddress" else Said(outside, inside)


_DATES = {"DateLessThan": ("before {}", "from {} on"), "DateLessThanEquals": ("until {}",
                                                                            "after {}"),
          "DateGreaterThan": ("after {}", "until {}"), "DateGreaterThanEquals": ("from {} on",
                                                                               "before {}")}


def _date(base: str, key: str, values: tuple[str, ...]) -> Said | None:
    if key.lower() != "aws:currenttime" or base not in _DATES or len(values) != 1:
        return None
    holds, fails = _DATES[base]
    return Said(holds.format(values[0]), fails.format(values[0]))


def _mfa_age(base: str, key: str, values: tuple[str, ...]) -> Said | None:
    if (key.lower() != "aws:multifactorauthage" or len(values) != 1
            or base not in ("NumericLessThan", "NumericLessThanEquals")
            or not values[0].isdigit()):
        return None
    seconds = values[0]
    return Said(f"with MFA in the last {seconds} seconds",
                f"without MFA in the last {seconds} seconds")


def said(clause: Clause) -> Said | None:
    """A clause in words, or None when iamstate has no words for it (it is then shown as
    JSON: a wrong sentence about access is worse than none)."""
    operator, key, values = clause
    if ":" in operator or not values:  # ForAnyValue:/ForAllValues: on multi-valued keys
        return None
    if_exists = operator.endswith("IfExists") and operator != "NullIfExists"
    base = operator.removesuffix("IfExists") if if_exists else operator
    low = key.lower()
    if low in _BOOL_KEYS:
        lowered = {v.lower() for v in values}
        if len(lowered) != 1 or not lowered <= {"true", "false"}:
            return None
        return _BOOL_KEYS[low](base, if_exists, lowered.pop())
    for reader in (_string, _ip, _date, _mfa_age):
        found = reader(base, key, values)
        if found is not None:
            return _if_exists(found, key) if if_exists and base not in _NEGATED else found
    return None


_NEGATED = frozenset({*_STRING_NOT, "NotIpAddress"})


def _if_exists(found: Said, key: str) -> Said:
    """`...IfExists` also holds where the request has no such key (a call made through an
    AWS service has no aws:SourceIp); it fails only where the key is there and differs. (A
    negated operator already holds where the key is absent: IfExists changes nothing.)"""
    return Said(f"{found.holds} or without {key}", found.fails)


# -- a grant's conditions ---------------------------------------------------------------------

@dataclass(frozen=True)
class Wording:
    """A grant's conditions and Deny exceptions said for its line (`words`), and what those
    words replace, as written, for the folded detail (`written`): each condition once."""

    words: tuple[str, ...]
    written: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def wording(conditions: Mapping[str, Any] | None,
            unless: Sequence[Mapping[str, Any]] = ()) -> Wording:
    """`only with MFA, only from 10.0.0.0/8` for the known idioms, `when {json}` and
    `unless {json}` for the rest; the JSON behind the words goes to `written`."""
    only: list[str] = []
    written: list[str] = []
    said_allow = [(c, said(c)) for c in clauses(conditions or {})]
    known = [c for c, s in said_allow if s is not None]
    unknown = [c for c, s in said_allow if s is None]
    only += [s.holds for _, s in said_allow if s is not None]
    if known:
        written.append(f"when {as_json(known)}")
    tail = [f"when {as_json(unknown)}"] if unknown else []
    for block in unless:
        found = clauses(block)
        words = [said(c) for c in found]
        if not found or None in words:
            tail.append(f"unless {as_json(found)}")
            continue
        written.append(f"denied when {as_json(found)}")
        if len(words) == 1:
            only.append(words[0].fails)  # type: ignore[union-attr]
        else:
            tail.append("unless " + " and ".join(w.holds for w in words if w))
    phrases = [f"only {phrase}" for phrase in _unique(only)]
    out = ", ".join(phrases)
    return Wording(_unique([out] if out else []) + _unique(tail), _unique(written))
