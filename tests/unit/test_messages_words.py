"""Messages as people write them (issue 21): no Python reprs or lists, counts that agree,
a missing --repo folder said without a line number, and the shape to write when a key holds
the wrong type."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import Problem, RepoError, shown, shown_list
from iamstate.repository.loader import load_repository
from iamstate.repository.strategy import Category, infer_category
from iamstate.wording import agree, count, listed, plural
from tests.helpers import minimal_repo


@pytest.mark.parametrize(("value", "said"), [
    ("AllUsers", "AllUsers"), ("s3:GetObject", "s3:GetObject"), ("/team/", "/team/"),
    ("${aws:username}", "${aws:username}"), ("", '""'), ("i am", '"i am"'),
    ("a,b", '"a,b"'), ("it's", '"it\'s"'), ("us\u0435r", '"us\\u0435r"'),
    ("x" * 65, "a text of 65 characters"), ("a\nb", "a text of 3 characters"),
    (True, "true"), (None, "null"), (12, "12"), ({"a": 1}, "a mapping"), ([1], "a list"),
])
def test_a_value_is_said_as_written_and_never_as_a_repr(value: object, said: str) -> None:
    assert shown(value) == said


def test_lists_are_sentences() -> None:
    assert shown_list(["AllUsers"]) == "AllUsers"
    assert shown_list(["A", "B"], "or") == "A or B"
    assert shown_list(["A", "B", "c d"]) == 'A, B and "c d"'


@pytest.mark.parametrize(("n", "noun", "said"), [
    (0, "service", "0 services"), (1, "service", "1 service"), (2, "service", "2 services"),
    (1, "managed policy", "1 managed policy"), (3, "managed policy", "3 managed policies"),
    (2, "expired entry", "2 expired entries"), (1603, "change", "1,603 changes"),
    (2, "key", "2 keys"),
])
def test_counts_agree(n: int, noun: str, said: str) -> None:
    assert count(n, noun) == said


def test_names_and_verbs_agree() -> None:
    assert f"{listed(['jdoe'])} {agree(['jdoe'], 'is')}" == "jdoe is"
    assert f"{listed(['jdoe', 'shadow-admin'])} {agree(2, 'is')}" == "jdoe and shadow-admin are"
    assert agree(3, "becomes") == "become" and agree(2, "is no longer") == "are no longer"
    assert listed(["a", "b", "c", "d"], limit=2) == "a, b and 2 more"
    assert listed([]) == "" and plural("policy") == "policies"


def test_category_messages_list_names_not_python_lists() -> None:
    categories = [Category("AllHumans", None), Category("AllHeadlessUsers", "^HeadlessUser-")]
    _, message = infer_category("kim", "Robots", categories)
    assert message is not None and "[" not in message and "'" not in message
    assert "not one of AllHeadlessUsers or AllHumans" in message


def test_a_problem_about_a_whole_folder_has_no_line_number(tmp_path: Path) -> None:
    assert str(Problem(tmp_path / "accounts", 0, "x")) == f"{tmp_path / 'accounts'}: x"
    assert str(Problem(tmp_path / "a.yaml", 3, "x")) == f"{tmp_path / 'a.yaml'}:3: x"
    for repo in (tmp_path / "missing", tmp_path / "missing" / "deeper"):
        with pytest.raises(RepoError) as refused:
            load_repository(repo)
        message = str(refused.value)
        assert ":0" not in message and str(repo) in message
        assert "repository folder does not exist" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(RepoError, match="no accounts/ folder") as refused:
        load_repository(tmp_path / "empty")
    assert ":0" not in str(refused.value)


@pytest.mark.parametrize(("text", "where", "shape"), [
    ("groups:\n  Ops:\n    inline_policies: [ReadLake]\n", "groups.yaml:3",
     "inline_policies: {ReadLake: read-lake}"),
    ("groups:\n  Ops:\n    inline_policies: ReadLake\n", "groups.yaml:3",
     "inline_policies: {ReadLake: read-lake}"),
    ("groups: [Ops]\n", "groups.yaml:1", "groups: {Developers: {managed_policies:"),
    ("groups:\n  Ops: [x]\n", "groups.yaml:2", "Developers: {inline_policies:"),
    ("groups:\n  Ops:\n    managed_policies: read\n", "groups.yaml:3",
     "managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess, read-lake]"),
    ("users: [jdoe]\n", "groups.yaml:1", "users: {jdoe: {category: AllHumans"),
    ("users:\n  jdoe: AllHumans\n", "groups.yaml:2", "jdoe: {category: AllHumans"),
    ("users:\n  jdoe:\n    tags: [team]\n", "groups.yaml:3", "tags: {team: data"),
    ("users:\n  jdoe:\n    console_access: yes please\n", "groups.yaml:3",
     "console_access: false"),
    ("policies: [read]\n", "groups.yaml:1", "policies: {read-lake: {document: read-lake"),
    ("policies:\n  read: read\n", "groups.yaml:2", "read-lake: {document: read-lake"),
])
def test_a_wrong_type_shows_the_shape_to_write(tmp_path: Path, text: str, where: str,
                                                shape: str) -> None:
    repo = minimal_repo(tmp_path, files={"accounts/acme/groups.yaml": text})
    with pytest.raises(RepoError) as refused:
        load_repository(repo)
    message = str(refused.value)
    assert where in message and shape in message, message
