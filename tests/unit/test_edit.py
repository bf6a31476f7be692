"""user add / user remove / fmt edit YAML like a human: comments, order and files kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import EditError, RepoError
from iamstate.repository.edit import add_user, format_files, remove_user
from iamstate.repository.loader import load_repository


def test_add_goes_to_the_users_file_and_keeps_every_comment(example_repo: Path) -> None:
    users = example_repo / "accounts/sandbox/users.yaml"
    before = users.read_text()
    path = add_user(example_repo, None, "HeadlessUser-deploy", None, ["BackupWriters"],
                    False, None)
    after = users.read_text()
    assert path == users
    assert after.startswith(before)  # appended: nothing above it moved or lost a comment
    assert after[len(before):] == "  HeadlessUser-deploy:\n    groups: [BackupWriters]\n"
    [account] = load_repository(example_repo)
    assert account.desired.users["HeadlessUser-deploy"].groups == {
        "AllUsers", "AllHeadlessUsers", "BackupWriters"}


def test_an_invalid_add_is_rolled_back(example_repo: Path) -> None:
    users = example_repo / "accounts/sandbox/users.yaml"
    before = users.read_text()
    with pytest.raises(RepoError, match="matches no category pattern"):
        add_user(example_repo, None, "bob", None, [], False, None)
    assert users.read_text() == before
    with pytest.raises(EditError, match="already declared"):
        add_user(example_repo, None, "jdoe", "AllHumans", [], False, None)


def test_remove_edits_the_file_that_declares_the_user(example_repo: Path) -> None:
    team = example_repo / "accounts/sandbox/team/ops.yaml"
    team.parent.mkdir()
    team.write_text("# the ops team\nusers:\n  carol:  # on call\n    category: AllHumans\n"
                    "  dave:\n    category: AllHumans\n")
    assert remove_user(example_repo, None, "carol") == team
    assert team.read_text() == "# the ops team\nusers:\n  dave:\n    category: AllHumans\n"


def test_a_new_file_points_editors_at_the_repositorys_schema(example_repo: Path) -> None:
    team = example_repo / "accounts/sandbox/team/data.yaml"
    team.parent.mkdir()
    add_user(example_repo, None, "HeadlessUser-etl", None, [], False, None, file=team)
    # no schema/ folder yet: the comment names where `iamstate schema` writes it
    assert team.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=../../../schema/resources.schema.json")
    [account] = load_repository(example_repo)
    assert "HeadlessUser-etl" in account.desired.users
    (example_repo / "iamstate/schema").mkdir(parents=True)  # iamstate's own source tree
    (example_repo / "iamstate/schema/resources.schema.json").write_text("{}")
    other = example_repo / "accounts/sandbox/more.yaml"
    add_user(example_repo, None, "HeadlessUser-web", None, [], False, None, file=other)
    assert other.read_text().splitlines()[0] == (
        "# yaml-language-server: $schema=../../iamstate/schema/resources.schema.json")


def test_fmt_reindents_and_check_reports(example_repo: Path) -> None:
    messy = example_repo / "accounts/sandbox/messy.yaml"
    messy.write_text("users:\n    eve:   # comment kept (its column)\n        category: AllHumans\n"
                     "        groups:\n        - Developers\n")
    assert format_files(example_repo, check=True) == [messy]
    assert format_files(example_repo, check=False) == [messy]
    assert messy.read_text() == ("users:\n  eve:     # comment kept (its column)\n"
                                 "    category: AllHumans\n    groups:\n      - Developers\n")
    assert format_files(example_repo, check=True) == []


def test_schema_command_writes_schemas_that_validate_the_example(example_repo: Path) -> None:
    import json

    from jsonschema import Draft202012Validator
    from ruamel.yaml import YAML
    from typer.testing import CliRunner

    from iamstate.cli import app

    result = CliRunner().invoke(app, ["--repo", str(example_repo), "schema"])
    assert result.exit_code == 0, result.output
    resources = json.loads((example_repo / "schema/resources.schema.json").read_text())
    users = YAML(typ="safe").load((example_repo / "accounts/sandbox/users.yaml").read_text())
    assert list(Draft202012Validator(resources).iter_errors(users)) == []
    assert list(Draft202012Validator(resources).iter_errors({"users": {"x": {"grups": []}}}))
