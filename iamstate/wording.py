"""Counts and lists as people write them: "1 service", "2 services", "jdoe and asmith are".

Every message that puts a number before a noun, or a list of names before a verb, goes
through here, so none of them says "1 services" or "jdoe, asmith is"."""

from __future__ import annotations

from collections.abc import Sequence

_IRREGULAR = {"policy": "policies", "entry": "entries", "was": "were", "is": "are",
              "has": "have", "becomes": "become", "this": "these", "it": "they"}


def plural(noun: str) -> str:
    """The plural of a noun (or a verb's third person: "is", "becomes") this tool uses."""
    head, _, last = noun.rpartition(" ")
    word = _IRREGULAR.get(last) or (last[:-1] + "ies" if last.endswith("y") and
                                    last[-2:-1] not in "aeiou" else last + "s")
    return f"{head} {word}" if head else word


def count(n: int, noun: str, many: str | None = None) -> str:
    """`1 service`, `2 services`, `1,603 changes` (`many`: an irregular plural)."""
    return f"{n:,} {noun if n == 1 else many or plural(noun)}"


def listed(names: Sequence[str], conjunction: str = "and", limit: int | None = None) -> str:
    """`a`, `a and b`, `a, b and c`; past `limit` names, `a, b and 3 more`."""
    items = list(names)
    if limit is not None and len(items) > limit:
        return f"{', '.join(items[:limit])} {conjunction} {len(items) - limit:,} more"
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def agree(subjects: int | Sequence[str], verb: str) -> str:
    """The verb as its subject wants it: `is no longer` for one, `are no longer` for
    several (the first word agrees)."""
    n = subjects if isinstance(subjects, int) else len(subjects)
    first, space, rest = verb.partition(" ")
    return verb if n == 1 else plural(first) + space + rest
