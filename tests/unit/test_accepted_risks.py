"""accepted_risks in account.yaml (issue 19): an acceptance names a finding iamstate makes
and a principal it can be about, and pins the reach the reviewer read; old entries (no
reach) still load, with a warning that says how to pin them. Globs that can never match an
IAM name are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iamstate.analysis.reach import Reach
from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, minimal_repo

USERS = """
groups:
  Ops: {}
users:
  jdoe:
    category: AllHumans
    groups: [Ops]
"""


def _repo(tmp_path: Path, extra: str) -> Path:
    return minimal_repo(tmp_path, f"""
        account_id: "{ACCOUNT_ID}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
        ignore:
          users: ["break-glass-*"]
        {extra}
        """, {"accounts/acme/users.yaml": USERS})


def _errors(root: Path) -> str:
    with pytest.raises(RepoError) as caught:
        load_repository(root)
    return str(caught.value)


def test_an_unknown_finding_id_is_an_error_with_did_you_mean(tmp_path: Path) -> None:
    root = _repo(tmp_path, """accepted_risks:
          - {id: ESC-ADD-USER-TO-GRUOP, principal: group/Ops, reason: on-call}""")
    message = _errors(root)
    assert "account.yaml:8:" in message
    assert "did you mean ESC-ADD-USER-TO-GROUP?" in message


def test_a_principal_neither_declared_nor_ignored_is_an_error(tmp_path: Path) -> None:
    root = _repo(tmp_path, """accepted_risks:
          - {id: ESC-ADD-USER-TO-GROUP, principal: group/Opps, reason: on-call}""")
    message = _errors(root)
    assert "account.yaml:8:" in message and "did you mean group/Ops?" in message
    # the controls: a declared group, and an ignored (live, never managed) user
    ok = _repo(tmp_path / "ok", """accepted_risks:
          - {id: ESC-ADD-USER-TO-GROUP, principal: group/Ops, reason: on-call}
          - {id: ADMIN-EQUIVALENT, principal: user/break-glass-1, reason: emergency}""")
    [account] = load_repository(ok)
    assert [r.principal for r in account.config.accepted_risks] == [
        "group/Ops", "user/break-glass-1"]


PINNED = json.dumps([{"action": "iam:AddUserToGroup",
                      "resources": [f"arn:aws:iam::{ACCOUNT_ID}:group/Incident"],
                      "conditions": {"Bool": {"aws:MultiFactorAuthPresent": ["true"]}}}])


def test_a_reach_is_read_and_an_entry_without_one_warns_how_to_pin_it(tmp_path: Path) -> None:
    root = _repo(tmp_path, f"""accepted_risks:
          - id: ESC-ADD-USER-TO-GROUP
            principal: group/Ops
            reach: {PINNED}
            reason: on-call adds responders
          - {{id: ESC-CREATE-ACCESS-KEY, principal: group/Ops, reason: old entry}}""")
    [account] = load_repository(root)
    pinned, old = account.config.accepted_risks
    assert pinned.reach == (Reach("iam:AddUserToGroup",
                                  (f"arn:aws:iam::{ACCOUNT_ID}:group/Incident",), (),
                                  '{"Bool":{"aws:MultiFactorAuthPresent":["true"]}}'),)
    assert old.reach is None
    [warning] = [w for w in account.warnings if "accepted_risks" in w.message]
    assert warning.line == 12 and "pin it: run `iamstate plan`" in warning.message


@pytest.mark.parametrize("glob", ["/emergency/*", "arn:aws:iam::123456789012:user/x"])
def test_an_ignore_glob_that_can_never_match_a_name_is_refused(tmp_path: Path,
                                                                glob: str) -> None:
    root = minimal_repo(tmp_path, f"""
        account_id: "{ACCOUNT_ID}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
        ignore:
          users: ["{glob}"]
        """)
    message = _errors(root)
    assert "account.yaml:6:" in message and "paths" in message


def test_a_role_of_another_account_is_an_error_and_one_role_for_both_warns(
        tmp_path: Path) -> None:
    other = "arn:aws:iam::210987654321:role/iamstate-plan"
    root = minimal_repo(tmp_path, f"""
        account_id: "{ACCOUNT_ID}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
        plan_role_arn: {other}
        apply_role_arn: arn:aws:iam::{ACCOUNT_ID}:role/iamstate-apply
        """)
    message = _errors(root)
    assert "account.yaml:5:" in message and "210987654321" in message
    same = f"arn:aws:iam::{ACCOUNT_ID}:role/iamstate"
    both = minimal_repo(tmp_path / "same", f"""
        account_id: "{ACCOUNT_ID}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
        plan_role_arn: {same}
        apply_role_arn: {same}
        """)
    [account] = load_repository(both)
    assert any("single-role risk" in w.message for w in account.warnings)
    # the control: two roles of the account, nothing to say
    apart = minimal_repo(tmp_path / "apart", f"""
        account_id: "{ACCOUNT_ID}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
        plan_role_arn: {same}-plan
        apply_role_arn: {same}-apply
        """)
    [account] = load_repository(apart)
    assert not [w for w in account.warnings if "role" in w.message]
