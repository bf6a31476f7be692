"""JSON Schemas for account.yaml and resource files: used by `validate`, published for editors.

The JSON files are the one definition of what a file may hold. `validate` checks them with a
checker compiled here from the same files rather than with a general JSON Schema library:
it runs on every commit, and a general validator spent longer walking 5,000 users than the
rest of `validate` together (and longer still importing itself). The compiled checker knows
exactly the keywords these files use, refuses a schema with any other (so a new keyword can
never be silently ignored), and is tested against jsonschema for the same verdicts.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from iamstate.entities.base import version
from iamstate.errors import SHOWN_MAX, Problem, shown
from iamstate.repository.strategy import USER_POLICY_KEYS, USER_POLICY_MESSAGE
from iamstate.repository.yamlio import line_of

ACCOUNT = "account.schema.json"
RESOURCES = "resources.schema.json"
TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
              "integer": "a whole number", "boolean": "true or false", "null": "empty",
              "number": "a number"}
# Keywords that only describe (for people and editors); the checker has nothing to do.
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description",
                         "default", "examples", "x-hint"})


def load_schema(name: str) -> dict[str, Any]:
    """The schema as the registered entities make it: the file, each entity's fragment in
    place (the same for the built-in ones; an entity registered since is added)."""
    return _assembled(name, version())


@cache
def _assembled(name: str, registry: int) -> dict[str, Any]:
    from iamstate.entities.schema import assemble

    text = resources.files("iamstate.repository.schema").joinpath(name).read_text(encoding="utf-8")
    return assemble(name, json.loads(text))


def editor_comment(repo: Path, file: Path, name: str) -> str:
    """The first line that points editors (yaml-language-server) at the schema for `file`:
    the repository's `schema/` folder, which `iamstate schema` writes, or the copy in
    iamstate's own source tree when the repository is iamstate's example."""
    folder = next((f for f in ("schema", "iamstate/schema") if (repo / f / name).is_file()),
                  "schema")
    relative = Path(os.path.relpath(repo / folder / name, file.parent)).as_posix()
    return f"# yaml-language-server: $schema={relative}"


@dataclass(frozen=True)
class Violation:
    """One place a file breaks its schema (what a JSON Schema validation error carries).

    `path` is where the instance is, as JSON Schema reports it: for a bad key (propertyNames)
    and an unknown key (additionalProperties) that is the mapping holding the key, named in
    `key`. `schema` is the schema node holding `keyword` (its x-hint, its properties)."""

    path: tuple[Any, ...]
    keyword: str
    instance: Any
    schema: Mapping[str, Any]
    key: Any = None
    is_key: bool = False
    index: int = 0  # uniqueItems: the item that repeats an earlier one


Check = Callable[[Any, tuple[Any, ...], list[Violation]], None]


def check(name: str, data: Any, file: Path) -> list[Problem]:
    """Every schema violation in `data`, each at its file:line with what to write instead."""
    return [problem for _, problem in check_paths(name, data, file)]


def check_paths(name: str, data: Any, file: Path) -> list[tuple[tuple[Any, ...], Problem]]:
    """Like `check`, with the path of each violation (so callers can skip just that part)."""
    return [(found.path, _describe(found, data, file)) for found in violations(name, data)]


def violations(name: str, data: Any) -> list[Violation]:
    found: list[Violation] = []
    _checker(name, version())(data, (), found)
    return found


@cache
def _checker(name: str, registry: int) -> Check:
    schema = _assembled(name, registry)
    return _Compiler(schema).compile(schema)


# --- the compiled checker -------------------------------------------------------------------

def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    """JSON Schema's integer: 3 and 3.0, never true/false."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": _is_integer,
    "number": _is_number,
}


def _identity(value: Any) -> Any:
    """A hashable stand-in equal exactly when JSON Schema calls two values equal (true is
    not 1, 1 is 1.0, mappings compare by content)."""
    if isinstance(value, bool):
        return ("bool", value)
    if _is_number(value):
        return ("number", value)
    if isinstance(value, dict):
        return ("object", frozenset((k, _identity(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_identity(v) for v in value))
    return (type(value).__name__ if not isinstance(value, str) else "string", value)


def _repeated(items: list[Any]) -> int | None:
    seen: set[Any] = set()
    for index, item in enumerate(items):
        identity = _identity(item)
        if identity in seen:
            return index
        seen.add(identity)
    return None


class _Compiler:
    """A schema (a JSON tree) -> one function per schema node, each checking an instance and
    collecting Violations; `$ref`s compiled once, through a table so a reference can be used
    before (or inside) its own definition."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Mapping[str, Any]) -> Check:
        checks = [self._keyword(word, value, schema) for word, value in schema.items()
                  if word not in ANNOTATIONS and word != "properties"]
        if "properties" in schema and "additionalProperties" not in schema:
            checks.append(_object(self._properties(schema), None, schema, closed=False))
        if len(checks) == 1:
            return checks[0]

        def all_of(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
            for one in checks:
                one(instance, path, out)

        return all_of

    def _ref(self, ref: str) -> Check:
        if not ref.startswith("#/"):
            raise ValueError(f"schema $ref {ref!r}: only references inside the file work")
        compiled = self.refs.get(ref)
        if compiled is None:
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            self.refs[ref] = _no_check  # while compiling: a loop resolves through the table
            compiled = self.refs[ref] = self.compile(target)
        if compiled is not _no_check:
            return compiled
        refs = self.refs  # a reference inside its own definition: look it up when called
        return lambda instance, path, out: refs[ref](instance, path, out)

    def _properties(self, schema: Mapping[str, Any]) -> dict[str, Check]:
        return {k: self.compile(v) for k, v in schema.get("properties", {}).items()}

    def _keyword(self, word: str, value: Any, node: Mapping[str, Any]) -> Check:
        if word == "$ref":
            return self._ref(value)
        if word == "type":
            return _type(value, node)
        if word == "additionalProperties":  # with properties: one pass over the keys
            each = None if isinstance(value, bool) else self.compile(value)
            return _object(self._properties(node), each, node, closed=value is False)
        if word == "propertyNames":
            return _property_names(self.compile(value))
        if word == "items":
            return _items(self.compile(value))
        simple = SIMPLE.get(word)
        if simple is None:
            raise ValueError(f"schema keyword {word!r} is not supported by iamstate's checker")
        return simple(value, node)


def _no_check(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
    return None


PLAIN_TYPES: dict[str, type] = {"object": dict, "array": list, "string": str,
                                 "boolean": bool, "null": type(None)}


def _type(expected: str | list[str], node: Mapping[str, Any]) -> Check:
    names = [expected] if isinstance(expected, str) else expected
    tests = [TYPE_TESTS[t] for t in names]
    if all(name in PLAIN_TYPES for name in names):  # the common case: one isinstance
        plain = tuple(PLAIN_TYPES[name] for name in names)

        def check_plain(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
            if not isinstance(instance, plain):
                out.append(Violation(path, "type", instance, node))

        return check_plain

    def check_type(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        for test in tests:
            if test(instance):
                return
        out.append(Violation(path, "type", instance, node))

    return check_type


def _object(known: dict[str, Check], each: Check | None, node: Mapping[str, Any],
            closed: bool) -> Check:
    """properties and additionalProperties: each key of a mapping checked by its own schema,
    by the schema for the others, or (closed) reported as unknown."""

    def check_object(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if not isinstance(instance, dict):
            return
        for key, value in instance.items():
            one = known.get(key)
            if one is not None:
                one(value, (*path, key), out)
            elif closed:
                out.append(Violation(path, "additionalProperties", instance, node, key=key))
            elif each is not None:
                each(value, (*path, key), out)

    return check_object


def _property_names(names: Check) -> Check:
    def check_names(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if not isinstance(instance, dict):
            return
        found: list[Violation] = []
        for key in instance:
            names(key, path, found)
            out.extend(Violation(path, v.keyword, key, v.schema, key=key, is_key=True)
                       for v in found)
            found.clear()

    return check_names


def _items(each: Check) -> Check:
    def check_items(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if isinstance(instance, list):
            for index, item in enumerate(instance):
                each(item, (*path, index), out)

    return check_items


def _when(applies: Callable[[Any], bool], word: str,
          broken: Callable[[Any, Any], bool]) -> Callable[[Any, Mapping[str, Any]], Check]:
    """A keyword that checks one kind of instance and ignores every other kind."""

    def make(value: Any, node: Mapping[str, Any]) -> Check:
        def check_one(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
            if applies(instance) and broken(instance, value):
                out.append(Violation(path, word, instance, node))

        return check_one

    return make


def ecma_pattern(value: str) -> re.Pattern[str]:
    """A JSON Schema pattern (ECMA-262) as a Python regex. The difference that matters:
    ECMA's `$` is the very end of the text, Python's also matches before a final newline,
    which would let `"alice\n"` pass as a user name (AWS refuses it mid-apply)."""
    if value.endswith("$") and not value.endswith("\\$"):
        value = value[:-1] + r"\Z"
    return re.compile(value)


def _pattern(value: str, node: Mapping[str, Any]) -> Check:
    search = ecma_pattern(value).search

    def check_pattern(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if isinstance(instance, str) and search(instance) is None:
            out.append(Violation(path, "pattern", instance, node))

    return check_pattern


def _unique(value: bool, node: Mapping[str, Any]) -> Check:
    def check_unique(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if value and isinstance(instance, list):
            index = _repeated(instance)
            if index is not None:
                out.append(Violation(path, "uniqueItems", instance, node, index=index))

    return check_unique


def _required(value: list[str], node: Mapping[str, Any]) -> Check:
    def check_required(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if isinstance(instance, dict):
            out.extend(Violation(path, "required", instance, node, key=name)
                       for name in value if name not in instance)

    return check_required


def _enum(value: list[Any], node: Mapping[str, Any]) -> Check:
    allowed = {_identity(a) for a in value}

    def check_enum(instance: Any, path: tuple[Any, ...], out: list[Violation]) -> None:
        if _identity(instance) not in allowed:
            out.append(Violation(path, "enum", instance, node))

    return check_enum


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


SIMPLE: dict[str, Callable[[Any, Mapping[str, Any]], Check]] = {
    "pattern": _pattern,
    "uniqueItems": _unique,
    "required": _required,
    "enum": _enum,
    "minLength": _when(_is_str, "minLength", lambda v, n: len(v) < n),
    "maxLength": _when(_is_str, "maxLength", lambda v, n: len(v) > n),
    "minItems": _when(_is_list, "minItems", lambda v, n: len(v) < n),
    "maxItems": _when(_is_list, "maxItems", lambda v, n: len(v) > n),
    "maxProperties": _when(_is_dict, "maxProperties", lambda v, n: len(v) > n),
    "minimum": _when(_is_number, "minimum", lambda v, n: v < n),
    "maximum": _when(_is_number, "maximum", lambda v, n: v > n),
}


# --- what people read -----------------------------------------------------------------------

def _step(step: Any) -> str:
    text = str(step)
    return text if len(text) <= SHOWN_MAX and "\n" not in text else shown(text)


def _where(path: list[Any]) -> str:
    if not path:
        return "the file"
    return " > ".join(_step(step) for step in path)


def _type_names(expected: Any) -> str:
    names = expected if isinstance(expected, list) else [expected]
    return " or ".join(TYPE_NAMES.get(n, str(n)) for n in names if n != "null") or "empty"


def _got(value: Any) -> str:
    """What was found, for a message: its kind, and the value itself only if it is short and
    on one line (a file read by mistake, a key say, must not end up in a CI log)."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        quoted = shown(value)
        return f"the text {quoted}" if quoted.startswith(("'", '"')) else quoted
    if value is None:
        return "nothing"
    if _is_number(value):
        return f"the number {_number(value)}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    return f"a {type(value).__name__}"


def _number(value: float) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_MAX else f"of {len(text):,} digits"


def _quote_hint(violation: Violation) -> str:
    """A number, date or true/false where text is expected: YAML read it so; quoting it is
    the fix (account_id: 012345678901 is a number, "012345678901" is text)."""
    expected = violation.schema.get("type")
    wants_text = expected == "string" or (isinstance(expected, list) and "string" in expected)
    found = violation.instance
    scalar = _is_number(found) or isinstance(found, bool | datetime.date)
    return " (YAML reads it so unquoted: put it in quotes)" if wants_text and scalar else ""


def _describe(found: Violation, data: Any, file: Path) -> Problem:
    path = list(found.path)
    node_schema = found.schema
    hint = node_schema.get("x-hint")
    where = _where(path)
    if found.is_key or found.keyword == "additionalProperties":
        line = line_of(data, [*path, found.key])  # a bad or unknown key: point at the key
    elif found.keyword == "uniqueItems":
        line = line_of(data, [*path, found.index])  # the second time the item is listed
    else:
        line = line_of(data, path)
    if found.keyword == "additionalProperties":
        key = found.key
        allowed = sorted(node_schema.get("properties", {}))
        if len(path) == 2 and path[0] == "users" and key in USER_POLICY_KEYS:
            return Problem(file, line, f"{where}: {key}: {USER_POLICY_MESSAGE}")
        close = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = f"did you mean {close[0]}? " if close else ""
        return Problem(file, line, (
            f"{where}: unknown key {shown(key)}: {suggestion}expected one of "
            f"{', '.join(allowed)}"))
    message = _message(found, where)
    if hint:
        message += f": write {hint}"
    elif found.keyword == "enum":
        message += f": write one of {', '.join(map(str, node_schema['enum']))}"
    return Problem(file, line, message)


def _message(found: Violation, where: str) -> str:
    """The sentence for one violation, before its hint."""
    keyword, instance, node = found.keyword, found.instance, found.schema
    if keyword == "type":
        subject = f"{where}: a name" if found.is_key else where
        return (f"{subject} must be {_type_names(node['type'])}, not {_got(instance)}"
                f"{_quote_hint(found)}")
    if keyword == "required":
        return f"{where}: {shown(found.key)} is a required property"
    if keyword == "pattern" and node.get("pattern", "").startswith("^(?!"):
        return f"{where}: {shown(instance)} uses the reserved aws: prefix"
    if keyword in ("pattern", "enum"):
        return f"{where}: {_got(instance)} is not valid"
    if keyword == "uniqueItems":
        return f"{where}: lists {_got(instance[found.index])} twice: list each once"
    limits = {
        "minLength": lambda n: ("must not be empty" if n == 1 else
                                f"is {len(instance):,} characters, fewer than {n:,}"),
        "maxLength": lambda n: f"is {len(instance):,} characters, more than {n:,}",
        "minItems": lambda n: f"lists {len(instance):,} items, fewer than {n:,}",
        "maxItems": lambda n: f"lists {len(instance):,} items, more than {n:,}",
        "maxProperties": lambda n: f"has {len(instance):,} entries, more than {n:,}",
        "minimum": lambda n: f"{_number(instance)} is less than the minimum of {n}",
        "maximum": lambda n: f"{_number(instance)} is more than the maximum of {n}",
    }
    subject = f"{where}: a key" if found.is_key else f"{where}:"
    return f"{subject} {limits[keyword](node[keyword])}"
