"""`ignore.paths` may not hide what the repository declares: a user or group written without
`path:` lives under `/`, so `paths: ["/"]` (or any prefix of it) ignores it too — live,
it would vanish from the plan, which would then try to create it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, minimal_repo

ACCOUNT = f"""
account_id: "{ACCOUNT_ID}"
common_groups: [AllUsers]
categories:
  AllHumans: {{}}
  AllHeadlessUsers: {{match: "^HeadlessUser-"}}
ignore:
  paths: ["/"]
"""
USERS = """
users:
  kim:
    category: AllHumans
groups:
  AllUsers: {}
  AllHumans: {}
  AllHeadlessUsers: {}
"""


def test_the_default_path_counts_for_ignore_paths(tmp_path: Path) -> None:
    repo = minimal_repo(tmp_path, account_yaml=ACCOUNT,
                        files={"accounts/acme/users.yaml": USERS})
    with pytest.raises(RepoError) as refused:
        load_repository(repo)
    message = str(refused.value)
    assert "users.yaml:2: user kim is declared under path /," in message
    assert "group AllUsers is declared under path /," in message


def test_a_path_outside_the_ignored_one_is_fine(tmp_path: Path) -> None:
    repo = minimal_repo(tmp_path, account_yaml=ACCOUNT.replace('["/"]', '["/emergency/"]'),
                        files={"accounts/acme/users.yaml": USERS})
    assert "kim" in load_repository(repo)[0].desired.users


@pytest.mark.parametrize("kind", ["user", "group"])
def test_a_declared_name_living_under_an_ignored_path_is_an_error_not_a_create(
        moto: None, tmp_path: Path, kind: str) -> None:
    """Offline, `kim` is at `/`; live, IAM keeps her under `/emergency/`, which is ignored:
    the plan must say so, not plan a create that AWS refuses halfway through an apply."""
    import boto3

    from iamstate.errors import IamStateError
    from iamstate.workflow import plan_all

    repo = minimal_repo(tmp_path, account_yaml=ACCOUNT.replace('["/"]', '["/emergency/"]'),
                        files={"accounts/acme/users.yaml": USERS + "  Oncall: {}\n"})
    iam = boto3.client("iam", region_name="us-east-1")
    if kind == "user":
        iam.create_user(UserName="Kim", Path="/emergency/")  # names compare as IAM does
    else:
        iam.create_group(GroupName="oncall", Path="/emergency/team/")
    with pytest.raises(IamStateError) as refused:
        plan_all(repo, purpose="apply")
    name = "kim" if kind == "user" else "Oncall"
    assert f"{kind} {name} is declared" in str(refused.value)
    assert "/emergency/" in str(refused.value)
