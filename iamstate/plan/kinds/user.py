"""Users: created, renamed or moved in place (UpdateUser keeps credentials and
memberships), re-tagged, and deleted with the full teardown AWS requires. A user who holds
an ignored resource (a membership of an ignored group, an ignored policy) is kept: the
teardown would change it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from iamstate.model.changes import Change, Create, Delete, Update
from iamstate.model.entities import User, iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext, register


@register
class UserKind(Kind[User]):
    name = "user"
    label = "user"
    model = User
    # SPEC §4 order: users come once their groups are complete.
    after = ("group_policy", "group_attachment")
    counts_as_deletion = True
    actions = frozenset({
        "iam:CreateUser", "iam:UpdateUser", "iam:TagUser", "iam:UntagUser", "iam:DeleteUser",
        "iam:DeleteLoginProfile", "iam:DeleteAccessKey", "iam:DeleteSigningCertificate",
        "iam:DeleteSSHPublicKey", "iam:DeleteServiceSpecificCredential",
        "iam:DeactivateMFADevice", "iam:DeleteVirtualMFADevice", "iam:DeleteUserPolicy",
        "iam:DetachUserPolicy", "iam:RemoveUserFromGroup",
        "iam:DeleteUserPermissionsBoundary"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.users):
            have = ctx.live.users.get(want.name)
            old_name = ctx.renamed_users.get(want.name, want.name)
            if have is None:
                changes.append(Create(want))
            elif (want.path, want.tags, want.name) != (have.path, have.tags, old_name):
                changes.append(Update(dataclasses.replace(have, name=old_name), want))
        return changes + self.remove_undeclared(ctx, ctx.live.users, ctx.desired.users,
                                                lambda have: _held(ctx, have))

    def why(self, change: Change) -> str:
        user: User = change.subject
        return f"expired {user.expires}" if isinstance(change, Delete) and user.expires else ""

    def describe(self, change: Change) -> list[str]:
        if isinstance(change, Create):
            user = change.after
            lines = [f"path: {user.path}"] if user.path != "/" else []
            return lines + [f"tag {k} = {v}" for k, v in user.tags]
        if isinstance(change, Update):
            before, after = change.before, change.after
            lines = [f"renamed: {before.name} -> {after.name} (credentials and memberships "
                     "kept)"] if before.name != after.name else []
            if before.path != after.path:
                lines.append(f"path: {before.path} -> {after.path}")
            old, new = dict(before.tags), dict(after.tags)
            lines += [f"tag {k} = {v}" for k, v in new.items() if old.get(k) != v]
            lines += [f"tag {k} removed" for k in sorted(set(old) - set(new))]
            return lines
        if isinstance(change, Delete):
            removes = teardown(change.before)
            return ["teardown removes: " + (", ".join(removes) if removes else "nothing else")]
        return []

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        if isinstance(change, Create):
            user = change.after
            params: dict[str, Any] = {"UserName": user.name, "Path": user.path}
            if user.tags:
                params["Tags"] = _tags(dict(user.tags))
            ctx.iam.call("create_user", **params)
            ctx.iam.created_now(user.name)
        elif isinstance(change, Update):
            _update(ctx, change.before, change.after)
        elif isinstance(change, Delete):
            _tear_down(ctx, change.before)


def _held(ctx: PlanContext, user: User) -> str | None:
    """Why tearing the user down would change an ignored resource, if it would."""
    held = [*user.protected, *(f"ignored policy {arn}" for arn in
                               sorted(user.attached_policies) if ctx.ignored_policy(arn))]
    return (f"deleting it would change {', '.join(held)}: declare the user, or ignore it"
            if held else None)


def teardown(user: User) -> list[str]:
    """What deleting this user removes, in the order AWS requires."""
    removes = user.credentials.describe()
    if user.console_access and "login profile" not in removes:
        removes.insert(0, "login profile")
    removes += [f"inline policy {name}" for name, _ in user.inline_policies]
    removes += [f"attached policy {arn}" for arn in sorted(user.attached_policies)]
    removes += [f"membership of {group}" for group in sorted(user.groups)]
    return removes


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _update(ctx: ApplyContext, before: User, after: User) -> None:
    iam = ctx.iam
    old, new = dict(before.tags), dict(after.tags)
    to_set = {k: v for k, v in new.items() if old.get(k) != v}
    moved = {}
    if before.name != after.name:
        moved["NewUserName"] = after.name
    if before.path != after.path:
        moved["NewPath"] = after.path
    if moved:
        iam.call("update_user", UserName=before.name, **moved)
        iam.created_now(after.name)
        # AWS keeps tags on a rename or move (re-sending them is a no-op there); moto, the
        # sandbox, drops them: send every desired tag again.
        to_set = new
    removed = sorted(set(old) - set(new))
    if removed:
        iam.call("untag_user", fresh=[after.name], UserName=after.name, TagKeys=removed)
    if to_set:
        iam.call("tag_user", fresh=[after.name], UserName=after.name, Tags=_tags(to_set))


def _tear_down(ctx: ApplyContext, user: User) -> None:
    """What the plan listed goes, in the order AWS requires; anything made since makes AWS
    answer DeleteConflict, and apply stops instead of removing what nobody reviewed."""
    iam, name, creds = ctx.iam, user.name, user.credentials
    if creds.login_profile or user.console_access:
        iam.gone("delete_login_profile", UserName=name)
    for key in creds.access_keys:
        iam.gone("delete_access_key", UserName=name, AccessKeyId=key)
    for cert in creds.signing_certificates:
        iam.gone("delete_signing_certificate", UserName=name, CertificateId=cert)
    for ssh in creds.ssh_public_keys:
        iam.gone("delete_ssh_public_key", UserName=name, SSHPublicKeyId=ssh)
    for cred in creds.service_credentials:
        iam.gone("delete_service_specific_credential", UserName=name,
                 ServiceSpecificCredentialId=cred)
    for serial in creds.mfa_devices:
        iam.gone("deactivate_mfa_device", UserName=name, SerialNumber=serial)
        if ":mfa/" in serial:  # a virtual device: delete it too, or it lingers
            iam.gone("delete_virtual_mfa_device", SerialNumber=serial)
    for policy, _ in user.inline_policies:
        iam.gone("delete_user_policy", UserName=name, PolicyName=policy)
    for arn in sorted(user.attached_policies):
        iam.gone("detach_user_policy", UserName=name, PolicyArn=arn)
    for group in sorted(user.groups):
        iam.gone("remove_user_from_group", UserName=name, GroupName=group)
    if creds.permissions_boundary:
        iam.gone("delete_user_permissions_boundary", UserName=name)
    iam.gone("delete_user", UserName=name)
