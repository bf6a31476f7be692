"""The schema checker: the same verdicts as a general JSON Schema validator on the same
schema files, each violation at its line, and no file contents in any message."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators

from iamstate.errors import RepoError
from iamstate.repository import schema
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, minimal_repo

NAMES = st.sampled_from(["jdoe", "j doe", "Dev", "aws:x", "AWS:team", "", "x" * 130,
                         "HeadlessUser-1", "/", "/eng/", "eng", "a\nb", "aws", "warn"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2000), NAMES,
                    st.sampled_from([3.0, 1.5, 7.25, 1e300, -0.0]), st.text(max_size=5),
                    st.just(datetime.date(2012, 10, 17)), st.sampled_from(["x" * 300, "y" * 1001]))
# No null keys: a general validator drops a null key from the path it reports (the
# checker keeps it), so the two would differ for a reason that is not a verdict.
KEYS = st.one_of(NAMES, st.text(max_size=4), st.integers(0, 3), st.booleans())
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=8)
NAME_LISTS = st.lists(st.one_of(NAMES, SCALARS), max_size=12)


def shaped(fields: list[str]) -> st.SearchStrategy[Any]:
    """Mappings that mostly use the schema's own keys, with values of every kind."""
    return st.dictionaries(st.one_of(st.sampled_from(fields), KEYS),
                           st.one_of(VALUES, NAME_LISTS, st.dictionaries(KEYS, SCALARS)),
                           max_size=6)


USER = shaped(["category", "groups", "path", "console_access", "public_key", "tags",
               "inline_policies"])
GROUP = shaped(["path", "inline_policies", "managed_policies"])
POLICY = shaped(["document", "description", "path"])
ACCOUNT = shaped(["account_id", "role_arn", "partition", "common_groups", "categories",
                  "password_policy", "safety", "ignore", "lint"])


def named(entry: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.dictionaries(KEYS, st.one_of(entry, VALUES), max_size=3), VALUES)


RESOURCES = st.one_of(st.fixed_dictionaries({}, optional={
    "users": named(USER), "groups": named(GROUP), "policies": named(POLICY),
    "other": VALUES}), VALUES)
ACCOUNTS = st.one_of(ACCOUNT, st.fixed_dictionaries({"account_id": st.sampled_from(
    [ACCOUNT_ID, 123456789012, "12"])}, optional={
    "categories": named(shaped(["match", "kind"])),
    "password_policy": shaped(["minimum_password_length", "max_password_age",
                               "password_reuse_prevention", "require_symbols"]),
    "safety": shaped(["max_deletions"]), "ignore": shaped(["users", "groups", "policies"]),
    "lint": shaped(["unknown_actions"]), "partition": SCALARS}), VALUES)


def _ecma_pattern(validator: Any, pattern: str, instance: Any, node: Any
                  ) -> Iterator[ValidationError]:
    """`pattern` as JSON Schema means it (ECMA-262): `$` is the very end of the text. The
    general validator searches with Python's `re`, whose `$` also matches before a final
    newline, so it would take "alice\n" for a name; the checker (and AWS) do not."""
    ecma = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") \
        else pattern
    if isinstance(instance, str) and re.search(ecma, instance) is None:
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


GENERAL = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator, {"pattern": _ecma_pattern})


def same_verdicts(name: str, tree: Any) -> None:
    general = GENERAL(schema.load_schema(name))
    expected = {(tuple(e.absolute_path), e.validator) for e in general.iter_errors(tree)}
    found = {(v.path, v.keyword) for v in schema.violations(name, tree)}
    assert found == expected


@settings(max_examples=400, deadline=None)
@given(RESOURCES)
@example({"users": {"0\n": {}}})  # a name with a final newline: refused (ECMA's `$`)
@example({"users": {"jdoe": {"path": "/eng/\n"}}})
def test_resource_files_get_the_verdicts_of_a_general_validator(tree: Any) -> None:
    same_verdicts(schema.RESOURCES, tree)


@settings(max_examples=400, deadline=None)
@given(ACCOUNTS)
def test_account_files_get_the_verdicts_of_a_general_validator(tree: Any) -> None:
    same_verdicts(schema.ACCOUNT, tree)


def test_a_keyword_the_checker_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="'if' is not supported"):
        schema._Compiler({}).compile({"type": "object", "if": {"required": ["a"]}})


def problems(tmp_path: Path, account: str | None, files: dict[str, str]) -> list[str]:
    minimal_repo(tmp_path, account, files)
    with pytest.raises(RepoError) as caught:
        load_repository(tmp_path)
    return [str(p) for p in caught.value.problems]


PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAA\n" * 20
               + "-----END OPENSSH PRIVATE KEY-----\n")


def test_messages_never_echo_long_or_multi_line_values(tmp_path: Path) -> None:
    block = "".join(f"      {line}\n" for line in PRIVATE_KEY.splitlines())
    found = problems(tmp_path, None, {
        "accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                    f"    tags:\n      {'k' * 200}: x\n      team: {'v' * 300}\n"
                                    f"    {'z' * 100}: 1\n    path: |\n{block}"})
    text = "\n".join(found)
    assert "BEGIN" not in text and "b3Blbn" not in text and "k" * 65 not in text
    assert "v" * 65 not in text and "z" * 65 not in text, text
    assert any("users.yaml:5: users > jdoe > tags: a key is 200 characters, more than 128"
               in p for p in found), found
    assert any("users.yaml:6: users > jdoe > tags > team: is 300 characters, more than 256"
               in p for p in found), found
    assert any("users.yaml:7: users > jdoe: unknown key a text of 100 characters" in p
               for p in found), found
    assert any("users.yaml:8: users > jdoe > path: a text of 5" in p for p in found), found


def test_a_key_read_as_yaml_by_mistake_stays_out_of_the_message(tmp_path: Path) -> None:
    block = "".join(f"  {line}\n" for line in PRIVATE_KEY.splitlines())
    [found] = problems(tmp_path, f"account_id: |\n{block}", {})
    assert "account.yaml:1: account_id: a text of 5" in found and "BEGIN" not in found


def test_a_number_where_text_belongs_says_to_quote_it(tmp_path: Path) -> None:
    [found] = problems(tmp_path, "account_id: 123456789012\n", {})
    assert ("account.yaml:1: account_id must be a string, not the number 123456789012 "
            "(YAML reads it so unquoted: put it in quotes)") in found
    found_users = problems(tmp_path, None, {
        "accounts/acme/users.yaml": "users:\n  007: {category: AllHumans}\n  jdoe:\n"
                                    "    category: AllHumans\n    tags: {since: 2012-10-17}\n"})
    assert any("users.yaml:2: users: a name must be a string, not the number 7" in p
               for p in found_users), found_users
    assert any("users.yaml:5: users > jdoe > tags > since must be a string, not the date "
               "2012-10-17" in p for p in found_users), found_users


def test_a_repeated_item_is_named_at_its_second_line(tmp_path: Path) -> None:
    found = problems(tmp_path, None, {
        "accounts/acme/groups.yaml": "groups:\n  Devs: {}\n  Ops: {}\n",
        "accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n    groups:\n"
                                    "      - Devs\n      - Ops\n      - Devs\n"})
    assert any("users.yaml:7: users > jdoe > groups: lists Devs twice" in p
               for p in found), found


def test_every_unknown_key_is_reported(tmp_path: Path) -> None:
    found = problems(tmp_path, None, {
        "accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                    "    grups: [a]\n    pth: /\n"})
    assert any("users.yaml:4:" in p and "did you mean groups?" in p for p in found), found
    assert any("users.yaml:5:" in p and "did you mean path?" in p for p in found), found


def test_an_enum_without_a_hint_lists_the_choices(tmp_path: Path) -> None:
    found = problems(tmp_path, f'account_id: "{ACCOUNT_ID}"\npartition: aws-eu\n', {})
    assert any("account.yaml:2: partition: aws-eu is not valid: write one of aws, "
               "aws-cn, aws-us-gov" in p for p in found), found


def test_the_published_schemas_are_assembled_from_the_entities() -> None:
    """Each entity's part of account.schema.json and resources.schema.json is its
    package's schema.json: a fragment changed (or an entity added) without writing the
    files again fails here. Regenerate with `python -m iamstate.entities.schema`."""
    from iamstate.entities.registry import BUILT_IN
    from iamstate.entities.schema import FILES, assemble, written

    for name in FILES:
        assert written(name) == assemble(name, written(name), BUILT_IN), name
    parts = {e.key: e.schema.file for e in BUILT_IN if e.schema is not None}
    assert parts == {"users": schema.RESOURCES, "groups": schema.RESOURCES,
                     "policies": schema.RESOURCES, "password_policy": schema.ACCOUNT}
