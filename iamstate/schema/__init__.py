"""JSON Schemas for account.yaml and resource files: used by `validate`, published for editors."""

from __future__ import annotations

import difflib
import json
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from iamstate.errors import Problem
from iamstate.strategy import USER_POLICY_KEYS, USER_POLICY_MESSAGE
from iamstate.yamlio import line_of

ACCOUNT = "account.schema.json"
RESOURCES = "resources.schema.json"
TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
              "integer": "a whole number", "boolean": "true or false", "null": "empty",
              "number": "a number"}


@cache
def load_schema(name: str) -> dict[str, Any]:
    text = resources.files("iamstate.schema").joinpath(name).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def editor_comment(repo: Path, file: Path, name: str) -> str:
    """The first line that points editors (yaml-language-server) at the schema for `file`:
    the repository's `schema/` folder, which `iamstate schema` writes, or the copy in
    iamstate's own source tree when the repository is iamstate's example."""
    folder = next((f for f in ("schema", "iamstate/schema") if (repo / f / name).is_file()),
                  "schema")
    relative = Path(os.path.relpath(repo / folder / name, file.parent)).as_posix()
    return f"# yaml-language-server: $schema={relative}"


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def check(name: str, data: Any, file: Path) -> list[Problem]:
    """Every schema violation in `data`, each at its file:line with what to write instead."""
    return [problem for _, problem in check_paths(name, data, file)]


def check_paths(name: str, data: Any, file: Path) -> list[tuple[tuple[Any, ...], Problem]]:
    """Like `check`, with the path of each violation (so callers can skip just that part)."""
    validator = _validator(name)
    return [(tuple(error.absolute_path), _describe(error, data, file))
            for error in validator.iter_errors(data)]


def _where(path: list[Any]) -> str:
    if not path:
        return "the file"
    return " > ".join(str(step) for step in path)


def _type_names(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(TYPE_NAMES.get(n, str(n)) for n in names if n != "null") or "empty"


def _got(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value!r}"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _node_at(data: Any, path: list[Any]) -> Any:
    node = data
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _describe(error: ValidationError, data: Any, file: Path) -> Problem:
    path = list(error.absolute_path)
    line = line_of(data, path)
    parent = _node_at(data, path)
    if isinstance(error.instance, str) and isinstance(parent, dict) and error.instance in parent:
        line = line_of(data, [*path, error.instance])  # a bad key: point at the key itself
    node_schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    hint = node_schema.get("x-hint")
    where = _where(path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(node_schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        key = extras[0] if extras else "?"
        line = line_of(data, [*path, key])
        if len(path) == 2 and path[0] == "users" and key in USER_POLICY_KEYS:
            return Problem(file, line, f"{where}: {key}: {USER_POLICY_MESSAGE}")
        close = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f"did you mean {close[0]!r}? " if close else ""
        return Problem(file, line, (
            f"{where}: unknown key {key!r}: {suggestion}expected one of {', '.join(allowed)}"))
    if error.validator == "type":
        message = (f"{where} must be {_type_names(error.validator_value)}, "
                   f"not {_got(error.instance)}")
    elif error.validator == "required":
        message = f"{where}: {error.message}"
    elif error.validator == "pattern" and node_schema.get("pattern", "").startswith("^(?!"):
        message = f"{where}: {error.instance!r} uses the reserved aws: prefix"
    elif error.validator in ("pattern", "propertyNames") or error.validator == "enum":
        message = f"{where}: {_got(error.instance)} is not valid"
    elif error.validator == "uniqueItems":
        message = f"{where}: lists the same item twice: list each once"
    else:
        message = f"{where}: {error.message}"
    if hint:
        message += f": write {hint}"
    return Problem(file, line, message)
