"""The bootstrap template for GitLab CI: GitLab's OIDC provider, the plan role for the
project's merge requests and branches, the apply role for the protected default branch only.
What the roles' trust allows is decided by the IAM simulator (tests/policy_eval/trust.mjs);
the whole template is checked by cfn-lint.

GitLab's ID token: `sub` = `project_path:GROUP/PROJECT:ref_type:branch|tag:ref:NAME` (a merge
request pipeline's `ref` is its source branch); IAM's trust policies can match only
`<issuer>:sub` and `<issuer>:aud` of a provider that is not GitHub's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from iamstate.aws.bootstrap import APPLY_ROLE, PLAN_ROLE, gitlab_template, render
from iamstate.errors import BootstrapError
from tests.helpers import ACCOUNT_ID
from tests.iamstate_actions import APPLY_ACTIONS, PLAN_ACTIONS
from tests.simulator import needs_node, simulate
from tests.unit.test_bootstrap import ALLOW, IAM, NONE, PARTITION, cfn_lint

PROJECT = "acme/platform/iam"
GITLAB = f"{IAM}:oidc-provider/gitlab.com"
SUB = "gitlab.com:sub"
AUD = "gitlab.com:aud"


def make(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"plan_actions": PLAN_ACTIONS, "apply_actions": APPLY_ACTIONS}
    return gitlab_template(overrides.pop("project", PROJECT), **{**arguments, **overrides})


def resolve(node: Any, provider: str = GITLAB, create_provider: bool = True) -> Any:
    """The intrinsic functions the template uses, evaluated as CloudFormation would."""
    if isinstance(node, list):
        return [resolve(item, provider, create_provider) for item in node]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node:
        return node["Fn::Sub"].replace("${AWS::Partition}", PARTITION).replace(
            "${AWS::AccountId}", ACCOUNT_ID)
    if "Fn::If" in node:
        _, then, otherwise = node["Fn::If"]
        return resolve(then if create_provider else otherwise, provider, create_provider)
    if "Ref" in node:
        assert node["Ref"] == "GitLabOidcProvider"
        return provider
    assert not any(key.startswith("Fn::") for key in node), node
    return {key: resolve(value, provider, create_provider) for key, value in node.items()}


def trust(document: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = resolve(document["Resources"][name]["Properties"])[
        "AssumeRolePolicyDocument"]
    return found


def test_the_provider_is_the_gitlab_url_with_its_audience() -> None:
    document = make()
    provider = document["Resources"]["GitLabOidcProvider"]
    assert provider["Properties"] == {"Url": "https://gitlab.com",
                                      "ClientIdList": ["https://gitlab.com"]}
    assert "GitHubOidcProvider" not in document["Resources"]
    for create in (True, False):  # the account's existing provider, by its known ARN
        value = resolve(document["Outputs"]["OidcProviderArn"]["Value"],
                        create_provider=create)
        assert value == GITLAB
    [plan] = trust(document, "PlanRole")["Statement"]
    [apply] = trust(document, "ApplyRole")["Statement"]
    for statement in (plan, apply):
        assert statement["Principal"] == {"Federated": GITLAB}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert plan["Condition"] == {
        "StringEquals": {AUD: "https://gitlab.com"},
        "StringLike": {SUB: "project_path:acme/platform/iam:ref_type:branch:ref:*"}}
    assert apply["Condition"] == {"StringEquals": {
        AUD: "https://gitlab.com", SUB: "project_path:acme/platform/iam:ref_type:branch:ref:main"}}
    tags = resolve(document["Resources"]["ApplyRole"]["Properties"])["Tags"]
    assert tags == [{"Key": "iamstate:gitlab-project", "Value": PROJECT}]


def test_a_self_managed_gitlab_its_audience_and_branch() -> None:
    document = make(gitlab_url="https://gitlab.example.com/", audience="sts.amazonaws.com",
                    branch="production")
    assert document["Resources"]["GitLabOidcProvider"]["Properties"] == {
        "Url": "https://gitlab.example.com", "ClientIdList": ["sts.amazonaws.com"]}
    provider = f"{IAM}:oidc-provider/gitlab.example.com"
    [apply] = resolve(document["Resources"]["ApplyRole"]["Properties"], provider)[
        "AssumeRolePolicyDocument"]["Statement"]
    assert apply["Principal"] == {"Federated": provider}
    assert apply["Condition"]["StringEquals"] == {
        "gitlab.example.com:aud": "sts.amazonaws.com",
        "gitlab.example.com:sub": "project_path:acme/platform/iam:ref_type:branch:ref:production"}


def test_the_roles_get_the_same_permissions_as_for_github() -> None:
    from iamstate.aws.bootstrap import template
    github = template("octo-org/iam", plan_actions=PLAN_ACTIONS, apply_actions=APPLY_ACTIONS)
    gitlab = make()
    for name, role in (("PlanRole", PLAN_ROLE), ("ApplyRole", APPLY_ROLE)):
        ours, theirs = (d["Resources"][name]["Properties"] for d in (gitlab, github))
        assert ours["RoleName"] == theirs["RoleName"] == role
        assert ours["Policies"] == theirs["Policies"]


@pytest.mark.parametrize(("project", "message"), [
    ("iam", "is not GROUP/PROJECT"),
    ("https://gitlab.com/acme/iam", "is a URL"),
    ("gitlab.com/acme/iam", "is a URL"),
    ("acme/iam.git", "drop the .git"),
    ("acme/*", "'*' must be letters"),
    ("acme/iam:ref_type:branch:ref:main", "must be letters"),
    ("acme/-iam", "not starting with '-'"),
    ("acme//iam", "must be letters"),
    ("acme/${aws:username}", "must be letters"),
])
def test_a_bad_project_is_refused_saying_what_to_write(project: str, message: str) -> None:
    with pytest.raises(BootstrapError, match=f"gitlab project .*{_escape(message)}") as raised:
        make(project=project)
    assert "GROUP/PROJECT" in str(raised.value)


@pytest.mark.parametrize("url", ["http://gitlab.com", "https://gitlab.com:8443",
                                 "https://gitlab.com/?x=1", "https://gitlab.com#f",
                                 "gitlab.com", "https://GitLab.com", "https://*.example.com"])
def test_a_bad_gitlab_url_is_refused(url: str) -> None:
    with pytest.raises(BootstrapError, match=r"gitlab url .*https://"):
        make(gitlab_url=url)


@pytest.mark.parametrize("audience", ["", "sts.*", "a b", "${aws:username}", "x" * 256])
def test_a_bad_audience_is_refused(audience: str) -> None:
    with pytest.raises(BootstrapError, match="audience"):
        make(audience=audience)


def test_a_wildcard_branch_is_refused() -> None:
    with pytest.raises(BootstrapError, match="branch"):
        make(branch="*")


def _escape(text: str) -> str:
    import re
    return re.escape(text)


# -- the command ----------------------------------------------------------------------------

def test_the_command_writes_the_gitlab_template(tmp_path: Path) -> None:
    from iamstate.cli import app
    runner = CliRunner()
    done = runner.invoke(app, ["--repo", str(tmp_path), "bootstrap", "--gitlab-project",
                               PROJECT, "--format", "json"])
    assert done.exit_code == 0, done.output
    assert '"Url": "https://gitlab.com"' in done.output
    assert "project_path:acme/platform/iam:ref_type:branch:ref:main" in done.output
    both = runner.invoke(app, ["bootstrap", "--gitlab-project", PROJECT, "--github-repo",
                               "octo-org/iam"])
    neither = runner.invoke(app, ["bootstrap"])
    environment = runner.invoke(app, ["bootstrap", "--gitlab-project", PROJECT,
                                      "--environment", "prod"])
    for refused in (both, neither, environment):
        assert refused.exit_code == 1
    assert "one of them" in both.output and "one of them" in neither.output
    assert "--environment is GitHub's" in environment.output


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_cfn_lint_accepts_the_gitlab_template(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"iamstate.{fmt}"
    path.write_text(render(make(), fmt), encoding="utf-8")  # type: ignore[arg-type]
    done = cfn_lint(path)
    assert done.returncode == 0, done.stdout + done.stderr


# -- what the roles' trust allows, decided by the IAM simulator -----------------------------

P = "project_path:acme/platform/iam"
URL = "https://gitlab.com"
# (what, principal, sub, aud, plan role, apply role); None leaves the claim out
TOKENS: list[tuple[str, str, str | None, str | None, str, str]] = [
    ("merge request pipeline", GITLAB, f"{P}:ref_type:branch:ref:feature/x", URL, ALLOW, NONE),
    ("push or schedule on main", GITLAB, f"{P}:ref_type:branch:ref:main", URL, ALLOW, ALLOW),
    ("branch main-evil", GITLAB, f"{P}:ref_type:branch:ref:main-evil", URL, ALLOW, NONE),
    ("branch ending in main", GITLAB, f"{P}:ref_type:branch:ref:not-main", URL, ALLOW, NONE),
    ("tag named main", GITLAB, f"{P}:ref_type:tag:ref:main", URL, NONE, NONE),
    ("tag", GITLAB, f"{P}:ref_type:tag:ref:v1.0", URL, NONE, NONE),
    ("project prefix trick", GITLAB,
     "project_path:acme/platform/iam-evil:ref_type:branch:ref:main", URL, NONE, NONE),
    ("subproject of the project's path", GITLAB,
     "project_path:acme/platform/iam/x:ref_type:branch:ref:main", URL, NONE, NONE),
    ("its group", GITLAB, "project_path:acme/platform:ref_type:branch:ref:main", URL, NONE,
     NONE),
    ("other casing", GITLAB, "project_path:Acme/Platform/IAM:ref_type:branch:ref:main", URL,
     NONE, NONE),
    ("a fork", GITLAB, "project_path:mallory/iam:ref_type:branch:ref:main", URL, NONE, NONE),
    ("wrong audience", GITLAB, f"{P}:ref_type:branch:ref:main", "sts.amazonaws.com", NONE,
     NONE),
    ("no audience", GITLAB, f"{P}:ref_type:branch:ref:main", None, NONE, NONE),
    ("no subject", GITLAB, None, URL, NONE, NONE),
    ("GitHub's provider", f"{IAM}:oidc-provider/token.actions.githubusercontent.com",
     f"{P}:ref_type:branch:ref:main", URL, NONE, NONE),
    ("another GitLab", f"{IAM}:oidc-provider/gitlab.example.com",
     f"{P}:ref_type:branch:ref:main", URL, NONE, NONE),
    ("another account's provider", "arn:aws:iam::999999999999:oidc-provider/gitlab.com",
     f"{P}:ref_type:branch:ref:main", URL, NONE, NONE),
]


@needs_node
def test_only_the_default_branch_can_assume_the_apply_role() -> None:
    document = make()
    roles = [resolve(document["Resources"][name]["Properties"])
             for name in ("PlanRole", "ApplyRole")]
    cases = []
    for _, principal, sub, aud, _, _ in TOKENS:
        # the provider's claims as IAM names them: `<provider URL without https://>:<claim>`
        host = principal.rsplit("oidc-provider/", 1)[1]
        context = {f"{host}:{k}": v for k, v in (("sub", sub), ("aud", aud)) if v is not None}
        for properties in roles:
            cases.append({"trust": properties["AssumeRolePolicyDocument"],
                          "principal": principal, "role": f"{IAM}:role/{properties['RoleName']}",
                          "account": ACCOUNT_ID, "context": context})
    decisions = simulate(cases, "trust.mjs")
    wrong = [f"{what} ({sub}, aud {aud}): plan {decisions[2 * i]}, apply "
             f"{decisions[2 * i + 1]}; expected plan {plan}, apply {apply}"
             for i, (what, _, sub, aud, plan, apply) in enumerate(TOKENS)
             if decisions[2 * i: 2 * i + 2] != [plan, apply]]
    assert not wrong, "\n".join(wrong)
