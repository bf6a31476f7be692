"""The tests' faster start of moto's IAM backend builds exactly the managed policies moto
builds itself (tests/moto_speed.py)."""

from __future__ import annotations

import pytest
from moto.iam import models

from tests.moto_speed import build


def _fields(policy: models.ManagedPolicy) -> tuple[object, ...]:
    version = policy.versions[0]
    return (type(policy), policy.arn, policy.name, policy.path, policy.account_id,
            policy.partition, policy.default_version_id, policy.next_version_num,
            policy.create_date, policy.update_date, policy.description, policy.tags,
            len(policy.versions), version.document, version.version_id,
            version.is_default, version.create_date)


@pytest.mark.parametrize("region", ["us-east-1", "cn-north-1"])
def test_the_managed_policies_are_the_ones_moto_builds(
    monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    original = models.IAMBackend.__dict__["_init_aws_policies"]
    if original is build:  # installed by tests/conftest.py: moto's own is kept beside it
        original = models.IAMBackend._moto_init_aws_policies  # type: ignore[attr-defined]
    backend = models.IAMBackend.__new__(models.IAMBackend)
    backend.account_id, backend.region_name = "123456789012", region
    theirs = [_fields(p) for p in original(backend)]
    ours = [_fields(p) for p in build(backend)]
    assert len(ours) > 1000
    assert ours == theirs


def test_nothing_is_built_when_moto_is_told_not_to(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    backend = models.IAMBackend.__new__(models.IAMBackend)
    backend.account_id, backend.region_name = "123456789012", "us-east-1"
    assert build(backend) == []
