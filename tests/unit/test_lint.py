"""Lint to Access Analyzer's level for what can be known offline: condition keys against
the catalogue (global and per service), iam:PassRole on *, Allow with NotAction — each with
a severity, at file:line, configurable per account."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.analysis.lint import condition_key_problem
from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, minimal_repo


@pytest.mark.parametrize("key", ["aws:MultiFactorAuthPresent", "AWS:multifactorauthpresent",
                                 "aws:PrincipalTag/team", "aws:SourceIp", "s3:prefix",
                                 "s3:ExistingObjectTag/owner", "iam:PassedToService",
                                 "ec2:ResourceTag/Env", "sts:ExternalId"])
def test_known_condition_keys(key: str) -> None:
    assert condition_key_problem(key) is None


@pytest.mark.parametrize("key,hint", [("aws:MultiFactorAuthPresnt", "aws:MultiFactorAuthPresent"),
                                      ("s3:prefx", "s3:prefix"),
                                      ("aws:PrincipalTag/", None),
                                      ("s4:prefix", None)])
def test_unknown_condition_keys(key: str, hint: str | None) -> None:
    problem = condition_key_problem(key)
    assert problem is not None
    if hint:
        assert f"did you mean {hint}" in problem


def repo(tmp_path: Path, statement: str, lint: str = "") -> Path:
    return minimal_repo(tmp_path, f'account_id: "{ACCOUNT_ID}"\n{lint}', {
        "accounts/acme/groups.yaml": "groups:\n  Ops:\n    inline_policies:\n      P:\n"
                                     "        Version: '2012-10-17'\n        Statement:\n"
                                     f"          - {statement}\n"})


REQUIRE_MFA_TYPO = ("{Effect: Deny, NotAction: 'iam:ChangePassword', Resource: '*', "
                    "Condition: {BoolIfExists: {aws:MultiFactorAuthPresnt: 'false'}}}")


def test_a_misspelt_key_in_a_require_mfa_policy_is_an_error_at_file_line(
    tmp_path: Path,
) -> None:
    with pytest.raises(RepoError) as caught:
        load_repository(repo(tmp_path, REQUIRE_MFA_TYPO))
    [problem] = caught.value.problems
    assert "groups.yaml:7" in str(problem) and "LINT-UNKNOWN-CONDITION-KEY" in str(problem)
    assert "did you mean aws:MultiFactorAuthPresent" in str(problem)


def test_settings_turn_an_error_into_a_warning_or_off(tmp_path: Path) -> None:
    [warned] = load_repository(repo(tmp_path / "w", REQUIRE_MFA_TYPO,
                                    "lint: {unknown_condition_keys: warn}\n"))
    assert [w for w in warned.warnings if "warning LINT-UNKNOWN-CONDITION-KEY" in str(w)]
    [silent] = load_repository(repo(tmp_path / "o", REQUIRE_MFA_TYPO,
                                    "lint: {unknown_condition_keys: off}\n"))
    assert not silent.warnings


SECURITY = {
    "PassRole on *": ("{Effect: Allow, Action: ['iam:PassRole', 'ec2:RunInstances'], "
                      "Resource: '*'}", "LINT-PASSROLE-ON-ALL", "passrole_on_all"),
    "iam:Pass* on *": ("{Effect: Allow, Action: 'iam:Pass*', Resource: '*'}",
                       "LINT-PASSROLE-ON-ALL", "passrole_on_all"),
    "Allow NotAction": ("{Effect: Allow, NotAction: 'iam:*', Resource: '*'}",
                        "LINT-ALLOW-NOT-ACTION", "allow_with_not_action"),
}


@pytest.mark.parametrize("statement,rule,setting", SECURITY.values(), ids=list(SECURITY))
def test_security_warnings_print_or_stop_as_configured(tmp_path: Path, statement: str,
                                                        rule: str, setting: str) -> None:
    [account] = load_repository(repo(tmp_path / "d", statement))
    assert [w for w in account.warnings if f"security warning {rule}" in str(w)
            and "groups.yaml:" in str(w)], account.warnings
    with pytest.raises(RepoError, match=rule):
        load_repository(repo(tmp_path / "e", statement, f"lint: {{{setting}: error}}\n"))


def test_passrole_on_named_roles_is_fine(tmp_path: Path) -> None:
    [account] = load_repository(repo(tmp_path, (
        "{Effect: Allow, Action: 'iam:PassRole', Resource: "
        f"'arn:aws:iam::{ACCOUNT_ID}:role/app', Condition: {{StringEquals: "
        "{iam:PassedToService: ec2.amazonaws.com}}}")))
    assert not account.warnings
