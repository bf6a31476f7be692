"""`ignore.paths` may not hide what the repository declares: a user or group written without
`path:` lives under `/`, so `paths: ["/"]` (or any prefix of it) ignores it too — live,
it would vanish from the plan, which would then try to create it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import RepoError
from iamstate.repo import load_repository
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
    assert "users.yaml:2: user 'kim' is declared under path '/'" in message
    assert "group 'AllUsers' is declared under path '/'" in message


def test_a_path_outside_the_ignored_one_is_fine(tmp_path: Path) -> None:
    repo = minimal_repo(tmp_path, account_yaml=ACCOUNT.replace('["/"]', '["/emergency/"]'),
                        files={"accounts/acme/users.yaml": USERS})
    assert "kim" in load_repository(repo)[0].desired.users
