"""Expected failures, as types. `cli.py` catches them once and maps them to exit codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from iamstate.wording import listed

INVALID, NOTICE = "REPO-INVALID", "REPO-WARNING"  # the rule ids of problems of no lint rule


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the repository, at `file:line`, with what to write instead: an
    error (validate fails) or, among an account's warnings, a warning. `rule`: the lint
    rule that found it, if one did."""

    file: Path
    line: int  # 0: about the file or folder as a whole (one missing, a name), no line
    message: str
    rule: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else str(self.file)
        return f"{where}: {self.message}"


SHOWN_MAX = 64


_BARE = re.compile(r"[A-Za-z0-9_.:/*?@+=${}#<>-]+")


def shown(value: object) -> str:
    """A value from a file, safe to put in a message and written as people write it: a
    plain name or number bare (`AllUsers`, `s3:GetObject`), anything else in double quotes
    with escapes (a look-alike letter shows as \\u0435, not as an e; a space or a comma
    stays visible); long or multi-line texts only as what kind of value they are. Error
    messages reach CI logs; a file's contents (a key, a secret read through a link) must
    never do."""
    if isinstance(value, str):
        if len(value) <= SHOWN_MAX and "\n" not in value and "\r" not in value:
            return value if _BARE.fullmatch(value) else json.dumps(value)
        return f"a text of {len(value):,} characters"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def shown_list(values: Iterable[object], conjunction: str = "and") -> str:
    """Several values as a sentence lists them: `a, b and c` (never `['a', 'b']`)."""
    return listed([shown(v) for v in values], conjunction)


class IamStateError(Exception):
    """Base class: an expected error that ends a command with exit code 1."""

    exit_code = 1


class RepoError(IamStateError):
    """The repository is invalid (or asks what cannot be done). Carries every problem
    found, not only the first, each at file:line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (str(p.file), p.line, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class AccountMismatch(IamStateError):
    """The credentials reach another AWS account than the one the repository names."""


class StalePlan(IamStateError):
    """Live state or the repository moved on since the plan was made (or it was edited)."""


class UnsafePlan(IamStateError):
    """A check refused the plan before anything changed (see checks.py)."""

    check_id = "UNSAFE"


class TooManyDeletions(UnsafePlan):
    """The plan deletes more than `safety.max_deletions` allows."""

    check_id = "SAFETY-DELETIONS"


class SecretUndeliverable(UnsafePlan):
    """A one-time password would be made with no reviewed recipient to encrypt it to."""

    check_id = "SECRET-DELIVERY"


class RiskyPlan(UnsafePlan):
    """The plan introduces a privilege-escalation path or an administrator that the
    repository does not accept (`accepted_risks` in account.yaml)."""

    check_id = "ESCALATION"


class PlanFileError(IamStateError):
    """A plan file that cannot be read as an iamstate plan."""


class ChangeFailed(IamStateError):
    """One change could not be made (a handler's own refusal, e.g. a policy whose
    attachments moved since the plan); the apply stops after it."""


class ApplyFailed(IamStateError):
    """An apply stopped halfway; `report` says what was done, failed and not done."""

    def __init__(self, message: str, report: object = None) -> None:
        self.report = report
        super().__init__(message)


class Interrupted(ApplyFailed):
    """Ctrl-C during an apply: the calls under way finished, nothing more started."""

    exit_code = 130


class AwsError(IamStateError):
    """AWS could not be reached or refused a read (credentials, endpoint, permissions)."""


class HostError(IamStateError):
    """The CI host's API (GitHub, GitLab) refused, could not be reached, or had nothing
    reviewed to apply (CI commands)."""


class NotReviewed(HostError):
    """A commit is no merge of one change request into the branch applied, or a change
    request has no plan comment that counts: nothing reviewed to apply (CI commands)."""


class GitHubError(HostError):
    """GitHub's API refused or could not be reached (CI commands)."""


class GitLabError(HostError):
    """GitLab's API refused or could not be reached (CI commands)."""


class EditError(IamStateError):
    """`user add`, `user remove` or `fmt` cannot make the edit asked for."""


class ImportRefused(IamStateError):
    """`import` would overwrite something or cannot know which account it reads."""


class SandboxError(IamStateError):
    """The local sandbox endpoint could not be started."""


class RoleRefused(IamStateError):
    """The credentials are the read-only plan role, and the command would write."""


class BootstrapError(IamStateError):
    """An input the bootstrap template cannot be made from (repository, environment, action)."""
