"""The scheduled expiry against IAM (in-process moto): it applies the removals expiry causes
and nothing else; a plan holding anything else is refused with no change anywhere."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from iamstate.hosts.expireflow import apply_expired
from iamstate.plan.checks import Overrides
from iamstate.repository import expiry
from iamstate.workflow import apply_planned, plan_all
from tests.helpers import minimal_repo

USERS = """
users:
  kim:
    category: AllHumans
    groups: [Developers, {group: Incident, expires: 2026-12-20}]
  ann:
    category: AllHumans
    groups: [Developers, Incident]
groups:
  Developers: {}
  Incident: {}
"""


def groups_of(iam: object, user: str) -> set[str]:
    found = iam.list_groups_for_user(UserName=user)["Groups"]  # type: ignore[attr-defined]
    return {g["GroupName"] for g in found}


@pytest.fixture
def applied(moto: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository applied while kim's Incident membership was in force."""
    root = minimal_repo(tmp_path, files={"accounts/acme/users.yaml": USERS})
    monkeypatch.setenv(expiry.TODAY_VARIABLE, "2026-12-19")
    apply_planned(plan_all(root, purpose="apply"), root, Overrides())
    return root


def run(root: Path) -> tuple[int, list[str]]:
    outcome = apply_expired(root, None, Overrides(), lambda change: None, lambda text: None)
    return outcome.exit_code, outcome.lines


def test_the_day_after_only_the_expired_membership_is_removed(
        applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    assert groups_of(iam, "kim") == {"AllUsers", "AllHumans", "Developers", "Incident"}
    monkeypatch.setenv(expiry.TODAY_VARIABLE, "2026-12-21")
    code, lines = run(applied)
    assert code == 2, lines
    assert groups_of(iam, "kim") == {"AllUsers", "AllHumans", "Developers"}
    assert groups_of(iam, "ann") == {"AllUsers", "AllHumans", "Developers", "Incident"}
    code, lines = run(applied)  # again: nothing left to do
    assert code == 0 and lines == ["Nothing has expired in any account."]


def test_before_the_day_nothing_is_applied(applied: Path) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    assert run(applied) == (0, ["Nothing has expired in any account."])
    assert "Incident" in groups_of(iam, "kim")


def test_a_plan_with_any_other_change_is_refused_and_changes_nothing(
        applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    iam.remove_user_from_group(UserName="ann", GroupName="Developers")  # drift
    iam.create_group(GroupName="Stray")  # more drift: a group nobody declared
    monkeypatch.setenv(expiry.TODAY_VARIABLE, "2026-12-21")
    code, lines = run(applied)
    assert code == 1
    assert "refused: acme: + create group membership ann Developers is not an expiry" in lines
    assert "refused: acme: - destroy group Stray is not an expiry" in lines
    assert "Incident" in groups_of(iam, "kim")  # the expired one was not applied either
    assert "Developers" not in groups_of(iam, "ann")
