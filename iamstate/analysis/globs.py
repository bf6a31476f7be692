"""IAM's patterns as sets of strings: the wildcards `*` (any run of characters, `/` and `:`
included) and `?` (one character), and the `${...}` policy variables written in them.

The bottom layer of the permissions engine (iamstate.analysis.permissions), kept beside the
package rather than in it: meaning.py compares reaches with `glob_covers`, and importing a
module of the package runs the package, whose grants read their words from meaning.py (a
cycle), and would load the whole engine for every renderer that reads a plan.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

USERNAME = "${aws:username}"
_USERNAME_VARIABLE = re.compile(r"\$\{aws:username\}", re.IGNORECASE)
_ANY_VARIABLE = re.compile(r"\$\{[^}]*\}")

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
