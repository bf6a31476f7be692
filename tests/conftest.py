from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import iamstate.entities.registry  # noqa: F401 (every entity registered, as the CLI's commands have them)
from iamstate.aws.session import Connection
from tests import moto_speed
from tests.helpers import ACCOUNT_ID, copy_example

# AWS managed policies exist on AWS; moto loads them only when asked (the example repository
# attaches ReadOnlyAccess). Set before any mock starts, for the in-process backends.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
moto_speed.install()  # the same managed policies, built without re-parsing moto's JSON
# The CLI processes the tests start (hundreds) cache iamstate's bytecode as any install
# does: with PYTHONDONTWRITEBYTECODE set (some CI images set it), every one of them would
# compile the editable checkout's sources again (about 0.07 s of CPU a process).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The slow tier, by test id under tests/ (a folder, a module or a test name's start): each
# starts a moto server or the installed CLI, runs a property over many examples, lints a
# template or applies a whole account. The rest is the fast tier a developer runs on every
# change: `pytest -m "not slow"` (under a minute on 2 cores). A new slow test belongs here.
SLOW = ("e2e/", "adversarial/", "aws/test_property.py", "aws/test_apply.py",
        "aws/test_registry.py", "aws/test_role_permissions.py",
        "unit/test_permission_diff_evaluated.py", "unit/test_permission_compose.py",
        "unit/test_fuzz_loader.py",
        "unit/test_consequences.py::test_the_shortcut", "unit/test_bootstrap.py::test_cfn_lint",
        "unit/test_schema.py::test_resource_files_get",
        "unit/test_schema.py::test_account_files_get", "unit/test_lint_corpus.py")
# Started first, so that the longest tests do not leave one worker busy at the end.
LONGEST = ("e2e/test_gitops.py", "e2e/test_faults.py", "unit/test_permission_diff_evaluated.py",
           "unit/test_consequences.py::test_the_shortcut", "e2e/test_github.py")


def _test_id(item: pytest.Item) -> str:
    return item.nodeid.removeprefix("tests/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tier; put the longest tests first (the same order on every xdist
    worker, as xdist requires)."""
    for item in items:
        if _test_id(item).startswith(SLOW):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not _test_id(item).startswith(LONGEST))


@pytest.fixture
def example_repo(tmp_path: Path) -> Path:
    return copy_example(tmp_path)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials, and nothing that could point boto3 at a real account."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_IAM",
                 "AWS_ENDPOINT_URL_STS", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
def moto(aws_env: None) -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def conn(moto: None) -> Connection:
    iam = boto3.client("iam", region_name="us-east-1")
    sts = boto3.client("sts", region_name="us-east-1")
    # In-process moto raises NotImplementedError for service-specific credentials, as the
    # sandbox's server does with an HTML page: both are "an emulator", so say so.
    return Connection(iam, sts, ACCOUNT_ID, emulated=True)
