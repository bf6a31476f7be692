"""Hostile input: whatever the files hold, loading gives a valid model or a clean
file:line RepoError — never a traceback, never an AWS call."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from tests.helpers import minimal_repo

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = st.sampled_from(["users", "groups", "policies", "category", "groups", "path", "tags",
                        "inline_policies", "managed_policies", "document", "Version",
                        "Statement", "Effect", "Action", "Resource", "console_access",
                        "AllHumans", "jdoe", "HeadlessUser-x", "${account_id}", "${x}"])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                    st.text(max_size=20), KEYS)
TREES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(KEYS, st.text(max_size=8)),
                                                 inner, max_size=4)), max_leaves=25)


@pytest.fixture(autouse=True)
def no_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the loader called AWS")

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)
    yield


def load_files(files: dict[str, str | bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = minimal_repo(Path(tmp))
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        try:
            load_repository(root)
        except RepoError as error:
            assert error.problems
            for problem in error.problems:
                assert str(problem.file).startswith(tmp) and problem.line >= 0
                assert problem.message


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_as_a_resource_file(text: str) -> None:
    load_files({"accounts/acme/users.yaml": text})


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_as_a_policy_file(data: bytes) -> None:
    load_files({"policies/p.json": data,
                "accounts/acme/g.yaml": "groups:\n  G:\n    inline_policies: {P: p}\n"})


@SETTINGS
@given(TREES)
def test_random_structures_as_resources(tree: Any) -> None:
    load_files({"accounts/acme/users.yaml": json.dumps(tree)})


@SETTINGS
@given(st.dictionaries(st.sampled_from(["users", "groups", "policies"]), TREES, max_size=3))
def test_random_declarations(tree: dict[str, Any]) -> None:
    load_files({"accounts/acme/r.yaml": json.dumps(tree)})


@SETTINGS
@given(TREES)
def test_random_policy_documents(document: Any) -> None:
    load_files({"policies/p.json": json.dumps(document),
                "accounts/acme/g.yaml": "groups:\n  G:\n    inline_policies: {P: p}\n"})


@SETTINGS
@given(TREES)
def test_random_account_files(tree: Any) -> None:
    load_files({"accounts/acme/account.yaml": json.dumps(tree)})
