"""The bootstrap template: what it contains, that cfn-lint accepts it, and what its roles
allow, decided by a real IAM policy simulator (@cloud-copilot/iam-simulate, pinned in
tests/policy_eval/): who can assume which role, and what each role can do once assumed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from ruamel.yaml import YAML

from iamstate.aws.bootstrap import (
    APPLY_ROLE,
    GITHUB_OIDC_HOST,
    PLAN_ROLE,
    is_read_only,
    render,
    resources_for,
    template,
)
from iamstate.errors import BootstrapError
from tests.helpers import ACCOUNT_ID, ROOT
from tests.iamstate_actions import APPLY_ACTIONS, PLAN_ACTIONS
from tests.simulator import needs_node, simulate

REPO = "octo-org/iam"
PARTITION = "aws"
IAM = f"arn:{PARTITION}:iam::{ACCOUNT_ID}"
PROVIDER = f"{IAM}:oidc-provider/{GITHUB_OIDC_HOST}"
CFN_LINT = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which(
    "cfn-lint")
ALLOW, DENY, NONE = "Allowed", "ExplicitlyDenied", "ImplicitlyDenied"


def make(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"plan_actions": PLAN_ACTIONS, "apply_actions": APPLY_ACTIONS}
    return template(overrides.pop("github_repo", REPO), **{**arguments, **overrides})


def resolve(node: Any, create_provider: bool = True) -> Any:
    """The template's intrinsic functions evaluated as CloudFormation would in ACCOUNT_ID
    (only those the template uses: an unknown one fails the test)."""
    if isinstance(node, list):
        return [resolve(item, create_provider) for item in node]
    if not isinstance(node, dict):
        return node
    if "Fn::Sub" in node:
        text = node["Fn::Sub"]
        assert isinstance(text, str), "Fn::Sub with variables is not used"
        resolved = text.replace("${AWS::Partition}", PARTITION).replace(
            "${AWS::AccountId}", ACCOUNT_ID)
        assert "${AWS::" not in resolved, resolved
        return resolved
    if "Fn::If" in node:
        condition, then, otherwise = node["Fn::If"]
        assert condition == "CreateOidcProvider"
        return resolve(then if create_provider else otherwise, create_provider)
    if "Ref" in node:
        return {"GitHubOidcProvider": PROVIDER}[node["Ref"]]
    if "Fn::GetAtt" in node:
        resource, attribute = node["Fn::GetAtt"]
        assert attribute == "Arn"
        names = {"PlanRole": PLAN_ROLE, "ApplyRole": APPLY_ROLE}
        return f"{IAM}:role/{names[resource]}"
    assert not any(key.startswith("Fn::") for key in node), node
    return {key: resolve(value, create_provider) for key, value in node.items()}


def role(document: dict[str, Any], name: str) -> dict[str, Any]:
    properties: dict[str, Any] = resolve(document["Resources"][name]["Properties"])
    return properties


def allowed_actions(properties: dict[str, Any]) -> list[str]:
    [policy] = properties["Policies"]
    return sorted(action for statement in policy["PolicyDocument"]["Statement"]
                  if statement["Effect"] == "Allow" for action in statement["Action"])


# -- what the template says ------------------------------------------------------------------

def test_the_roles_trust_only_their_subjects_with_the_sts_audience() -> None:
    document = make()
    plan = role(document, "PlanRole")
    apply = role(document, "ApplyRole")
    assert (plan["RoleName"], apply["RoleName"]) == ("iamstate-plan", "iamstate-apply")
    [plan_trust] = plan["AssumeRolePolicyDocument"]["Statement"]
    [apply_trust] = apply["AssumeRolePolicyDocument"]["Statement"]
    for statement in (plan_trust, apply_trust):
        assert statement["Principal"] == {"Federated": PROVIDER}
        assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert plan_trust["Condition"]["StringLike"] == {
        "token.actions.githubusercontent.com:sub": [
            "repo:octo-org/iam:pull_request", "repo:octo-org/iam:ref:refs/heads/*"]}
    assert apply_trust["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:octo-org/iam:environment:iam-production",
        "token.actions.githubusercontent.com:ref": "refs/heads/main"}}


def test_environment_and_branch_are_parameters() -> None:
    [statement] = role(make(environment="prod iam", branch="release/1"),
                       "ApplyRole")["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"] == {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:octo-org/iam:environment:prod iam",
        "token.actions.githubusercontent.com:ref": "refs/heads/release/1"}


def test_the_plan_role_gets_exactly_the_reads_and_the_apply_role_adds_its_actions() -> None:
    document = make()  # (GetPolicy/GetPolicyVersion twice: the account's, AWS managed)
    assert sorted(set(allowed_actions(role(document, "PlanRole")))) == sorted(PLAN_ACTIONS)
    assert sorted(set(allowed_actions(role(document, "ApplyRole")))) == sorted(
        set(PLAN_ACTIONS) | set(APPLY_ACTIONS))


def test_resources_are_this_accounts_users_groups_and_policies_where_the_action_has_any(
) -> None:
    document = make()
    for name in ("PlanRole", "ApplyRole"):
        [policy] = document["Resources"][name]["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]:
            for resource in statement["Resource"]:
                if resource == "*":
                    assert all(resources_for(a) == ("*",) for a in statement["Action"])
                    continue
                arn = resource["Fn::Sub"]
                if statement["Sid"].endswith("AwsManagedPolicy"):  # documents, read only
                    assert arn == "arn:${AWS::Partition}:iam::aws:policy/*"
                    assert set(statement["Action"]) <= {"iam:GetPolicy", "iam:GetPolicyVersion"}
                    continue
                assert arn.startswith("arn:${AWS::Partition}:iam::${AWS::AccountId}:"), arn
    [policy] = role(document, "PlanRole")["Policies"]
    scoped = {s["Sid"]: s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    assert scoped["ReadUser"] == [f"{IAM}:user/*"]
    assert scoped["ReadPolicy"] == [f"{IAM}:policy/*"]


def test_both_roles_deny_themselves_changes_to_the_iamstate_roles_and_oidc_providers() -> None:
    document = make()
    for name in ("PlanRole", "ApplyRole"):
        [policy] = role(document, name)["Policies"]
        [deny] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        assert deny["Action"] == "iam:*"
        assert deny["Resource"] == [f"{IAM}:role/iamstate-plan", f"{IAM}:role/iamstate-apply",
                                    f"{IAM}:oidc-provider/*"]


def test_an_existing_provider_is_reused_under_a_condition() -> None:
    document = make()
    assert document["Parameters"]["CreateOidcProvider"]["AllowedValues"] == ["true", "false"]
    provider = document["Resources"]["GitHubOidcProvider"]
    assert provider["Condition"] == "CreateOidcProvider"
    assert provider["Properties"] == {"Url": "https://token.actions.githubusercontent.com",
                                      "ClientIdList": ["sts.amazonaws.com"]}
    for create in (True, False):
        outputs = resolve(document["Outputs"], create_provider=create)
        assert outputs["OidcProviderArn"]["Value"] == PROVIDER
        trust = resolve(document["Resources"]["PlanRole"]["Properties"], create)
        assert trust["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Federated": PROVIDER}


def test_outputs_are_the_arns_account_yaml_needs() -> None:
    outputs = resolve(make()["Outputs"])
    assert outputs["PlanRoleArn"]["Value"] == f"{IAM}:role/iamstate-plan"
    assert outputs["ApplyRoleArn"]["Value"] == f"{IAM}:role/iamstate-apply"
    assert "plan_role_arn" in outputs["PlanRoleArn"]["Description"]
    assert "apply_role_arn" in outputs["ApplyRoleArn"]["Description"]


def test_yaml_and_json_texts_read_back_as_the_template() -> None:
    document = make()
    text = render(document)
    assert text.startswith("# Made by iamstate bootstrap")
    assert YAML(typ="safe", pure=True).load(text) == document  # versions stay strings
    assert "'2012-10-17'" in text and "'2010-09-09'" in text
    assert not any(line != line.rstrip() for line in text.splitlines())
    assert json.loads(render(document, "json")) == document
    with pytest.raises(BootstrapError, match="unknown template format"):
        render(document, "toml")  # type: ignore[arg-type]


def test_action_names_are_spelled_as_aws_spells_them_once_each() -> None:
    document = make(plan_actions=["IAM:getuser", "iam:GetUser"], apply_actions=["iam:CreateUser"])
    assert allowed_actions(role(document, "PlanRole")) == ["iam:GetUser"]


@pytest.mark.parametrize(("repo", "message"), [
    ("octo-org", "is not ORG/REPO"),
    ("octo-org/iam/extra", "is not ORG/REPO"),
    ("/iam", 'owner ""'),
    ("octo-org/", 'name ""'),
    ("https://github.com/octo-org/iam", "is a URL"),
    ("github.com/octo-org/iam", "is a URL"),
    ("-octo/iam", "owner -octo must"),
    ("octo_org/iam", "owner octo_org must"),
    ("o" * 40 + "/iam", "1-39"),
    ("octo-org/iam.git", "drop the .git"),
    ("octo-org/..", "name \\.\\. must"),
    ("octo-org/iam*", "name iam\\* must"),
    ("octo-org/iam:pull_request", "name iam:pull_request must"),
    ("octo-org/i am", 'name "i am" must'),
    ("octo-org/${aws:username}", "name"),
    ("octo-org/" + "r" * 101, "1-100"),
])
def test_a_bad_repository_is_refused_saying_what_to_write(repo: str, message: str) -> None:
    with pytest.raises(BootstrapError, match=message) as error:
        make(github_repo=repo)
    assert "ORG/REPO" in str(error.value)


@pytest.mark.parametrize("environment", [
    "", " iam", "iam ", "iam*", "iam?", "iam:x", "${aws:username}", "a/b", "x" * 256, "prod\n"])
def test_a_bad_environment_is_refused(environment: str) -> None:
    with pytest.raises(BootstrapError, match="environment"):
        make(environment=environment)


@pytest.mark.parametrize("branch", [
    "", "refs/heads/main", "*", "release/*", "a..b", "/main", "main/", "-main", "x.lock",
    "a//b", "ma in"])
def test_a_bad_branch_is_refused(branch: str) -> None:
    with pytest.raises(BootstrapError, match="branch"):
        make(branch=branch)


@pytest.mark.parametrize(("overrides", "message"), [
    ({"plan_actions": [*PLAN_ACTIONS, "iam:CreateUser", "iam:TagUser"]},
     "plan_actions: iam:CreateUser, iam:TagUser can change the account"),
    ({"plan_actions": ["iam:List*"]}, "wildcard"),
    ({"apply_actions": ["iam:*"]}, "wildcard"),
    ({"apply_actions": ["iam:CreateUsr"]}, "did you mean iam:CreateUser"),
    ({"apply_actions": ["iamm:CreateUser"]}, "unknown service"),
    ({"apply_actions": "iam:CreateUser"}, "not one string"),
    ({"plan_actions": []}, "plan_actions: no actions"),
])
def test_bad_actions_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(BootstrapError, match=re.escape(message)):
        make(**overrides)


# -- the action lists follow the code ----------------------------------------------------------

IAM_OPERATIONS = {xform_name(name): name for name in
                  botocore.session.get_session().get_service_model("iam").operation_names}


def iam_calls(paths: Iterable[Path]) -> set[str]:
    """IAM operations named in the source: `client.op(`, `call("op"`, `get_paginator("op")`."""
    found: set[str] = set()
    for path in paths:
        text = path.read_text(encoding="utf-8")
        names = set(re.findall(r'"([a-z][a-z_]+)"', text)) | set(
            re.findall(r"\.([a-z][a-z_]+)\(", text))
        found |= {f"iam:{IAM_OPERATIONS[n]}" for n in names if n in IAM_OPERATIONS}
    return found


READERS = frozenset({"live.py", "audit.py", "importer.py", "aws.py"})


def test_the_declared_actions_cover_every_iam_call_in_the_source() -> None:
    """A second line behind the apply client's own refusal of undeclared actions: the
    source names no IAM operation that neither the reader nor a kind declares, the reader
    modules only what the plan role has, and each kind's module only what it declares."""
    from iamstate.plan.kinds import KINDS

    sources = sorted((ROOT / "iamstate").rglob("*.py"))
    declared = set(PLAN_ACTIONS) | set(APPLY_ACTIONS)
    everything = iam_calls(sources)
    assert not everything - declared, sorted(everything - declared)
    reading = iam_calls(p for p in sources if p.name in READERS)
    assert not reading - set(PLAN_ACTIONS), sorted(reading - set(PLAN_ACTIONS))
    for kind in KINDS.values():
        module = ROOT / (type(kind).__module__.replace(".", "/") + ".py")
        own = {a for k in KINDS.values() if type(k).__module__ == type(kind).__module__
               for a in k.actions}
        called = iam_calls([module])
        assert not called - own, (kind.name, sorted(called - own))


# -- cfn-lint ----------------------------------------------------------------------------------

def cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    assert CFN_LINT, "cfn-lint is a dev dependency"
    return subprocess.run([CFN_LINT, "--regions", "us-east-1", "--", str(path)],
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_cfn_lint_accepts_the_template(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"iamstate.{fmt}"
    path.write_text(render(make(), fmt), encoding="utf-8")  # type: ignore[arg-type]
    done = cfn_lint(path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_cfn_lint_catches_a_broken_template(tmp_path: Path) -> None:
    document = make()
    document["Resources"]["PlanRole"]["Properties"]["AssumeRolePolicyDocument"][
        "Statement"][0]["Effect"] = "Alow"
    path = tmp_path / "broken.json"
    path.write_text(render(document, "json"), encoding="utf-8")
    assert cfn_lint(path).returncode != 0


PR = "refs/pull/7/merge"
MAIN = "refs/heads/main"
AUD = "sts.amazonaws.com"
ENV = "repo:octo-org/iam:environment:iam-production"
# (what, principal, sub, aud, ref, plan role, apply role); None leaves the claim out
TOKENS: list[tuple[str, str, str | None, str | None, str | None, str, str]] = [
    ("pull request", PROVIDER, "repo:octo-org/iam:pull_request", AUD, PR, ALLOW, NONE),
    ("push to main", PROVIDER, "repo:octo-org/iam:ref:refs/heads/main", AUD, MAIN, ALLOW, NONE),
    ("branch", PROVIDER, "repo:octo-org/iam:ref:refs/heads/feature/x", AUD,
     "refs/heads/feature/x", ALLOW, NONE),
    ("merge queue", PROVIDER, "repo:octo-org/iam:ref:refs/heads/gh-readonly-queue/main/pr-7-a1",
     AUD, "refs/heads/gh-readonly-queue/main/pr-7-a1", ALLOW, NONE),
    ("apply job: environment on main", PROVIDER, ENV, AUD, MAIN, NONE, ALLOW),
    ("PR workflow naming the environment", PROVIDER, ENV, AUD, PR, NONE, NONE),
    ("environment on another branch", PROVIDER, ENV, AUD, "refs/heads/feature/x", NONE, NONE),
    ("environment, ref main-evil", PROVIDER, ENV, AUD, "refs/heads/main-evil", NONE, NONE),
    ("environment, no ref claim", PROVIDER, ENV, AUD, None, NONE, NONE),
    ("another environment", PROVIDER, "repo:octo-org/iam:environment:staging", AUD, MAIN,
     NONE, NONE),
    ("environment name prefix", PROVIDER, ENV + "-evil", AUD, MAIN, NONE, NONE),
    ("tag", PROVIDER, "repo:octo-org/iam:ref:refs/tags/v1", AUD, "refs/tags/v1", NONE, NONE),
    ("other repository PR", PROVIDER, "repo:octo-org/other:pull_request", AUD, PR, NONE, NONE),
    ("other repository environment", PROVIDER, "repo:octo-org/other:environment:iam-production",
     AUD, MAIN, NONE, NONE),
    ("other owner, same name", PROVIDER, "repo:evil-org/iam:pull_request", AUD, PR, NONE, NONE),
    ("fork-like subject", PROVIDER, "repo:forker/iam:ref:refs/heads/main", AUD, MAIN, NONE, NONE),
    ("prefix trick PR", PROVIDER, "repo:octo-org/iam-evil:pull_request", AUD, PR, NONE, NONE),
    ("prefix trick branch", PROVIDER, "repo:octo-org/iam-evil:ref:refs/heads/main", AUD, MAIN,
     NONE, NONE),
    ("prefix trick environment", PROVIDER, "repo:octo-org/iam-evil:environment:iam-production",
     AUD, MAIN, NONE, NONE),
    ("suffix trick", PROVIDER, "repo:octo-org/iam:pull_request-evil", AUD, PR, NONE, NONE),
    ("other casing", PROVIDER, "repo:Octo-Org/IAM:pull_request", AUD, PR, NONE, NONE),
    ("wrong audience, PR", PROVIDER, "repo:octo-org/iam:pull_request", "https://github.com/octo",
     PR, NONE, NONE),
    ("wrong audience, environment", PROVIDER, ENV, "https://github.com/octo", MAIN, NONE, NONE),
    ("no audience", PROVIDER, ENV, None, MAIN, NONE, NONE),
    ("no subject", PROVIDER, None, AUD, MAIN, NONE, NONE),
    ("another provider", f"{IAM}:oidc-provider/gitlab.com", ENV, AUD, MAIN, NONE, NONE),
    ("another account's provider",
     f"arn:aws:iam::999999999999:oidc-provider/{GITHUB_OIDC_HOST}", ENV, AUD, MAIN, NONE, NONE),
]


@needs_node
def test_only_the_environment_on_main_can_assume_the_apply_role() -> None:
    document = make()
    roles = {"plan": role(document, "PlanRole"), "apply": role(document, "ApplyRole")}
    cases: list[dict[str, Any]] = []
    for _, principal, sub, aud, ref, _, _ in TOKENS:
        claims = {"sub": sub, "aud": aud, "ref": ref}
        context = {f"{GITHUB_OIDC_HOST}:{k}": v for k, v in claims.items() if v is not None}
        for properties in roles.values():
            cases.append({"trust": properties["AssumeRolePolicyDocument"], "principal": principal,
                          "role": f"{IAM}:role/{properties['RoleName']}",
                          "account": ACCOUNT_ID, "context": context})
    decisions = simulate(cases, "trust.mjs")
    wrong = []
    for index, (what, _, sub, aud, ref, plan, apply) in enumerate(TOKENS):
        got = decisions[2 * index: 2 * index + 2]
        if got != [plan, apply]:
            wrong.append(f"{what} ({sub}, aud {aud}, ref {ref}): plan {got[0]}, "
                         f"apply {got[1]}; expected plan {plan}, apply {apply}")
    assert not wrong, "\n".join(wrong)


def sample_resource(action: str) -> str:
    """A concrete ARN of the first resource type AWS documents for the action."""
    pattern = resources_for(action)[0]
    if pattern == "*":
        return "*"
    arn = pattern.replace("${AWS::Partition}", PARTITION).replace("${AWS::AccountId}", ACCOUNT_ID)
    return arn.replace("*", "sample")


def mutating(actions: Iterable[str]) -> list[str]:
    return sorted(a for a in actions if not is_read_only(a))


@needs_node
def test_the_plan_role_can_read_but_change_nothing_and_the_apply_role_can_apply() -> None:
    document = make()
    policies = {name: [{"name": "iamstate",
                        "policy": role(document, key)["Policies"][0]["PolicyDocument"]}]
                for name, key in (("plan", "PlanRole"), ("apply", "ApplyRole"))}
    writes = mutating(APPLY_ACTIONS)
    assert len(writes) > 25 and "iam:CreateUser" in writes
    protected = [f"{IAM}:role/iamstate-plan", f"{IAM}:role/iamstate-apply", PROVIDER]
    # (who, action, resource, expected)
    table: list[tuple[str, str, str, str]] = [
        *[("plan", a, sample_resource(a), ALLOW) for a in PLAN_ACTIONS],
        *[("plan", a, sample_resource(a), NONE) for a in writes],
        *[("apply", a, sample_resource(a), ALLOW) for a in sorted({*PLAN_ACTIONS,
                                                                    *APPLY_ACTIONS})],
        # AWS managed policies' documents (a group's, a user's or a role's): plan reads them
        *[("plan", a, "arn:aws:iam::aws:policy/AdministratorAccess", ALLOW)
          for a in ("iam:GetPolicy", "iam:GetPolicyVersion")],
        ("plan", "iam:CreatePolicyVersion", "arn:aws:iam::aws:policy/AdministratorAccess",
         NONE),
        # never needed by iamstate, so never granted
        *[(who, a, f"{IAM}:user/sample", NONE) for who in ("plan", "apply")
          for a in ("iam:CreateAccessKey", "iam:PutUserPolicy", "iam:UpdateLoginProfile")],
        ("apply", "iam:CreateRole", f"{IAM}:role/sample", NONE),
        ("apply", "iam:UpdateAssumeRolePolicy", f"{IAM}:role/sample", NONE),
        # the trust boundary itself: explicitly denied to both
        *[(who, a, r, DENY) for who in ("plan", "apply") for r in protected[:2] for a in (
            "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PutRolePolicy",
            "iam:UpdateAssumeRolePolicy", "iam:DeleteRole", "iam:GetRole")],
        *[(who, a, protected[2], DENY) for who in ("plan", "apply") for a in (
            "iam:DeleteOpenIDConnectProvider", "iam:AddClientIDToOpenIDConnectProvider",
            "iam:UpdateOpenIDConnectProviderThumbprint")],
    ]
    cases = [{"principal": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/iamstate-{who}/gh",
              "action": action, "resource": resource, "account": ACCOUNT_ID,
              "context": {"iam:PolicyARN": OWN_POLICY} if action in ATTACH else {},
              "policies": policies[who]} for who, action, resource, _ in table]
    decisions = simulate(cases)
    wrong = [f"{who:5} {action:40} {resource:55} {got} (expected {expected})"
             for (who, action, resource, expected), got in zip(table, decisions, strict=True)
             if got != expected]
    assert not wrong, "\n".join(wrong)


OWN_POLICY = f"{IAM}:policy/teams/data-read"
ATTACH = ("iam:AttachUserPolicy", "iam:AttachRolePolicy")


@needs_node
def test_the_apply_role_attaches_to_users_and_roles_only_the_accounts_own_policies() -> None:
    """So the apply role cannot hand out AdministratorAccess (or any AWS managed or other
    account's policy) to a role or a user; groups keep AWS managed policies (ReadOnlyAccess)."""
    apply_policy = role(make(), "ApplyRole")["Policies"][0]["PolicyDocument"]
    table = [  # (action, target, policy attached, expected)
        *[(action, target, policy, expected)
          for action, target in ((ATTACH[0], f"{IAM}:user/sample"),
                                 (ATTACH[1], f"{IAM}:role/sample"))
          for policy, expected in (
              (OWN_POLICY, ALLOW), (f"{IAM}:policy/p", ALLOW),
              ("arn:aws:iam::aws:policy/AdministratorAccess", NONE),
              ("arn:aws:iam::aws:policy/ReadOnlyAccess", NONE),
              ("arn:aws:iam::999999999999:policy/p", NONE), (None, NONE))],
        ("iam:AttachGroupPolicy", f"{IAM}:group/sample",
         "arn:aws:iam::aws:policy/ReadOnlyAccess", ALLOW),
        *[("iam:PutUserPolicy", f"{IAM}:user/sample", None, NONE)],
    ]
    cases = [{"principal": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/iamstate-apply/gh",
              "action": action, "resource": target, "account": ACCOUNT_ID,
              "context": {"iam:PolicyARN": policy} if policy else {},
              "policies": [{"name": "iamstate", "policy": apply_policy}]}
             for action, target, policy, _ in table]
    decisions = simulate(cases)
    wrong = [f"{action} {target} {policy}: {got} (expected {expected})"
             for (action, target, policy, expected), got in zip(table, decisions, strict=True)
             if got != expected]
    assert not wrong, "\n".join(wrong)
