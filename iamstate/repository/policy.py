"""Policy documents: substitute `${vars}`, normalise for semantic comparison, lint.

IAM stores a document as written, so the same meaning can come back in another shape
(key order, a string instead of a one-element list, statements reordered). Comparing the
normalised form is what keeps a round trip free of phantom diffs.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iamstate.errors import shown, shown_list
from iamstate.model.frozen import freeze

VARIABLE = re.compile(r"\$\{([^}]*)\}")
# IAM's own policy variables pass through untouched: `${aws:username}`, `${saml:sub}`,
# `${aws:PrincipalTag/team, 'none'}` (anything with a service prefix) and the escapes.
IAM_ESCAPES = frozenset({"*", "?", "$"})
ACTION = re.compile(r"^(\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+)$")
SID = re.compile(r"^[A-Za-z0-9]*$")
VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition",
     "Principal", "NotPrincipal"}
)
# IAM's condition operators (case-sensitive). Each but Null takes an `IfExists` suffix; any
# takes a `ForAllValues:` / `ForAnyValue:` set prefix. A misspelt one is refused by AWS on
# write, after the apply started: say so before.
CONDITION_OPERATORS = frozenset({
    "StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
    "StringLike", "StringNotLike",
    "NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
    "NumericGreaterThan", "NumericGreaterThanEquals",
    "DateEquals", "DateNotEquals", "DateLessThan", "DateLessThanEquals", "DateGreaterThan",
    "DateGreaterThanEquals",
    "Bool", "BinaryEquals", "IpAddress", "NotIpAddress",
    "ArnEquals", "ArnLike", "ArnNotEquals", "ArnNotLike",
    "Null",
})
SET_PREFIXES = ("ForAllValues:", "ForAnyValue:")
PARTITION = re.compile(r"aws(-[a-z0-9]+)*|\$\{partition\}|[a-z0-9?-]*\*[a-z0-9*?-]*")


def substitute(
    value: Any,
    variables: Mapping[str, str],
    unknown: Callable[[tuple[str | int, ...], str], None],
    path: tuple[str | int, ...] = (),
) -> Any:
    """Replace `${name}` for the names in `variables`; report any other non-IAM variable
    with the path where it was written."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if name not in IAM_ESCAPES and ":" not in name:
                unknown(path, name)
            return match.group(0)

        return VARIABLE.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, variables, unknown, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, unknown, (*path, i)) for i, v in enumerate(value)]
    return value


def _as_sorted_list(value: Any, fold_case: bool = False) -> list[str]:
    items = value if isinstance(value, list) else [value]
    texts = {str(item).lower() if fold_case else str(item) for item in items}
    return sorted(texts)


def condition_value(value: Any) -> str:
    """A condition value as IAM reads it: every value is a string (`true` is "true")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _normalise_condition(condition: Any) -> Any:
    """Operators are case-sensitive names; condition *keys* are case-insensitive and every
    value is a string to IAM, so `aws:SourceIp` = `aws:sourceip` and `true` = "true"."""
    if not isinstance(condition, Mapping):
        return condition
    out: dict[str, Any] = {}
    for operator, block in condition.items():
        if not isinstance(block, Mapping):
            out[operator] = block
            continue
        merged: dict[str, set[str]] = {}
        for key, values in block.items():
            items = values if isinstance(values, list) else [values]
            merged.setdefault(str(key).lower(), set()).update(condition_value(v) for v in items)
        out[operator] = {key: sorted(values) for key, values in merged.items()}
    return out


def _normalise_statement(statement: Any, fold_case: bool) -> Any:
    if not isinstance(statement, Mapping):
        return statement
    out: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction"):
            out[key] = _as_sorted_list(value, fold_case)  # IAM reads action names caseless
        elif key in ("Resource", "NotResource"):
            out[key] = _as_sorted_list(value)
        elif key == "Condition":
            out[key] = _normalise_condition(value)
        else:
            out[key] = value
    return out


def normalise(document: Mapping[str, Any], fold_case: bool = True) -> dict[str, Any]:
    """The canonical shape of a document: what IAM means, not how it was written.

    `fold_case=False` keeps action names as written, for showing a document to people."""
    out: dict[str, Any] = dict(document)
    out.setdefault("Version", "2008-10-17")  # IAM's default when Version is left out
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if isinstance(statements, list):
        normalised = [_normalise_statement(s, fold_case) for s in statements]
        # Statement order never changes what a policy grants: compare them as a set.
        out["Statement"] = sorted(normalised, key=lambda s: json.dumps(s, sort_keys=True))
    return out


def canonical_json(document: Mapping[str, Any]) -> str:
    return json.dumps(normalise(document), sort_keys=True, separators=(",", ":"), default=str)


def compact_json(document: Mapping[str, Any]) -> str:
    """The document as sent to AWS: as written, without insignificant whitespace."""
    return json.dumps(document, separators=(",", ":"), default=str)


def quota_length(document: Mapping[str, Any]) -> int:
    """Length as IAM counts it against quotas: whitespace outside strings is not counted."""
    return len(re.sub(r"\s", "", compact_json(document)))


@dataclass(frozen=True)
class PolicyDocument:
    """A policy document. Equal when IAM would read them the same way."""

    document: Mapping[str, Any] = field(compare=False, hash=False)
    canonical: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "document", freeze(self.document))
        object.__setattr__(self, "canonical", canonical_json(self.document))

    def to_json(self) -> str:
        return compact_json(self.document)

    def pretty(self) -> str:
        return json.dumps(normalise(self.document, fold_case=False), indent=2, sort_keys=True,
                          default=str)


Path = tuple[str | int, ...]
Finding = tuple[Path, str]


def _not_finite(value: Any, path: Path = ()) -> list[Path]:
    """Where a document holds NaN or an infinity (YAML's .nan/.inf): no JSON, so no policy."""
    if isinstance(value, float) and not math.isfinite(value):
        return [path]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _not_finite(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _not_finite(v, (*path, i))]
    return []


def lint(document: Any) -> list[Finding]:
    """Grammar errors AWS would reject (or silently accept and misread): (where, sentence)."""
    if not isinstance(document, Mapping):
        return [((), "a policy document must be a mapping with Version and Statement")]
    errors: list[Finding] = [(where, "not a number JSON (or AWS) can hold: write a number or "
                                     "a string") for where in _not_finite(document)]
    version = document.get("Version")
    if version is None:
        errors.append(((), 'Version is missing: write Version: "2012-10-17" (quoted)'))
    elif not isinstance(version, str):
        errors.append((("Version",), 'Version must be a string: write Version: "2012-10-17" '
                                     "with quotes (unquoted, YAML reads it as a date)"))
    elif version not in VERSIONS:
        errors.append((("Version",),
                       f'Version {shown(version)} is not one IAM knows: write "2012-10-17"'))
    for key in sorted(set(document) - {"Version", "Statement", "Id"}):
        errors.append(((key,), f"unknown top-level key {shown(key)}: only Version, Id, Statement"))
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        errors += [(("Statement", *p), m) for p, m in _lint_statement(statements, set())]
        return errors
    if not isinstance(statements, list) or not statements:
        errors.append((("Statement",), "Statement is missing or empty: write a list of "
                                       "statements"))
        return errors
    sids: set[str] = set()
    for index, statement in enumerate(statements):
        errors += [(("Statement", index, *p), f"statement {index + 1}: {m}")
                   for p, m in _lint_statement(statement, sids)]
    return errors


def _lint_statement(statement: Any, sids: set[str]) -> list[Finding]:
    if not isinstance(statement, Mapping):
        return [((), "must be a mapping with Effect, Action and Resource")]
    errors: list[Finding] = []
    for key in sorted(set(statement) - STATEMENT_KEYS):
        errors.append(((key,), f"unknown key {shown(key)}: use one of "
                               f"{shown_list(sorted(STATEMENT_KEYS), 'or')}"))
    for key in ("Principal", "NotPrincipal"):
        if key in statement:
            errors.append(((key,), "identity policies have no Principal: remove it"))
    if statement.get("Effect") not in ("Allow", "Deny"):
        where: Path = ("Effect",) if "Effect" in statement else ()
        effect = shown(statement.get("Effect"))
        errors.append((where, f"Effect must be Allow or Deny, not {effect}"))
    sid = statement.get("Sid")
    if sid is not None:
        if not isinstance(sid, str) or not SID.fullmatch(sid):
            errors.append((("Sid",), f"Sid {shown(sid)} must be letters and digits only"))
        elif sid in sids:
            errors.append((("Sid",), f"Sid {shown(sid)} is used twice: Sids must be unique"))
        else:
            sids.add(sid)
    errors += _lint_pair(statement, "Action", "NotAction", _check_action)
    errors += _lint_pair(statement, "Resource", "NotResource", _check_resource)
    if "Condition" in statement:
        errors += [(("Condition", *p), m) for p, m in _lint_condition(statement["Condition"])]
    return errors


def condition_operator_problem(operator: str) -> str | None:
    """None for an operator IAM knows, else what is wrong and what to write."""
    base = operator
    for prefix in SET_PREFIXES:  # one set prefix at most: `ForAllValues:ForAnyValue:...` is not
        if base.startswith(prefix):
            base = base.removeprefix(prefix)
            break
    if base.endswith("IfExists") and base != "NullIfExists":
        base = base.removesuffix("IfExists")
    if base in CONDITION_OPERATORS:
        return None
    close = difflib.get_close_matches(base, sorted(CONDITION_OPERATORS), n=1)
    hint = f": did you mean {close[0]}?" if close else ""
    return f"unknown condition operator {shown(operator)} (AWS refuses it){hint}"


def _lint_condition(condition: Any) -> list[Finding]:
    if not isinstance(condition, Mapping) or not all(
            isinstance(b, Mapping) for b in condition.values()):
        return [((), "Condition must map operators to {key: value} mappings")]
    errors: list[Finding] = []
    for operator, block in condition.items():
        problem = condition_operator_problem(str(operator))
        if problem:
            errors.append(((operator,), problem))
        for key, value in block.items():
            if ":" not in str(key):
                errors.append(((operator, key), (
                    f"condition key {shown(key)} has no service prefix: write e.g. "
                    "aws:MultiFactorAuthPresent or s3:prefix")))
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, str | int | float | bool) for v in values):
                errors.append(((operator, key), (
                    f"condition {operator} > {shown(key)}: values must be strings, numbers or "
                    "true/false (or a non-empty list of them)")))
    return errors


def _lint_pair(
    statement: Mapping[str, Any], key: str, not_key: str, check: Callable[[str], str | None]
) -> list[Finding]:
    if key in statement and not_key in statement:
        return [((not_key,), f"{key} and {not_key} cannot both be set: keep one")]
    present = key if key in statement else not_key if not_key in statement else None
    if present is None:
        return [((), f"{key} (or {not_key}) is missing")]
    raw = statement[present]
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        return [((present,), f"{present} is an empty list")]
    errors: list[Finding] = []
    for index, value in enumerate(values):
        problem = check(value) if isinstance(value, str) else f"{shown(value)} is not a string"
        if problem:
            where: Path = (present, index) if isinstance(raw, list) else (present,)
            errors.append((where, f"{present}: {problem}"))
    return errors


def _check_action(action: str) -> str | None:
    if ACTION.fullmatch(action):
        return None
    return f"{shown(action)} is not an action name: write service:Action, e.g. s3:GetObject"


def _check_resource(resource: str) -> str | None:
    if resource == "*":
        return None
    if not resource.startswith("arn:"):
        return f"{shown(resource)} is not an ARN or *"
    return arn_problem(resource)


def arn_problem(arn: str) -> str | None:
    """None for a well-formed ARN (arn:partition:service:region:account:resource, wildcards
    allowed), else why AWS would refuse it."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or not parts[1] or not parts[2] or not parts[5]:
        return (f"{shown(arn)} is not a complete ARN: write arn:PARTITION:SERVICE:REGION:"
                "ACCOUNT:RESOURCE, e.g. arn:aws:s3:::bucket/*")
    if not PARTITION.fullmatch(parts[1]):
        return f"{shown(arn)}: {shown(parts[1])} is not an AWS partition (aws, aws-cn, ...)"
    return None
