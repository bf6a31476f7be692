"""`aws.session.connect` takes the job's OIDC token from a token source: given, or the CI
host's (GitLab's `id_tokens:` variable, GitHub's token endpoint). With a token, each
account's role is assumed with AssumeRoleWithWebIdentity (its session named after the
purpose); without, boto3's own credentials are used as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate import hosts
from iamstate.aws import identity
from iamstate.aws.session import connect
from iamstate.model.account import AccountConfig
from tests.helpers import ACCOUNT_ID

PLAN = f"arn:aws:iam::{ACCOUNT_ID}:role/iamstate-plan"
APPLY = f"arn:aws:iam::{ACCOUNT_ID}:role/iamstate-apply"
CONFIG = AccountConfig("prod", ACCOUNT_ID, Path("."), plan_role_arn=PLAN, apply_role_arn=APPLY)


@pytest.fixture
def outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_ACTIONS", "GITHUB_REPOSITORY", "ACTIONS_ID_TOKEN_REQUEST_URL",
                 "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITLAB_CI", "IAMSTATE_ID_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def caller(purpose: str, **kwargs: object) -> str:
    conn = connect(CONFIG, purpose=purpose, **kwargs)  # type: ignore[arg-type]
    return str(conn.sts.get_caller_identity()["Arn"])


def test_a_given_token_source_assumes_each_purposes_role(moto: None, outside_ci: None) -> None:
    asked: list[str] = []

    def token() -> str:
        asked.append("token")
        return "eyJ.given.token"

    # moto accepts any token; AWS checks it against the role's trust (tests/unit/
    # test_bootstrap*.py decide with the IAM simulator what each role trusts)
    assert caller("plan", web_identity=token).endswith(":assumed-role/iamstate-plan/"
                                                       "iamstate-plan")
    assert caller("apply", web_identity=token).endswith(":assumed-role/iamstate-apply/"
                                                        "iamstate-apply")
    assert asked == ["token", "token"]


def test_in_a_gitlab_job_the_id_token_variable_is_the_token(
    moto: None, outside_ci: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setattr(identity, "_source", [identity._none])
    identity.use(hosts.web_identity_token)  # as the command line does when it starts
    # no `id_tokens:` in the job: the role is assumed with boto3's credentials (session
    # `iamstate`, not the web-identity one)
    assert caller("plan").endswith(":assumed-role/iamstate-plan/iamstate")
    monkeypatch.setenv("IAMSTATE_ID_TOKEN", "eyJ.gitlab.token")
    assert caller("plan").endswith(":assumed-role/iamstate-plan/iamstate-plan")


def test_without_a_named_source_no_token_is_asked(
    moto: None, outside_ci: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process, with no source named (the CLI names the CI host's), a GitLab job's token
    is not used: boto3's own credentials assume the role."""
    monkeypatch.setenv("GITLAB_CI", "true")
    monkeypatch.setenv("IAMSTATE_ID_TOKEN", "eyJ.gitlab.token")
    monkeypatch.setattr(identity, "_source", [identity._none])
    assert caller("plan").endswith(":assumed-role/iamstate-plan/iamstate")


def test_no_role_no_token_asked(moto: None, outside_ci: None,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    def never() -> str:
        raise AssertionError("no role to assume: no token is needed")

    plain = AccountConfig("dev", ACCOUNT_ID, Path("."))
    conn = connect(plain, web_identity=never)
    assert conn.account_id == ACCOUNT_ID
