"""Expected failures, as types. `cli.py` catches them once and maps them to exit codes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the repository, at `file:line`, with what to write instead."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


SHOWN_MAX = 64


def shown(value: object) -> str:
    """A value from a file, safe to put in a message: quoted when short and on one line,
    otherwise only what kind of value it is. Error messages reach CI logs; a file's contents
    (a key, a secret read through a link) must never do."""
    if isinstance(value, str):
        if len(value) <= SHOWN_MAX and "\n" not in value and "\r" not in value:
            return repr(value)
        return f"a text of {len(value):,} characters"
    if isinstance(value, bool | int | float) or value is None:
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class IamStateError(Exception):
    """Base class: an expected error that ends a command with exit code 1."""


class RepoError(IamStateError):
    """The repository is invalid. Carries every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (str(p.file), p.line, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class AccountMismatch(IamStateError):
    """The credentials reach another AWS account than the one the repository names."""


class StalePlan(IamStateError):
    """Live state or the repository moved on since the plan was made (or it was edited)."""


class UnsafePlan(IamStateError):
    """The plan deletes more than `safety.max_deletions` allows."""


class PlanFileError(IamStateError):
    """A plan file that cannot be read as an iamstate plan."""


class ApplyFailed(IamStateError):
    """An API call failed halfway through an apply; what was done is in the report."""


class AwsError(IamStateError):
    """AWS could not be reached or refused a read (credentials, endpoint, permissions)."""
