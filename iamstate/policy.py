"""Policy documents: substitute `${vars}`, normalise for semantic comparison, lint.

IAM stores a document as written, so the same meaning can come back in another shape
(key order, a string instead of a one-element list, statements reordered). Comparing the
normalised form is what keeps a round trip free of phantom diffs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
# Characters of a document as IAM counts them against its quotas: whitespace is free.
MANAGED_POLICY_MAX = 6144
GROUP_INLINE_TOTAL_MAX = 5120


def substitute(value: Any, variables: Mapping[str, str], unknown: Callable[[str], None]) -> Any:
    """Replace `${name}` for the names in `variables`; report any other non-IAM variable."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return variables[name]
            if name not in IAM_ESCAPES and ":" not in name:
                unknown(name)
            return match.group(0)

        return VARIABLE.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, variables, unknown) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, unknown) for v in value]
    return value


def _as_sorted_list(value: Any, fold_case: bool = False) -> list[str]:
    items = value if isinstance(value, list) else [value]
    texts = {str(item).lower() if fold_case else str(item) for item in items}
    return sorted(texts)


def _normalise_condition(condition: Any) -> Any:
    if not isinstance(condition, Mapping):
        return condition
    return {
        operator: (
            {key: _as_sorted_list(values) for key, values in block.items()}
            if isinstance(block, Mapping)
            else block
        )
        for operator, block in condition.items()
    }


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
        object.__setattr__(self, "canonical", canonical_json(self.document))

    def to_json(self) -> str:
        return compact_json(self.document)

    def pretty(self) -> str:
        return json.dumps(normalise(self.document, fold_case=False), indent=2, sort_keys=True,
                          default=str)


def lint(document: Any) -> list[str]:
    """Grammar errors AWS would reject (or silently accept and misread), each a sentence."""
    if not isinstance(document, Mapping):
        return ["a policy document must be a mapping with Version and Statement"]
    errors: list[str] = []
    version = document.get("Version")
    if version is None:
        errors.append('Version is missing: write Version: "2012-10-17" (quoted)')
    elif not isinstance(version, str):
        errors.append(
            'Version must be a string: write Version: "2012-10-17" with quotes '
            "(unquoted, YAML reads it as a date)"
        )
    elif version not in VERSIONS:
        errors.append(f'Version {version!r} is not one IAM knows: write "2012-10-17"')
    unknown = set(document) - {"Version", "Statement", "Id"}
    if unknown:
        errors.append(f"unknown top-level key(s) {sorted(unknown)}: only Version, Id, Statement")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        errors.append("Statement is missing or empty: write a list of statements")
        return errors
    sids: set[str] = set()
    for index, statement in enumerate(statements, start=1):
        errors.extend(f"statement {index}: {e}" for e in _lint_statement(statement, sids))
    return errors


def _lint_statement(statement: Any, sids: set[str]) -> list[str]:
    if not isinstance(statement, Mapping):
        return ["must be a mapping with Effect, Action and Resource"]
    errors: list[str] = []
    unknown = set(statement) - STATEMENT_KEYS
    if unknown:
        errors.append(f"unknown key(s) {sorted(unknown)}: use {sorted(STATEMENT_KEYS)}")
    if "Principal" in statement or "NotPrincipal" in statement:
        errors.append("identity policies have no Principal: remove it")
    if statement.get("Effect") not in ("Allow", "Deny"):
        errors.append(f"Effect must be Allow or Deny, not {statement.get('Effect')!r}")
    sid = statement.get("Sid")
    if sid is not None:
        if not isinstance(sid, str) or not SID.match(sid):
            errors.append(f"Sid {sid!r} must be letters and digits only")
        elif sid in sids:
            errors.append(f"Sid {sid!r} is used twice: Sids must be unique")
        else:
            sids.add(sid)
    errors.extend(_lint_pair(statement, "Action", "NotAction", _check_action))
    errors.extend(_lint_pair(statement, "Resource", "NotResource", _check_resource))
    condition = statement.get("Condition")
    if condition is not None and not (
        isinstance(condition, Mapping) and all(isinstance(b, Mapping) for b in condition.values())
    ):
        errors.append("Condition must map operators to {key: value} mappings")
    return errors


def _lint_pair(
    statement: Mapping[str, Any], key: str, not_key: str, check: Callable[[str], str | None]
) -> list[str]:
    if key in statement and not_key in statement:
        return [f"{key} and {not_key} cannot both be set: keep one"]
    present = key if key in statement else not_key if not_key in statement else None
    if present is None:
        return [f"{key} (or {not_key}) is missing"]
    values = statement[present]
    values = values if isinstance(values, list) else [values]
    if not values:
        return [f"{present} is an empty list"]
    errors = []
    for value in values:
        problem = check(value) if isinstance(value, str) else f"{value!r} is not a string"
        if problem:
            errors.append(f"{present}: {problem}")
    return errors


def _check_action(action: str) -> str | None:
    if ACTION.match(action):
        return None
    return f"{action!r} is not an action name: write service:Action, e.g. s3:GetObject"


def _check_resource(resource: str) -> str | None:
    if resource == "*" or resource.startswith("arn:"):
        return None
    return f"{resource!r} is not an ARN or *"
