"""One finding, whatever found it, and the rules that find them.

Lint (policy documents in the repository), audit and CIS (live state) and escalation (who can
make themselves more powerful) each have a catalogue of rules. A rule says who it is (id,
default severity, the `account.yaml` setting that changes it, one line of help, references in
public catalogues) and checks something; what it finds is a `Finding`. Every output (text,
JSON, markdown, SARIF) reads these two shapes, so a new rule is one entry in its catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from iamstate.errors import INVALID, NOTICE, Problem
from iamstate.model.location import Location

if TYPE_CHECKING:
    from iamstate.model.account import Account

# Lint speaks of errors, warnings and suggestions (what stops validate), the live rules of
# critical, high, medium and low (how much power is at stake): both scales are findings'.
ERROR, SECURITY, WARNING, SUGGESTION = "error", "security warning", "warning", "suggestion"
CRITICAL, HIGH, MEDIUM, LOW = "critical", "high", "medium", "low"
ACCOUNT_FILE = "account.yaml"  # where an account's undeclared subjects are found
SEVERITIES = (ERROR, CRITICAL, HIGH, SECURITY, WARNING, MEDIUM, LOW, SUGGESTION)

CIS_V4, CIS_V7 = "CIS v4.0.1", "CIS v7.0"  # the benchmark versions a rule's ids are of


def cis(v4: str, v7: str) -> tuple[str, ...]:
    """A rule's references in CIS AWS Foundations ("-" where a version has no control)."""
    return tuple(f"{version} {id}" for version, id in ((CIS_V4, v4), (CIS_V7, v7))
                 if id != "-")


def cis_label(references: Sequence[str]) -> str:
    """`CIS 1.15 / 2.13` for a rule with CIS ids ("-" for a version without it), else ""."""
    ids = {version: ref.removeprefix(version + " ") for ref in references
           for version in (CIS_V4, CIS_V7) if ref.startswith(version + " ")}
    return f"CIS {ids.get(CIS_V4, '-')} / {ids.get(CIS_V7, '-')}" if ids else ""


@dataclass(frozen=True)
class Finding:
    """Something a rule found: which rule, about what (`user/NAME`, `group/NAME`,
    `account/root`, or the policy a lint finding is in), how bad, what it is and what to do,
    where in the repository (when known) and the same thing in public catalogues."""

    rule: str
    subject: str
    severity: str
    message: str
    fix: str = ""
    location: Location | None = None
    references: tuple[str, ...] = ()
    accepted_at: str = ""  # file:line of the accepted_risks entry that accepts it

    def at(self, location: Location | None) -> Finding:
        return replace(self, location=location)


C_contra = TypeVar("C_contra", contravariant=True)
H_co = TypeVar("H_co", covariant=True)


class RuleInfo(Protocol):
    """What outputs say about a rule of any catalogue (SARIF's rule metadata, the schema's
    hints, the README's tables)."""

    @property
    def id(self) -> str: ...

    @property
    def severity(self) -> str: ...  # by default; a setting may change it

    @property
    def setting(self) -> str: ...  # the key in account.yaml that changes it; "" for none

    @property
    def help(self) -> str: ...  # one line for people

    @property
    def references(self) -> tuple[str, ...]: ...  # CIS ids, pathfinding.cloud ids, URLs


class Rule(RuleInfo, Protocol[C_contra, H_co]):
    """A rule and its check of a context (a policy document for lint, an account's live
    state for audit): what it finds, a `Finding` or a hit the caller locates."""

    def check(self, context: C_contra) -> Iterable[H_co]: ...


C = TypeVar("C")


@dataclass(frozen=True)
class CheckedRule(Generic[C]):
    """A rule whose check is one function of the context, registered in a `Catalogue`."""

    id: str
    severity: str
    help: str
    checker: Callable[[CheckedRule[C], C], Iterable[Finding]] = field(repr=False)
    setting: str = ""
    references: tuple[str, ...] = ()

    def check(self, context: C) -> Iterable[Finding]:
        return self.checker(self, context)

    def found(self, subject: str, message: str, fix: str) -> Finding:
        """A finding of this rule, with its severity and references."""
        return Finding(self.id, subject, self.severity, message, fix,
                       references=self.references)


class Catalogue(Generic[C]):
    """Rules by id, each registered where its check is written (`@catalogue.rule(...)`):
    running them is a loop, never a chain of ifs to extend."""

    def __init__(self) -> None:
        self.rules: dict[str, CheckedRule[C]] = {}

    def rule(self, id: str, severity: str, help: str, references: tuple[str, ...] = ()
             ) -> Callable[[Callable[[CheckedRule[C], C], Iterable[Finding]]],
                           Callable[[CheckedRule[C], C], Iterable[Finding]]]:
        def register(checker: Callable[[CheckedRule[C], C], Iterable[Finding]]
                     ) -> Callable[[CheckedRule[C], C], Iterable[Finding]]:
            if id in self.rules:
                raise ValueError(f"rule {id} registered twice")
            self.rules[id] = CheckedRule(id, severity, help, checker, references=references)
            return checker
        return register

    def __getitem__(self, id: str) -> CheckedRule[C]:
        return self.rules[id]

    def check(self, context: C) -> list[Finding]:
        return [found for rule in self.rules.values() for found in rule.check(context)]


@dataclass(frozen=True)
class Described:
    """A rule's metadata where its check is not one function: the repository's own
    validation (the loader), an escalation path (the escalation engine)."""

    id: str
    severity: str
    help: str
    setting: str = ""
    references: tuple[str, ...] = ()


def declared_at(subject: str, account: Account) -> Location:
    """Where the repository declares a live finding's subject (`user/NAME`, `group/NAME`,
    `policy/NAME`): its entry, or the account's account.yaml for anything it does not
    declare (the root user, the password policy, a user made by hand)."""
    kind, _, name = subject.partition("/")
    declared: Mapping[str, Any] = {"user": account.desired.users,
                                   "group": account.desired.groups,
                                   "policy": account.desired.policies}.get(kind, {})
    source = getattr(declared.get(name), "source", None)
    if isinstance(source, Location):
        return source
    return Location(account.config.directory / ACCOUNT_FILE, 1)


def of_problem(problem: Problem, root: Path) -> Finding:
    """A problem in the repository as the one finding every output reads (SARIF): located
    at its file and line; its subject is the file, relative to the repository `root`."""
    rule = problem.rule or (INVALID if problem.severity == "error" else NOTICE)
    try:
        subject = problem.file.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        subject = problem.file.name
    return Finding(rule, subject, problem.severity, problem.message,
                   location=Location(problem.file, problem.line))


def located(findings: Iterable[Finding], account: Account) -> list[Finding]:
    """Live findings at their declarations (those already located keep their place)."""
    return [f if f.location else f.at(declared_at(f.subject, account)) for f in findings]
