"""Users as AWS has them: GAAD's entries, the credential report's hint of a console
password (asked exactly where a change would follow from it), and, for a user about to be
deleted, everything its teardown removes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from iamstate.aws.answers import error_code
from iamstate.entities.base import Reading, entity_of
from iamstate.entities.group.model import Group
from iamstate.entities.io import document_from_aws
from iamstate.entities.user.model import Credentials, User
from iamstate.model.account import Ignore, ignored

if TYPE_CHECKING:
    from iamstate.aws.session import Connection


def read_users(ctx: Reading) -> Mapping[str, User]:
    """Managed users; ignored ones (by name or path) go to `outside`, still targets for the
    analysis (an ignored administrator can be taken over), and so do the memberships
    managed users hold in ignored groups."""
    ignore = ctx.config.ignore
    groups: Mapping[str, Group] = ctx.read(Group)
    ignored_groups: Mapping[str, Group] = ctx.outside.get("groups", {})
    report = ctx.report()
    wanted_by_name = {name.lower(): user for name, user in ctx.desired.users.items()}
    users: dict[str, User] = {}
    outside_users: dict[str, User] = {}
    memberships: dict[str, frozenset[str]] = {}
    for raw in ctx.gaad(entity_of(User)):
        name = raw["UserName"]
        if ignored(name, ignore.users) or ignore.under_path(raw.get("Path", "/")):
            outside_users[name] = user_from_aws(raw, {*groups, *ignored_groups},
                                                bool(report.get(name)), Credentials(), ignore)
            continue
        if held := frozenset(g for g in raw.get("GroupList", []) if g in ignored_groups):
            memberships[name] = held
        wanted = wanted_by_name.get(name.lower())
        hint = report.get(name)
        if wanted is None and ctx.teardowns:
            credentials = read_credentials(ctx.conn, name, raw)
            has_password = credentials.login_profile
        else:
            credentials = Credentials()
            if hint is not None and (wanted is None or hint == wanted.console_access):
                has_password = hint
            else:  # a change would follow from the hint, or there is none: ask exactly
                has_password = has_login_profile(ctx.conn.iam, name)
        users[name] = user_from_aws(raw, set(groups), has_password, credentials, ignore)
    ctx.outside["users"] = outside_users
    ctx.outside["memberships"] = memberships
    return users


def user_from_aws(raw: Any, known_groups: set[str], has_password: bool, creds: Credentials,
                  ignore: Ignore) -> User:
    return User(
        name=raw["UserName"],
        path=raw.get("Path", "/"),
        # Memberships in ignored groups are not ours to manage.
        groups=frozenset(g for g in raw.get("GroupList", []) if g in known_groups),
        tags=tuple(sorted((t["Key"], t["Value"]) for t in raw.get("Tags", []))),
        console_access=has_password,
        inline_policies=tuple(sorted(
            (p["PolicyName"], document_from_aws(p["PolicyDocument"]))
            for p in raw.get("UserPolicyList", []))),
        attached_policies=frozenset(
            p["PolicyArn"] for p in raw.get("AttachedManagedPolicies", [])),
        credentials=creds,
        # Memberships of ignored groups are not in `groups`, but a teardown would end them.
        protected=tuple(sorted(f"ignored group {g}" for g in raw.get("GroupList", [])
                               if g not in known_groups)),
    )


def has_login_profile(iam: Any, user: str) -> bool:
    from botocore.exceptions import ClientError  # only where AWS is called

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
