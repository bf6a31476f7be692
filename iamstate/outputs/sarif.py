"""SARIF 2.1.0 from findings, for code scanning (`--format sarif` on validate, audit, plan).

Every result points into the repository: a lint finding or a validation error at its
`file:line`, a live finding at the declaration of its principal (the user's or group's YAML
entry) or at the account's `account.yaml` when the repository does not declare it. Paths are
relative to the repository root (`uriBaseId`), so the log names no folder of the machine that
made it; a file outside the repository is never named, and no policy document is copied in:
a result says what the finding says, nothing more.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from iamstate import __version__
from iamstate.analysis.findings import (
    CRITICAL,
    ERROR,
    HIGH,
    LOW,
    MEDIUM,
    SECURITY,
    SUGGESTION,
    WARNING,
    Described,
    Finding,
    RuleInfo,
)
from iamstate.model.location import Location
from iamstate.outputs.base import Output, Validation

if TYPE_CHECKING:
    from iamstate.errors import Problem
    from iamstate.model.account import Account
    from iamstate.plan.planner import AccountPlan

VERSION = "2.1.0"
SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
          "sarif-schema-2.1.0.json")
ROOT = "REPOROOT"  # the uriBaseId every location is relative to
# SARIF has three levels; a security finding also gets GitHub's `security-severity` (0-10),
# which code scanning shows as critical / high / medium / low.
LEVELS: Mapping[str, str] = {
    ERROR: "error", CRITICAL: "error", HIGH: "error",
    SECURITY: "warning", WARNING: "warning", MEDIUM: "warning",
    LOW: "note", SUGGESTION: "note"}
SECURITY_SEVERITY: Mapping[str, str] = {
    CRITICAL: "9.5", HIGH: "8.0", SECURITY: "7.0", MEDIUM: "5.5", LOW: "3.0"}


def validate_log(repo: Path, accounts: Sequence[Account] = (),
                 problems: Sequence[Problem] = ()) -> dict[str, Any]:
    """`validate`: the errors that stop it, or the warnings of a valid repository."""
    from iamstate.analysis.findings import of_problem
    from iamstate.analysis.lint import RULES
    from iamstate.errors import INVALID, NOTICE

    repository = (Described(INVALID, ERROR, "the repository is invalid: IAM would refuse it, "
                            "or iamstate cannot tell what it means"),
                  Described(NOTICE, WARNING, "worth a look before it is applied"))
    found = [of_problem(p, repo) for p in problems]
    found += [of_problem(w, repo) for account in accounts for w in account.warnings]
    return sarif_log(found, (*RULES.values(), *repository), repo, "iamstate/validate")


def audit_log(repo: Path, findings_by_account: Mapping[str, Sequence[Finding]]
              ) -> dict[str, Any]:
    """`audit`: every account's findings, at their declarations (see `located`)."""
    from iamstate.analysis.audit import REPOSITORY_RULES
    from iamstate.analysis.audit import RULES as AUDIT_RULES
    from iamstate.analysis.cis import CONTROLS
    from iamstate.analysis.escalation import RULES as ESCALATION_RULES

    rules: tuple[RuleInfo, ...] = (*AUDIT_RULES.rules.values(), *REPOSITORY_RULES.rules.values(),
             *CONTROLS.rules.values(), *ESCALATION_RULES)
    found = [f for findings in findings_by_account.values() for f in findings]
    return sarif_log(found, rules, repo, "iamstate/audit")


def plan_log(repo: Path, plans: Sequence[AccountPlan], accounts: Sequence[Account]
             ) -> dict[str, Any]:
    """`plan`: the escalation findings the plan brings or keeps (accepted ones suppressed
    with where they were accepted; those it removes are not results)."""
    from iamstate.analysis.escalation import RULES as ESCALATION_RULES
    from iamstate.analysis.findings import located
    from iamstate.analysis.meaning import GONE

    by_name = {account.config.name: account for account in accounts}
    found = [f for plan in plans if plan.consequences is not None
             for f in located((e.finding() for e in plan.consequences.findings
                               if e.status != GONE), by_name[plan.config.name])]
    return sarif_log(found, ESCALATION_RULES, repo, "iamstate/plan")


class SarifOutput(Output):
    """SARIF 2.1.0 for code scanning: the log alone on stdout, every result at its place in
    the repository (the accounts given say where each subject is declared)."""

    name = "sarif"
    alone = True

    def plan(self, plans: Sequence[AccountPlan]) -> None:
        self.write(json.dumps(plan_log(self.repo, plans, self.accounts), indent=2))

    def audit(self, findings: Mapping[str, Sequence[Finding]]) -> None:
        self.write(json.dumps(audit_log(self.repo, findings), indent=2))

    def validate(self, result: Validation) -> None:
        self.write(json.dumps(validate_log(self.repo, self.accounts, result.problems),
                              indent=2))


def sarif_log(findings: Sequence[Finding], rules: Iterable[RuleInfo], repo: Path,
              category: str) -> dict[str, Any]:
    """One run of iamstate: the rules known (those of the catalogues the command ran, and any
    a finding names besides) and a result per finding. `category` tells code scanning which
    command's results replace which (`iamstate/audit`, `iamstate/validate`, ...)."""
    known = {r.id: r for r in rules}
    for f in findings:
        known.setdefault(f.rule, Described(f.rule, f.severity, f.rule))
    ids = sorted(known)
    index = {rule: i for i, rule in enumerate(ids)}
    root = repo.resolve()
    relative = _relative_text(repo)
    return {
        "$schema": SCHEMA,
        "version": VERSION,
        "runs": [{
            "tool": {"driver": _driver([known[i] for i in ids])},
            "automationDetails": {"id": f"{category}/"},
            "originalUriBaseIds": {ROOT: {"description": {
                "text": "The root of the iamstate repository (accounts/, policies/)."}}},
            "results": [_result(f, index[f.rule], root, category, relative)
                        for f in findings],
        }],
    }


def _driver(rules: Sequence[RuleInfo]) -> dict[str, Any]:
    driver: dict[str, Any] = {"name": "iamstate", "version": __version__,
                              "semanticVersion": __version__,
                              "rules": [_rule(r) for r in rules]}
    uri = _information_uri()
    if uri:
        driver["informationUri"] = uri
    return driver


def _information_uri() -> str | None:
    """The project's home page as its package declares it (none: the key is left out)."""
    try:
        meta = importlib.metadata.metadata("iamstate")
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in meta.get_all("Project-URL") or ():
        label, _, url = str(entry).partition(",")
        if label.strip().lower() in ("homepage", "home", "source", "repository"):
            return url.strip()
    return None


def _rule(rule: RuleInfo) -> dict[str, Any]:
    references = list(rule.references)
    help_text = rule.help + (f" References: {', '.join(references)}." if references else "")
    if rule.setting:
        help_text += f" Setting: `lint: {{{rule.setting}: error|warn|suggestion|off}}`."
    properties: dict[str, Any] = {"tags": ["security", "iam", *references]}
    if rule.severity in SECURITY_SEVERITY:
        properties["security-severity"] = SECURITY_SEVERITY[rule.severity]
    out: dict[str, Any] = {
        "id": rule.id,
        "shortDescription": {"text": rule.help},
        "fullDescription": {"text": help_text},
        "help": {"text": help_text, "markdown": _help_markdown(rule)},
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning")},
        "properties": properties,
    }
    return out


def _help_markdown(rule: RuleInfo) -> str:
    lines = [f"**{rule.id}**: {rule.help}"]
    if rule.references:
        lines += ["", "References:", *(f"- {_reference_markdown(r)}" for r in rule.references)]
    if rule.setting:
        lines += ["", f"Set it in account.yaml: `lint: {{{rule.setting}: warn}}` (or error, "
                      "suggestion, off)."]
    return "\n".join(lines)


def _reference_markdown(reference: str) -> str:
    if reference.startswith("https://"):
        return f"<{reference}>"
    return f"`{reference}`"


def _relative_text(repo: Path) -> Callable[[str], str]:
    """Messages name files as the loader was given them (`REPO/accounts/...`): in the log,
    relative to the repository root, like the locations."""
    prefixes = sorted({f"{repo.resolve()}{os.sep}", f"{repo.absolute()}{os.sep}",
                       *([f"{repo}{os.sep}"] if str(repo) not in ("", ".") else [])},
                      key=len, reverse=True)

    def relative(text: str) -> str:
        for prefix in prefixes:
            text = text.replace(prefix, "")
        return text
    return relative


def _result(finding: Finding, rule_index: int, root: Path, category: str,
            relative: Callable[[str], str]) -> dict[str, Any]:
    text = relative(finding.message + (f" Fix: {finding.fix}" if finding.fix else ""))
    location: dict[str, Any] = {"logicalLocations": [{"fullyQualifiedName": finding.subject}]}
    physical = _physical(finding.location, root)
    if physical:
        location["physicalLocation"] = physical
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": rule_index,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": text},
        "locations": [location],
        # stable across runs and line moves: the same rule on the same subject is one alert
        "partialFingerprints": {"iamstate/v1": _fingerprint(
            category, finding, physical["artifactLocation"]["uri"] if physical else "")},
    }
    if finding.accepted_at:
        result["suppressions"] = [{"kind": "inSource", "status": "accepted",
                                   "justification": relative(
                                       f"accepted at {finding.accepted_at}")}]
    return result


def _physical(where: Location | None, root: Path) -> dict[str, Any] | None:
    """The location relative to the repository root; None for a file outside it."""
    if where is None:
        return None
    path = Path(where.file)
    try:
        relative = (path if path.is_absolute() else Path.cwd() / path).resolve().relative_to(
            root)
    except ValueError:
        return None
    out: dict[str, Any] = {"artifactLocation": {"uri": quote(relative.as_posix()),
                                                "uriBaseId": ROOT}}
    if where.line >= 1:
        out["region"] = {"startLine": where.line}
    return out


def _fingerprint(category: str, finding: Finding, uri: str) -> str:
    """The same alert from run to run: rule, subject, file and message, less what changes
    daily (counts of days, dates), never the line (an edit above moves it)."""
    message = re.sub(r"\d{2,}", "#", finding.message)
    key = "\0".join((category, finding.rule, finding.subject, uri, message))
    return hashlib.sha256(key.encode()).hexdigest()[:32]
