"""AWS -> the model. Reads in bulk so the cost grows with account size / 1,000, not users.

Sources: GetAccountAuthorizationDetails (users, groups, customer managed policies, in pages
of 1,000), the password policy, and the credential report for login profiles. The report can
be up to 4 hours old on AWS, so it is only a hint: wherever it disagrees with the repository
(a change would be planned) or lacks a user, GetLoginProfile gives the exact answer. Users and
policies about to be deleted are read exactly too, so the plan lists what their teardown
removes. Everything per-resource is therefore bounded by the size of the change.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError

from iamstate.aws import client
from iamstate.aws.session import Connection, error_code
from iamstate.errors import AwsError, Problem
from iamstate.model.arn import is_aws_managed
from iamstate.model.arn import parse as parse_arn
from iamstate.model.entities import (
    AccountConfig,
    Credentials,
    Group,
    Ignore,
    ManagedPolicy,
    Outside,
    PasswordPolicy,
    Role,
    State,
    User,
    ignored,
)
from iamstate.repository.policy import PolicyDocument

# Every IAM action reading an account calls: the read-only plan role grants exactly these
# (tests record the calls of plan, audit and import and check them against this list).
READ_ACTIONS = frozenset({
    "iam:GetAccountAuthorizationDetails", "iam:GetAccountPasswordPolicy",
    "iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetLoginProfile",
    "iam:ListAccessKeys", "iam:ListSigningCertificates", "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials", "iam:ListMFADevices", "iam:ListEntitiesForPolicy",
    "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicies",
    # `iamstate unused`: the groups' ARNs and their last-accessed data
    "iam:ListGroups", "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetailsWithEntities",
    # the CIS audit's account-wide reads (cis.py)
    "iam:GetAccountSummary", "iam:ListVirtualMFADevices", "iam:ListServerCertificates",
    "iam:ListOrganizationsFeatures",
})
PAGE_SIZE = 1000
PROTECTED_PATHS = ("/aws-service-role/", "/service-role/")
REPORT_WAIT_SECONDS = 60.0


def read_live(
    conn: Connection, config: AccountConfig, desired: State, teardowns: bool = True,
    report: list[dict[str, str]] | None = None,
) -> State:
    """Live state of the account, restricted to what iamstate manages (ignores applied).
    `teardowns=False` skips the exact credential listing of undeclared users (import);
    `report` is the credential report when the caller has read it already (audit)."""
    try:
        return _read(conn, config, desired, teardowns, report)
    except ClientError as error:
        raise AwsError(f"account {config.name}: reading IAM failed: {error}") from None
    except BotoCoreError as error:
        raise AwsError(f"account {config.name}: cannot reach AWS: {error}") from None


def _read(
    conn: Connection, config: AccountConfig, desired: State, teardowns: bool,
    report_rows: list[dict[str, str]] | None,
) -> State:
    users_raw, groups_raw, policies_raw, roles_raw = _authorization_details(conn.iam)
    ignore = config.ignore
    _refuse_hidden_declarations(config, desired, users_raw, groups_raw)
    members: dict[str, list[str]] = {}
    for raw in users_raw:  # ignored users included: a group's deletion would remove them
        for group in raw.get("GroupList", []):
            members.setdefault(group, []).append(raw["UserName"])
    groups = {
        g["GroupName"]: _group(g, members.get(g["GroupName"], []))
        for g in groups_raw if not _ignored_group(g, ignore)
    }
    ignored_groups = {  # never planned, but what they grant is their members' (analysis)
        g["GroupName"]: _group(g, members.get(g["GroupName"], []))
        for g in groups_raw if _ignored_group(g, ignore)
    }
    policies = {}
    for raw in policies_raw:
        policy = _policy(raw)
        if policy is not None and not ignored(policy.name, ignore.policies):
            policies[policy.name] = policy
    report = _password_enabled(
        credential_report(conn.iam) if report_rows is None else report_rows)
    wanted_by_name = {name.lower(): user for name, user in desired.users.items()}
    users = {}
    outside_users: dict[str, User] = {}
    memberships: dict[str, frozenset[str]] = {}
    for raw in users_raw:
        name = raw["UserName"]
        if ignored(name, ignore.users) or ignore.under_path(raw.get("Path", "/")):
            # Never planned, but a target all the same (an ignored administrator can be
            # taken over): read for the analysis from what GAAD and the report say.
            outside_users[name] = _user(raw, {*groups, *ignored_groups},
                                        bool(report.get(name)), Credentials(), ignore)
            continue
        if held := frozenset(g for g in raw.get("GroupList", []) if g in ignored_groups):
            memberships[name] = held
        wanted = wanted_by_name.get(name.lower())
        hint = report.get(name)
        if wanted is None and teardowns:
            credentials = read_credentials(conn, name, raw)
            has_password = credentials.login_profile
        else:
            credentials = Credentials()
            if hint is not None and (wanted is None or hint == wanted.console_access):
                has_password = hint
            else:  # a change would follow from the hint, or there is none: ask exactly
                has_password = has_login_profile(conn.iam, name)
        users[name] = _user(raw, set(groups), has_password, credentials, ignore)
    for name, policy in policies.items():
        want = desired.policies.get(name)
        if want is None or (want.path, want.description) != (policy.path, policy.description):
            # To be deleted or replaced: what uses it decides whether that may happen.
            policies[name] = _with_usage(conn, config, policy)
    roles = {r.name: r for r in map(_role, roles_raw) if r is not None}
    return State(users, groups, policies, password_policy(conn.iam),
                 Outside(roles, outside_users, ignored_groups, memberships))


def _authorization_details(iam: Any) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    users: list[Any] = []
    groups: list[Any] = []
    policies: list[Any] = []
    roles: list[Any] = []
    # Always follow IsTruncated/Marker: GAAD may return fewer than MaxItems in a page.
    # Roles are read for the analysis only (assuming or passing one carries its power).
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group", "LocalManagedPolicy", "Role"],
        PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        users.extend(page.get("UserDetailList", []))
        groups.extend(page.get("GroupDetailList", []))
        policies.extend(page.get("Policies", []))
        roles.extend(page.get("RoleDetailList", []))
    return users, groups, policies, roles


def _role(raw: Any) -> Role | None:
    """A role as the analysis reads it; service-linked roles are left out (only their
    service can use them: nobody assumes or passes one)."""
    path = raw.get("Path", "/")
    if path.startswith(PROTECTED_PATHS[0]):
        return None
    trust = raw.get("AssumeRolePolicyDocument")
    return Role(
        name=raw["RoleName"], path=path,
        trust=_document(trust) if trust else None,
        inline_policies=tuple(sorted(
            (p["PolicyName"], _document(p["PolicyDocument"]))
            for p in raw.get("RolePolicyList", []))),
        attached_policies=frozenset(
            p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])))


def _document(raw: Any) -> PolicyDocument:
    if isinstance(raw, str):  # boto3 decodes these; be safe with a raw URL-encoded string
        raw = json.loads(unquote(raw))
    return PolicyDocument(raw)


def _user(raw: Any, known_groups: set[str], has_password: bool, creds: Credentials,
          ignore: Ignore) -> User:
    return User(
        name=raw["UserName"],
        path=raw.get("Path", "/"),
        # Memberships in ignored groups are not ours to manage.
        groups=frozenset(g for g in raw.get("GroupList", []) if g in known_groups),
        tags=tuple(sorted((t["Key"], t["Value"]) for t in raw.get("Tags", []))),
        console_access=has_password,
        inline_policies=tuple(sorted(
            (p["PolicyName"], _document(p["PolicyDocument"]))
            for p in raw.get("UserPolicyList", []))),
        attached_policies=frozenset(
            p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])),
        credentials=creds,
        # Memberships of ignored groups are not in `groups`, but a teardown would end them.
        protected=tuple(sorted(f"ignored group {g}" for g in raw.get("GroupList", [])
                               if g not in known_groups)),
    )


def _refuse_hidden_declarations(config: AccountConfig, desired: State, users_raw: list[Any],
                                groups_raw: list[Any]) -> None:
    """A declared user or group that IAM keeps under an ignored path: the plan would not see
    it and would create it again (refused by AWS halfway through an apply). Say so first."""
    found = []
    for kind, raws, declared, key in (("user", users_raw, desired.users, "UserName"),
                                      ("group", groups_raw, desired.groups, "GroupName")):
        names = {name.lower(): name for name in declared}
        for raw in raws:
            name = names.get(raw[key].lower())
            under = config.ignore.under_path(raw.get("Path", "/"))
            if name is not None and under is not None:
                found.append(f"{kind} {name} is declared, but IAM keeps {raw[key]} under "
                             f"{raw.get('Path')}, which ignore.paths hides ({under}): move "
                             "it in IAM, or remove the declaration")
    if found:
        raise AwsError(f"account {config.name}: " + "; ".join(found))


def _ignored_group(raw: Any, ignore: Ignore) -> bool:
    """By name, or by the IAM path it lives under (`ignore.paths`)."""
    return ignored(raw["GroupName"], ignore.groups) or ignore.under_path(
        raw.get("Path", "/")) is not None


def _group(raw: Any, members: list[str]) -> Group:
    return Group(
        name=raw["GroupName"],
        path=raw.get("Path", "/"),
        inline_policies=tuple(sorted(
            (p["PolicyName"], _document(p["PolicyDocument"]))
            for p in raw.get("GroupPolicyList", []))),
        managed_policies=frozenset(
            p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])),
        members=tuple(sorted(members)),
    )


def _policy(raw: Any) -> ManagedPolicy | None:
    # moto leaves PolicyName out of GAAD: derive name and path from the ARN.
    parts = parse_arn(raw["Arn"])
    if parts is None:
        return None
    path, name = parts.path, parts.name
    if path.startswith(PROTECTED_PATHS):
        return None
    versions = raw.get("PolicyVersionList", [])
    default = next((v for v in versions if v.get("IsDefaultVersion")), None)
    if default is None:
        return None
    old = [v for v in versions if not v.get("IsDefaultVersion")]
    old.sort(key=lambda v: (v.get("CreateDate") or 0, _version_number(v["VersionId"])))
    return ManagedPolicy(
        name=name, path=path, description=raw.get("Description", "") or "",
        document=_document(default["Document"]),
        old_versions=tuple(v["VersionId"] for v in old),
    )


def _version_number(version_id: str) -> int:
    return int(version_id.lstrip("v") or 0)


def _with_usage(conn: Connection, config: AccountConfig, policy: ManagedPolicy) -> ManagedPolicy:
    """What uses a policy about to be deleted or replaced: every entity that has it as a
    permissions policy (roles included: not iamstate's, so never left without it) and, apart,
    what uses it as a permissions boundary (that must never be removed). Without
    PolicyUsageFilter, ListEntitiesForPolicy mixes the two."""
    arn = config.policy_arn(policy.path, policy.name)
    attached = policy_entities(conn.iam, arn, "PermissionsPolicy")
    # moto ignores PolicyUsageFilter (it answers the attachments) and knows no boundaries:
    # against the sandbox, none exist; on AWS the call is made and answered exactly.
    boundary_of = () if conn.emulated else policy_entities(conn.iam, arn, "PermissionsBoundary")
    return dataclasses.replace(policy, attached=attached, boundary_of=boundary_of)


def policy_entities(iam: Any, arn: str, usage: str) -> tuple[str, ...]:
    return client.policy_entities(iam.get_paginator("list_entities_for_policy").paginate(
        PolicyArn=arn, PolicyUsageFilter=usage))


def _outside_arns(config: AccountConfig, desired: State, live: State
                  ) -> dict[str, Group | None]:
    """Managed policy ARNs the plan's states use that are not among the customer managed
    policies iamstate reads (AWS managed ones, and ignored ones a group may still use),
    each with a group that newly attaches it (to blame if it does not exist), or None
    where something attaches it already (it exists)."""
    known = {config.policy_arn(p.path, p.name)
             for state in (desired, live) for p in state.policies.values()}
    used: dict[str, Group | None] = {}
    for wanting in desired.groups.values():
        for arn in wanting.managed_policies - known:  # declared ones the plan creates
            used.setdefault(arn, wanting)
    outside = live.outside
    attached = [*(g.managed_policies for g in live.groups.values()),
                *(u.attached_policies for u in live.users.values()),
                *(u.attached_policies for u in outside.users.values()),
                *(g.managed_policies for g in outside.groups.values()),
                *(r.attached_policies for r in (outside.roles or {}).values())]
    for arn in (a for arns in attached for a in arns if a not in known):
        used[arn] = None
    return used


def missing_managed_policies(conn: Connection, config: AccountConfig, desired: State,
                             live: State) -> list[Problem]:
    """A file:line problem for each managed policy the repository newly attaches that does
    not exist (a misspelt `ReadOnlyAcess`), found before anything changes: one GetPolicy
    per ARN that nothing attaches yet, none when the account is in sync."""
    problems: list[Problem] = []
    for arn, group in sorted(_outside_arns(config, desired, live).items()):
        if group is None or _get_policy(conn, arn) is not None:
            continue
        where = group.source
        problems.append(Problem(where.file if where else Path("."), where.line if where else 0, (
            f"group {group.name}: managed policy {arn} does not exist in AWS"
            f"{_did_you_mean(conn, arn)}: fix the ARN")))
    return problems


def outside_documents(conn: Connection, config: AccountConfig, desired: State,
                      live: State) -> dict[str, Any]:
    """The documents of the managed policies in `_outside_arns` that exist: what their
    holders can do is part of what a plan means (and what an audit finds). Two calls per
    distinct ARN, so a plan asks only when it has changes to explain."""
    documents: dict[str, Any] = {}
    for arn in sorted(_outside_arns(config, desired, live)):
        policy = _get_policy(conn, arn)
        if policy is None:
            continue
        version = conn.iam.get_policy_version(PolicyArn=arn,
                                              VersionId=policy["DefaultVersionId"])
        documents[arn] = _document(version["PolicyVersion"]["Document"]).document
    return documents


def _get_policy(conn: Connection, arn: str) -> dict[str, Any] | None:
    try:
        policy: dict[str, Any] = conn.iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as error:
        if error_code(error) not in ("NoSuchEntity", "InvalidInput"):
            raise
        return None
    return policy


def _did_you_mean(conn: Connection, arn: str) -> str:
    if not is_aws_managed(arn):
        return ""
    pages = conn.iam.get_paginator("list_policies").paginate(Scope="AWS")
    known = {p["Arn"] for page in pages for p in page.get("Policies", [])}
    close = difflib.get_close_matches(arn, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def password_policy(iam: Any) -> PasswordPolicy | None:
    try:
        raw = iam.get_account_password_policy()["PasswordPolicy"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    return PasswordPolicy.from_fields(raw, complete=True)


def credential_report(iam: Any, with_root: bool = False) -> list[dict[str, str]]:
    """The credential report's rows (root's `<root_account>` row only `with_root`: the CIS
    audit's). AWS regenerates it at most every 4 hours, so it may be stale: a hint for
    plans, fine for an audit. [] if unavailable."""
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    delay = 0.05  # often ready at the second ask; then back off
    while True:
        try:
            if iam.generate_credential_report()["State"] == "COMPLETE":
                content = iam.get_credential_report()["Content"]
                break
        except ClientError as error:
            if error_code(error) not in ("ReportInProgress", "ReportNotPresent",
                                         "ReportExpired", "LimitExceeded"):
                raise
        if time.monotonic() > deadline:
            return []
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    text = content.decode() if isinstance(content, bytes) else str(content)
    return [row for row in csv.DictReader(io.StringIO(text))
            if row.get("user") and (with_root or row["user"] != "<root_account>")]


def _password_enabled(rows: list[dict[str, str]]) -> dict[str, bool]:
    """user -> has a console password, from the credential report (a hint: may be stale)."""
    return {row["user"]: row.get("password_enabled") == "true" for row in rows}


def has_login_profile(iam: Any, user: str) -> bool:
    try:
        iam.get_login_profile(UserName=user)
        return True
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise


def read_credentials(conn: Connection, user: str, raw: Any = None) -> Credentials:
    """Exactly what a user holds, for a teardown (one call per credential type); `raw` is
    the user's GAAD entry (its permissions boundary)."""
    iam = conn.iam

    def listed(operation: str, result_key: str, id_key: str) -> tuple[str, ...]:
        pages = iam.get_paginator(operation).paginate(UserName=user)
        return tuple(item[id_key] for page in pages for item in page.get(result_key, []))

    return Credentials(
        login_profile=has_login_profile(iam, user),
        access_keys=listed("list_access_keys", "AccessKeyMetadata", "AccessKeyId"),
        signing_certificates=listed("list_signing_certificates", "Certificates",
                                    "CertificateId"),
        ssh_public_keys=listed("list_ssh_public_keys", "SSHPublicKeys", "SSHPublicKeyId"),
        service_credentials=service_credentials(conn, user),
        mfa_devices=listed("list_mfa_devices", "MFADevices", "SerialNumber"),
        permissions_boundary=((raw or {}).get("PermissionsBoundary") or {}).get(
            "PermissionsBoundaryArn"),
    )


def service_credentials(conn: Connection, user: str) -> tuple[str, ...]:
    if conn.emulated:
        # moto does not implement service-specific credentials (it answers with an HTML
        # error page), so none can exist there. Only against a local endpoint is that safe
        # to assume; on AWS the call is made and its errors are real.
        return ()
    items = conn.iam.list_service_specific_credentials(UserName=user)
    return tuple(c["ServiceSpecificCredentialId"]
                 for c in items.get("ServiceSpecificCredentials", []))
