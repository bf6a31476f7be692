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
