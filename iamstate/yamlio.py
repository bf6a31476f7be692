"""Reading YAML and JSON with line numbers, and refusing hostile files quickly."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from iamstate.errors import Problem

MAX_FILE_BYTES = 2 * 1024 * 1024
# A YAML "billion laughs" is small on disk but expands through anchors; count what a walk
# of the loaded tree visits and stop long before it hurts.
MAX_NODES = 200_000


class Unreadable(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def _check_size(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise Unreadable(Problem(path, 1, (
            f"file is {size:,} bytes, more than the {MAX_FILE_BYTES:,} iamstate reads: "
            "split it into several files")))
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise Unreadable(Problem(path, 1, f"not UTF-8 text ({error.reason})")) from None


def _count_nodes(value: Any, path: Path) -> None:
    seen = 0
    stack = [value]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise Unreadable(Problem(path, 1, (
                f"file expands to more than {MAX_NODES:,} values (YAML anchors and aliases "
                "repeated?): write the values out plainly")))
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def read_yaml(path: Path) -> Any:
    """Load one YAML file round-trip (line numbers kept); raise Unreadable with file:line."""
    text = _check_size(path)
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(part) for part in (error.context, error.problem) if part)
        if "duplicate key" in what:
            what = what.replace("\n", " ") + ": each name may be declared once"
        raise Unreadable(Problem(path, line, f"invalid YAML: {what}")) from None
    except YAMLError as error:
        raise Unreadable(Problem(path, 1, f"invalid YAML: {error}")) from None
    _count_nodes(data, path)
    return data


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"duplicate key(s) {repeated}")
    return dict(pairs)


def read_json(path: Path) -> Any:
    text = _check_size(path)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise Unreadable(Problem(path, error.lineno, f"invalid JSON: {error.msg}")) from None
    except ValueError as error:
        raise Unreadable(Problem(path, 1, f"invalid JSON: {error}")) from None
    _count_nodes(data, path)
    return data


def json_lines(path: Path) -> Any:
    """A JSON file read as YAML (its superset) only for line numbers; None if it will not."""
    yaml = YAML(typ="rt")
    try:
        return yaml.load(path.read_text(encoding="utf-8"))
    except (YAMLError, ValueError):
        return None


def line_of(root: Any, path: Iterable[Any]) -> int:
    """The line (1-based) where the value at `path` inside a round-trip tree is written."""
    line = 1
    node = root
    for step in path:
        if isinstance(node, CommentedMap) and step in node:
            line = node.lc.key(step)[0] + 1
            node = node[step]
        elif isinstance(node, CommentedSeq) and isinstance(step, int) and step < len(node):
            line = node.lc.item(step)[0] + 1
            node = node[step]
        else:
            break
    return line


def to_plain(value: Any) -> Any:
    """Round-trip types (CommentedMap, ScalarString...) to plain dict/list/str/int/bool."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value
