"""A declaration as the loader found it, and the problems it collects (each at file:line):
what an entity's `load` works with."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate.analysis.findings import ERROR
from iamstate.errors import Problem, shown
from iamstate.model.location import Location
from iamstate.repository.yamlio import line_of

TAG_PUNCTUATION = frozenset("_.:/=+-@")


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)
    severity: str = ERROR  # of what is added (warnings: a warning, or their rule's kind)

    def add(self, file: Path, line: int, message: str, rule: str = "",
            severity: str | None = None) -> None:
        problem = Problem(file, line, message, rule, severity or self.severity)
        if problem not in self.items:
            self.items.append(problem)


@dataclass(frozen=True)
class Declared:
    """One declaration in a resource file: its data, where it is, and its tree for lines."""

    name: str
    data: Mapping[str, Any]
    location: Location
    tree: Any
    path: tuple[str, ...]

    def line(self, *steps: Any) -> int:
        return line_of(self.tree, [*self.path, *steps])

    def lines_under(self, *prefix: Any) -> Callable[[tuple[Any, ...]], int]:
        """Line numbers of paths inside the value at `prefix` (e.g. a document in place)."""
        return lambda path: self.line(*prefix, *path)


def tag_character_problem(text: str) -> str | None:
    """AWS allows letters, digits, spaces and _ . : / = + - @ in tag keys and values
    (`[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`) and refuses the call otherwise, halfway through an
    apply; moto accepts anything."""
    for char in text:
        if char in TAG_PUNCTUATION or unicodedata.category(char)[0] in "LZN":
            continue
        return (f"AWS refuses the character {shown(char)} in tags: use letters, digits, spaces and "
                "_ . : / = + - @ (e.g. R-and-D for R&D)")
    return None
