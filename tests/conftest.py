from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from iamstate.aws import Connection
from tests.helpers import ACCOUNT_ID, copy_example

# AWS managed policies exist on AWS; moto loads them only when asked (the example repository
# attaches ReadOnlyAccess). Set before any mock starts, for the in-process backends.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"


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
