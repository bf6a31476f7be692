"""Reading YAML and JSON with line numbers, and refusing hostile files quickly.

`validate` runs in a pre-commit hook and `plan` reads every file before it calls AWS, so
reading has to be fast: libyaml (PyYAML's C parser) turns text into events and one loop
here builds plain dicts and lists that remember where each key and item was written.
Writing files back with their comments is a different job (ruamel's round trip, in
edit.py and importer.py).

What a plain value means is YAML 1.2's core schema, as ruamel read it before (and as
editors and GitHub do): only true/false are booleans (`yes`, `no`, `on`, `off` are text),
`0777` is the decimal 777 (octal is written `0o777`), `~`/`null`/nothing is null. One YAML
1.1 habit is kept on purpose: an unquoted date (`Version: 2012-10-17`) is a date, not text,
so the checks that need text say so instead of silently accepting what another YAML reader
would turn into a date. Tags (`!Ref`, `!!set`, ...) are refused: nothing evaluates them.
"""

from __future__ import annotations

import datetime
import gc
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from iamstate.errors import SHOWN_MAX, Problem, shown

MAX_FILE_BYTES = 2 * 1024 * 1024
# A YAML "billion laughs" is small on disk but expands through anchors; count the values
# the file means (an alias counts everything it repeats) and stop long before it hurts.
MAX_NODES = 200_000
# libyaml's scanner slows down quadratically with flow nesting (`[[[[...`) and nothing
# iamstate reads needs more than a dozen levels: stop there, before the parser grinds.
MAX_DEPTH = 100

# libyaml when PyYAML has it (every wheel does); the pure-Python parser gives the same events.
_Parser: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)

CORE = "tag:yaml.org,2002:"
PLAIN_MAP_TAGS = frozenset({None, "!", CORE + "map"})
PLAIN_SEQ_TAGS = frozenset({None, "!", CORE + "seq"})
NULLS = frozenset({"", "~", "null", "Null", "NULL"})
BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False,
         "FALSE": False}
# Only a plain scalar starting with one of these can be anything but text.
MAYBE_NOT_TEXT = frozenset("-+.0123456789~nNtTfF")
NUMBER_STARTS = frozenset("-+.0123456789")  # numbers and dates
INT = re.compile(r"[-+]?(?:0b[01][01_]*|0o[0-7][0-7_]*|0x[0-9a-fA-F][0-9a-fA-F_]*|[0-9][0-9_]*)")
FLOAT = re.compile(r"""[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                              |[0-9][0-9_]*[eE][-+]?[0-9]+
                              |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                              |\.(?:inf|Inf|INF))
                   |\.(?:nan|NaN|NAN)""", re.X)
TIMESTAMP = re.compile(r"""[0-9]{4}-[0-9]{2}-[0-9]{2}
                       |[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}
                        (?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?""", re.X)
INT_BASES = {"0b": 2, "0o": 8, "0x": 16}


class Unreadable(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


class LineDict(dict[Any, Any]):
    """A mapping read from a file, with the line (1-based) each key is written on."""

    __slots__ = ("key_lines",)

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[Any, int] = {}


class LineList(list[Any]):
    """A list read from a file, with the line (1-based) each item starts on."""

    __slots__ = ("item_lines",)

    def __init__(self) -> None:
        super().__init__()
        self.item_lines: list[int] = []


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
            raise _too_many(path)
        if isinstance(node, Mapping):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _too_many(path: Path) -> Unreadable:
    return Unreadable(Problem(path, 1, (
        f"file expands to more than {MAX_NODES:,} values (YAML anchors and aliases "
        "repeated?): write the values out plainly")))


def read_yaml(path: Path) -> Any:
    """Load one YAML file as LineDict/LineList/plain values; raise Unreadable with file:line."""
    return _load(_check_size(path), path)


class _Refused(Exception):
    """Something the file says that iamstate will not read, at a line of the file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _load(text: str, path: Path) -> Any:
    # The cyclic garbage collector would walk the growing tree again and again while it is
    # built (a third of the time for 5,000 users); what is built here has no cycles.
    collecting = gc.isenabled()
    gc.disable()
    parser: Any = None
    try:
        parser = _Parser(text)  # the pure-Python reader checks characters here already
        return _Builder(path).build(parser)
    except _Refused as refused:
        raise Unreadable(Problem(path, refused.line, f"invalid YAML: {refused.message}")) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = str(error.problem or "")
        if error.context:  # e.g. "while parsing a flow mapping" that began on another line
            start = error.context_mark
            began = (f" that began on line {start.line + 1}"
                     if start is not None and start.line + 1 != line else "")
            what = f"{error.context}{began}: {what}"
        raise Unreadable(Problem(path, line, f"invalid YAML: {what}")) from None
    except yaml.reader.ReaderError as error:
        # libyaml reports a byte offset into the UTF-8 text.
        line = text.encode("utf-8")[:error.position].count(b"\n") + 1
        raise Unreadable(Problem(path, line, f"invalid YAML: {str(error).splitlines()[0]}")
                         ) from None
    except yaml.YAMLError as error:
        raise Unreadable(Problem(path, 1, f"invalid YAML: {str(error).splitlines()[0]}")
                         ) from None
    finally:
        if parser is not None:
            parser.dispose()
        if collecting:
            gc.enable()


class _Open:
    """A mapping or list whose end event has not come yet."""

    __slots__ = ("anchor", "key", "key_line", "line", "merges", "size", "value")

    def __init__(self, value: LineDict | LineList, anchor: str | None, line: int) -> None:
        self.value = value
        self.anchor = anchor
        self.line = line
        self.size = 1  # itself plus every value inside it, aliases expanded
        self.key: Any = _NO_KEY
        self.key_line = 0
        self.merges: list[LineDict] = []


_NO_KEY = object()  # a mapping waiting for its next key
_MERGE = object()  # the key `<<`: the value's keys are merged in (YAML merge keys)


class _Builder:
    """Events -> values, in one loop with an explicit stack: no recursion for a file to
    exhaust, aliases shared (never copied) but counted as what they repeat."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.total = 0
        self.root: Any = None

    def build(self, parser: Any) -> Any:
        get_event = parser.get_event
        stack = self.stack
        documents = 0
        while True:
            event: Any = get_event()
            kind = type(event)
            if kind is ScalarEvent:
                # The hot path (most events are untagged plain scalars), kept inline.
                text: str = event.value
                line = event.start_mark.line + 1
                if event.tag is not None or not event.implicit[0]:
                    value = _tagged(event.tag, text, line)
                elif text and text[0] not in MAYBE_NOT_TEXT and text != "<<":
                    value = text
                elif text == "<<" and stack and stack[-1].key is _NO_KEY and isinstance(
                        stack[-1].value, LineDict):
                    stack[-1].key, stack[-1].key_line = _MERGE, line
                    continue
                else:
                    value = plain(text, line)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (value, 1)
                self.total += 1
                if self.total > MAX_NODES:
                    raise _too_many(self.path)
                top = stack[-1] if stack else None
                if top is not None and top.key is _NO_KEY and type(top.value) is LineDict:
                    top.key, top.key_line = value, line  # a key: the value comes next
                    top.size += 1
                else:
                    self._add(value, 1, line)
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                self._close()
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                self._open(event, kind is MappingStartEvent)
            elif kind is AliasEvent:
                self._alias(event)
            elif kind is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _Refused(_line(event), (
                        "a second document (---) in one file: keep one per file"))
            elif kind is StreamEndEvent:
                return self.root

    def _alias(self, event: Any) -> None:
        found = self.anchors.get(event.anchor)
        line = _line(event)
        if found is None:
            loop = any(o.anchor == event.anchor for o in self.stack)
            name = _syntax(event.anchor)
            raise _Refused(line, (f"alias *{name} is inside the value it repeats" if loop
                                  else f"alias *{name} has no &{name} before it"))
        self._count(found[1])
        self._add(*found, line)

    def _open(self, event: Any, mapping: bool) -> None:
        line = _line(event)
        if event.tag not in (PLAIN_MAP_TAGS if mapping else PLAIN_SEQ_TAGS):
            raise _Refused(line, _tag_message(event.tag))
        if len(self.stack) >= MAX_DEPTH:
            raise _Refused(line, (
                f"values nested more than {MAX_DEPTH} levels deep: write them out plainly"))
        self._count(1)
        self.stack.append(_Open(LineDict() if mapping else LineList(), event.anchor, line))

    def _close(self) -> None:
        done = self.stack.pop()
        value = done.value
        if done.merges:
            assert isinstance(value, LineDict)
            _merge(value, done.merges)
        if done.anchor is not None:
            self.anchors[done.anchor] = (value, done.size)
        self._add(value, done.size, done.line)

    def _count(self, size: int) -> None:
        """Every value is counted once as it is read; an alias, as all it repeats."""
        self.total += size
        if self.total > MAX_NODES:
            raise _too_many(self.path)

    def _add(self, value: Any, size: int, line: int) -> None:
        """Put a finished value into the open mapping (as its key or value) or list."""
        if not self.stack:
            self.root = value
            return
        top = self.stack[-1]
        top.size += size
        container = top.value
        if isinstance(container, LineList):
            container.append(value)
            container.item_lines.append(line)
        elif top.key is _NO_KEY:
            if isinstance(value, LineDict | LineList):
                raise _Refused(line, (
                    f"a key must be a single value (a name), not {_kind(value)}"))
            top.key, top.key_line = value, line
        elif top.key is _MERGE:
            top.merges.extend(_merged(value, line))
            top.key = _NO_KEY
        else:
            key = top.key
            if key in container:
                raise _Refused(top.key_line, (
                    f"duplicate key {shown(key)} (first on line {container.key_lines[key]})"
                    ": each name may be declared once"))
            container[key] = value
            container.key_lines[key] = top.key_line
            top.key = _NO_KEY


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _syntax(text: str) -> str:
    """An anchor or tag name for a message: file contents, so only when short."""
    return text if len(text) <= SHOWN_MAX else f"({len(text):,} characters)"


def _merged(value: Any, line: int) -> list[LineDict]:
    """The mappings a `<<` key merges: one mapping, or a list of them."""
    if isinstance(value, LineDict):
        return [value]
    if isinstance(value, LineList) and all(isinstance(v, LineDict) for v in value):
        return list(value)
    raise _Refused(line, "<< merges a mapping (<<: *defaults) or a list of them, "
                         f"not {_kind(value)}")


def _merge(into: LineDict, merges: list[LineDict]) -> None:
    """YAML merge keys: keys written in the mapping win, then the first merged mapping."""
    for merged in merges:
        for key, value in merged.items():
            if key not in into:
                into[key] = value
                into.key_lines[key] = merged.key_lines[key]


def _kind(value: Any) -> str:
    return "a mapping" if isinstance(value, dict) else "a list" if isinstance(
        value, list) else "a value"


def _tag_message(tag: str) -> str:
    name = "!!" + tag[len(CORE):] if tag.startswith(CORE) else tag
    return (f"the tag {_syntax(name)} is not supported: iamstate reads plain values and "
            "evaluates no tags (CloudFormation's !Ref and the like included): write the "
            "value itself")


def plain(text: str, line: int) -> Any:
    """An untagged, unquoted scalar, resolved by YAML 1.2's core schema (plus dates)."""
    if text and text[0] not in MAYBE_NOT_TEXT:
        return text
    if text in NULLS:
        return None
    if text in BOOLS:
        return BOOLS[text]
    if text[0] not in NUMBER_STARTS:
        return text
    if INT.fullmatch(text):
        return _int(text, line)
    if FLOAT.fullmatch(text):
        return _float(text)
    if TIMESTAMP.fullmatch(text):
        return _timestamp(text, line)
    return text


def _int(text: str, line: int) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    base = INT_BASES.get(digits[:2], 10)
    try:
        return sign * int(digits[2:] if base != 10 else digits, base)
    except ValueError:  # more digits than Python converts (4,300)
        raise _Refused(line, f"a number of {len(digits):,} digits: quote it") from None


def _float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if lowered.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text.replace("_", ""))


def _timestamp(text: str, line: int) -> datetime.date:
    node = yaml.ScalarNode(CORE + "timestamp", text)
    try:
        value: datetime.date = yaml.constructor.SafeConstructor().construct_yaml_timestamp(node)
    except (ValueError, TypeError, AttributeError):
        raise _Refused(line, f"{shown(text)} looks like a date but is not one: quote it"
                       ) from None
    return value


def _tagged(tag: str | None, text: str, line: int) -> Any:
    """A quoted scalar (text), or one with an explicit core tag (`!!str 123`)."""
    if tag is None or tag == "!" or tag == CORE + "str":
        return text
    if tag == CORE + "null" and text in NULLS:
        return None
    if tag == CORE + "bool" and text in BOOLS:
        return BOOLS[text]
    if tag == CORE + "int" and INT.fullmatch(text):
        return _int(text, line)
    if tag == CORE + "float" and (FLOAT.fullmatch(text) or INT.fullmatch(text)):
        return _float(text)
    if tag in (CORE + "null", CORE + "bool", CORE + "int", CORE + "float"):
        raise _Refused(line, f"{shown(text)} is not a valid {tag[len(CORE):]}")
    raise _Refused(line, _tag_message(tag))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"duplicate {'key' if len(repeated) == 1 else 'keys'} "
                         f"{', '.join(shown(k) for k in repeated)}")
    return dict(pairs)


def read_json(path: Path) -> Any:
    text = _check_size(path)
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise Unreadable(Problem(path, error.lineno, f"invalid JSON: {error.msg}")) from None
    except ValueError as error:
        raise Unreadable(Problem(path, 1, f"invalid JSON: {error}")) from None
    except RecursionError:
        raise Unreadable(Problem(path, 1, (
            "invalid JSON: nested too deeply to read: write the values out plainly"))) from None
    _count_nodes(data, path)
    return data


def json_lines(path: Path) -> Any:
    """A JSON file read as YAML (its superset) only for line numbers; None if it will not."""
    try:
        return _load(path.read_text(encoding="utf-8"), path)
    except (Unreadable, ValueError):
        return None


def line_of(root: Any, path: Iterable[Any]) -> int:
    """The line (1-based) where the value at `path` inside a tree from read_yaml is written:
    a mapping's key, a list's item; the deepest known line when the path goes further."""
    line = 1
    node = root
    for step in path:
        if isinstance(node, LineDict):
            try:
                line = node.key_lines[step]
            except (KeyError, TypeError):  # TypeError: an unhashable step
                break
            node = node[step]
        elif isinstance(node, LineList) and type(step) is int and 0 <= step < len(node):
            line = node.item_lines[step]
            node = node[step]
        else:
            break
    return line


def to_plain(value: Any) -> Any:
    """A tree from read_yaml as plain dict (text keys) / list / str / int / float / bool."""
    if isinstance(value, dict):  # leaves are copied inline: most values are scalars
        return {k if type(k) is str else str(k):
                to_plain(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) if isinstance(v, dict | list) else v for v in value]
    return value
