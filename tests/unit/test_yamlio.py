"""Reading files: exact lines, what plain values mean (YAML 1.2), and hostile input refused
quickly with file:line, never a traceback."""

from __future__ import annotations

import datetime
import math
import time
from pathlib import Path
from typing import Any

import pytest

from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from iamstate.repository.yamlio import (
    MAX_FILE_BYTES,
    Unreadable,
    json_lines,
    line_of,
    read_json,
    read_yaml,
    to_plain,
)
from tests.helpers import minimal_repo, write


def read(tmp_path: Path, text: str, name: str = "f.yaml") -> Any:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return read_yaml(path)


def refused(tmp_path: Path, text: str | bytes, name: str = "f.yaml") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(Unreadable) as caught:
        read_yaml(path)
    return str(caught.value.problem)


def test_lines_of_keys_and_items(tmp_path: Path) -> None:
    tree = read(tmp_path, "# a comment\nusers:\n  jdoe:\n    groups:\n      - Developers\n"
                          "      - Ops\n    tags: {team: payments,\n           owner: me}\n"
                          "  bob: {groups: [A, B]}\n")
    assert line_of(tree, ["users"]) == 2
    assert line_of(tree, ["users", "jdoe"]) == 3
    assert line_of(tree, ["users", "jdoe", "groups", 1]) == 6
    assert line_of(tree, ["users", "jdoe", "tags", "owner"]) == 8
    assert line_of(tree, ["users", "bob", "groups", 1]) == 9
    # A path that goes further than the file: the deepest line it reaches.
    assert line_of(tree, ["users", "jdoe", "groups", 7]) == 4
    assert line_of(tree, ["users", "jdoe", "groups", -1]) == 4
    assert line_of(tree, ["users", "nobody", "x"]) == 2
    assert line_of(tree, [["unhashable"]]) == 1
    assert line_of(None, ["users"]) == 1


def test_a_sequence_item_is_the_line_it_starts_on(tmp_path: Path) -> None:
    tree = read(tmp_path, 'Statement:\n  - Effect: Allow\n    Action: "*"\n  -\n    Effect: Deny\n')
    assert line_of(tree, ["Statement", 0]) == 2
    assert line_of(tree, ["Statement", 0, "Action"]) == 3
    assert line_of(tree, ["Statement", 1, "Effect"]) == 5


def test_to_plain_gives_builtin_types_with_text_keys(tmp_path: Path) -> None:
    tree = read(tmp_path, "a: {b: [1, {c: true}]}\n123: x\n")
    plain = to_plain(tree)
    assert plain == {"a": {"b": [1, {"c": True}]}, "123": "x"}
    assert type(plain) is dict and type(plain["a"]["b"]) is list
    assert type(plain["a"]["b"][1]) is dict
    assert isinstance(tree, dict) and isinstance(tree["a"]["b"], list)  # schema-checkable


# YAML 1.2's core schema (what ruamel read, and what editors and GitHub read), plus dates.
PLAIN_VALUES: dict[str, Any] = {
    "yes": "yes", "no": "no", "on": "on", "off": "off", "y": "y", "n": "n",
    "true": True, "False": False, "TRUE": True, "tRue": "tRue",
    "~": None, "null": None, "NULL": None, "": None,
    "0777": 777, "0o777": 511, "0x1f": 31, "0b101": 5, "1_000": 1000, "-12": -12, "+3": 3,
    "123456789012": 123456789012, "0X1F": "0X1F",
    "1.5": 1.5, "1e3": 1000.0, ".5": 0.5, "1.": 1.0,
    "12:30": "12:30", "1:20:30": "1:20:30", "<<": "<<", "=": "=",
    "2012-10-17": datetime.date(2012, 10, 17),
    "2012-10-17 10:00 standup": "2012-10-17 10:00 standup",
    '"123456789012"': "123456789012", "'true'": "true", '"2012-10-17"': "2012-10-17",
    "!!str 123": "123", "!!int '7'": 7, "! 12": "12",
}


@pytest.mark.parametrize("written,meant", PLAIN_VALUES.items(), ids=list(PLAIN_VALUES))
def test_what_a_plain_value_means(tmp_path: Path, written: str, meant: Any) -> None:
    value = read(tmp_path, f"k: {written}\n")["k"]
    assert value == meant and type(value) is type(meant)


def test_special_floats_and_timestamps(tmp_path: Path) -> None:
    tree = read(tmp_path, "a: .inf\nb: -.Inf\nc: .nan\nd: 2012-10-17T10:00:00Z\n")
    assert tree["a"] == math.inf and tree["b"] == -math.inf and math.isnan(tree["c"])
    assert tree["d"] == datetime.datetime(2012, 10, 17, 10, tzinfo=datetime.UTC)


@pytest.mark.parametrize("written", ["!Ref [a, b]", "!Ref a", "!Sub '${x}'", "!!set {a}",
                                     "!!binary aGk=", "!!omap [a: 1]", "!GetAtt {a: b}"])
def test_tags_are_refused_at_their_line(tmp_path: Path, written: str) -> None:
    problem = refused(tmp_path, f"a: 1\nb: {written}\n")
    assert "f.yaml:2: invalid YAML: the tag" in problem and "not supported" in problem


@pytest.mark.parametrize("relative,text,line", [
    ("policies/p.yaml", 'Version: "2012-10-17"\nStatement:\n  - Effect: Allow\n'
                        "    Action: s3:GetObject\n    Resource: !Ref [a]\n", 5),
    ("accounts/acme/users.yaml", "users:\n  jdoe:\n    groups: !Ref [a]\n", 3),
    ("accounts/acme/account.yaml", 'account_id: !Sub "123456789012"\n', 1),
])
def test_tags_anywhere_are_a_file_line_error(
    tmp_path: Path, relative: str, text: str, line: int
) -> None:
    minimal_repo(tmp_path)
    write(tmp_path, relative, text)
    with pytest.raises(RepoError) as caught:
        load_repository(tmp_path)
    where = f"{Path(relative).name}:{line}: invalid YAML: the tag"
    assert any(where in str(p) for p in caught.value.problems), caught.value.problems


def test_a_duplicate_key_is_refused_at_the_second_one(tmp_path: Path) -> None:
    problem = refused(tmp_path, "users:\n  jdoe: {}\n  bob: {}\n  jdoe: {}\n")
    assert "f.yaml:4: invalid YAML: duplicate key jdoe (first on line 2)" in problem
    assert "each name may be declared once" in problem


def test_billion_laughs_is_refused_before_it_expands(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    started = time.perf_counter()
    problem = refused(tmp_path, "\n".join(lines) + "\n")
    assert time.perf_counter() - started < 1.0
    assert "f.yaml:1:" in problem and "anchors and aliases" in problem


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path: Path) -> None:
    assert "alias *a is inside the value it repeats" in refused(tmp_path, "x: &a [1, *a]\n")
    assert "alias *b has no &b before it" in refused(tmp_path, "x: *b\n")


def test_aliases_are_shared_and_merge_keys_work(tmp_path: Path) -> None:
    tree = read(tmp_path, "defaults: &human {category: AllHumans, path: /}\nusers:\n"
                          "  jdoe:\n    <<: *human\n    path: /eng/\n  bob: *human\n")
    assert to_plain(tree["users"]) == {"jdoe": {"path": "/eng/", "category": "AllHumans"},
                                       "bob": {"category": "AllHumans", "path": "/"}}
    assert line_of(tree, ["users", "jdoe", "path"]) == 5  # written here: it wins
    assert line_of(tree, ["users", "jdoe", "category"]) == 1  # where it is written
    assert "<< merges a mapping" in refused(tmp_path, "a:\n  <<: 3\n")


@pytest.mark.parametrize("text", ["[" * 1_000_000, "- " * 1_000_000 + "x", "{a: " * 500_000])
def test_deep_nesting_is_refused_quickly(tmp_path: Path, text: str) -> None:
    started = time.perf_counter()
    problem = refused(tmp_path, text)
    assert time.perf_counter() - started < 2.0
    assert "f.yaml:1: invalid YAML: values nested more than 100 levels deep" in problem


def test_other_refusals_name_their_line(tmp_path: Path) -> None:
    assert "f.yaml:2: invalid YAML: a second document" in refused(tmp_path, "a: 1\n---\nb: 2\n")
    assert "f.yaml:2: invalid YAML: a key must be a single value" in refused(
        tmp_path, "a: 1\n? [x, y]\n: 2\n")
    assert "f.yaml:2: invalid YAML: unacceptable character #x0000" in refused(
        tmp_path, "a: 1\nb: \x00\n")
    assert "f.yaml:2: invalid YAML: 2012-13-45 looks like a date" in refused(
        tmp_path, "a: 1\nb: 2012-13-45\n")
    assert "f.yaml:1: invalid YAML: a number of 5,000 digits" in refused(
        tmp_path, "a: " + "1" * 5000 + "\n")
    broken = refused(tmp_path, "users:\n  jdoe: {category: AllHumans\n")
    assert "f.yaml:3: invalid YAML: while parsing a flow mapping that began on line 2" in broken


def test_invalid_utf8_and_huge_files(tmp_path: Path) -> None:
    assert "f.yaml:1: not UTF-8 text" in refused(tmp_path, b"a: \xff\xfe\n")
    huge = refused(tmp_path, "# x\n" * (MAX_FILE_BYTES // 4 + 1))
    assert "f.yaml:1: file is" in huge and "split it" in huge


def test_empty_files_are_nothing(tmp_path: Path) -> None:
    assert read(tmp_path, "") is None
    assert read(tmp_path, "# only a comment\n---\n") is None


def test_json_documents_and_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"Version": "2012-10-17",\n\t"Statement": [\n\t\t{"Effect": "Allow",\n'
                    '\t\t "Resource": "arn:aws:s3:::a\\/b"}]}\n')
    assert read_json(path)["Statement"][0]["Resource"] == "arn:aws:s3:::a/b"
    assert line_of(json_lines(path), ["Statement", 0, "Resource"]) == 4
    path.write_text('{"a": 1,\n "a": 2}')
    with pytest.raises(Unreadable, match="duplicate key"):
        read_json(path)
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(Unreadable, match="nested too deeply"):
        read_json(path)
    path.write_text("{nope")
    assert json_lines(path) is None
