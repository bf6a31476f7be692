"""The kinds of change that plan users.

- user: created, renamed or moved in place (UpdateUser keeps credentials and memberships),
  re-tagged, and deleted with the full teardown AWS requires. A user who holds an ignored
  resource (a membership of an ignored group, an ignored policy) is kept: the teardown
  would change it.
- login_profile: console passwords. A new one is random, meets the password policy, must
  be changed at first sign-in, and exists only as age ciphertext to the user's
  `public_key`: encrypted and written *before* CreateLoginProfile, and removed again if the
  profile is not created, so no password is ever set that nobody can read, nor a file left
  for one that was never set.
- user_policy, user_attachment: policies written or attached directly on declared users:
  the strategy bans them, so they are only ever removed (an undeclared user's go with its
  teardown). An ignored policy's attachment stays.
- membership: group memberships of declared users; the common groups and the category are
  part of every user's groups already (the loader adds them, see strategy.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from iamstate.aws.answers import error_code
from iamstate.entities.user.model import LoginProfile, Membership, User, UserAttachment, UserPolicy
from iamstate.errors import ApplyFailed
from iamstate.model.changes import Change, Create, Delete, Update
from iamstate.model.quotas import MAX_GROUPS_PER_USER
from iamstate.model.state import iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext
from iamstate.plan.secrets import (
    fingerprint,
    generate_password,
    one_time_password_file,
    write_encrypted,
)
from iamstate.repository.policy import PolicyDocument
from iamstate.repository.strategy import USER_POLICIES_BANNED
from iamstate.wording import count


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
            old_name = ctx.live_name("user", want.name)
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


class LoginProfileKind(Kind[LoginProfile]):
    name = "login_profile"
    label = "login profile"
    model = LoginProfile
    after = ("user",)
    actions = frozenset({"iam:CreateLoginProfile", "iam:DeleteLoginProfile"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.users):
            have = ctx.live.users.get(want.name)
            live = have.console_access if have else False
            if want.console_access and not live:
                if want.public_key is None:
                    ctx.problem(want.source, (
                        f"user {want.name}: console_access needs a login profile to be "
                        "created, and its one-time password must be encrypted to the user: "
                        "add public_key: (age1..., ssh-ed25519 or ssh-rsa)"))
                    continue
                changes.append(Create(LoginProfile(want.name, want.public_key,
                                                   fingerprint(want.public_key))))
            elif live and not want.console_access:
                changes.append(Delete(LoginProfile(want.name)))
        return changes

    def key(self, obj: LoginProfile) -> str:
        return obj.user

    def describe(self, change: Change) -> list[str]:
        if isinstance(change, Create):
            return [f"one-time password encrypted to {change.after.recipient}, to be changed "
                    "at first sign-in"]
        return []

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # only where AWS is called

        profile: LoginProfile = change.subject
        if isinstance(change, Delete):
            ctx.iam.gone("delete_login_profile", UserName=profile.user)
            return
        if profile.public_key is None or fingerprint(profile.public_key) != profile.recipient:
            raise ApplyFailed(f"login profile of {profile.user}: no reviewed recipient for "
                              "its one-time password: nothing created")
        password = generate_password(ctx.password_policy)
        target = one_time_password_file(ctx.out_dir, ctx.config.name, profile.user)
        write_encrypted(password, profile.public_key, target, ctx.root)
        try:
            ctx.iam.call("create_login_profile", fresh=[profile.user], UserName=profile.user,
                         Password=password, PasswordResetRequired=True)
        except ClientError as error:
            target.unlink(missing_ok=True)
            # The credential report can be hours old: a profile it missed may exist already.
            if error_code(error) != "EntityAlreadyExists":
                raise
            ctx.iam.note(f"login profile of {profile.user} already existed: kept")
            return
        except BotoCoreError:
            # No answer (a timeout, say): the profile may exist now, so its password stays.
            ctx.iam.note(f"login profile of {profile.user}: no answer from AWS; if it was "
                         f"created, its one-time password is in {target}")
            raise
        ctx.iam.note(f"one-time password of {profile.user} encrypted to its public_key in "
                     f"{target} (recipient {profile.recipient})")


class UserPolicyKind(Kind[UserPolicy]):
    name = "user_policy"
    label = "user inline policy"
    model = UserPolicy
    after = ("user",)
    actions = frozenset({"iam:DeleteUserPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        if not USER_POLICIES_BANNED:
            return []
        return [Delete(UserPolicy(want.name, name, document))
                for want in iter_sorted(ctx.desired.users)
                if (have := ctx.live.users.get(want.name)) is not None
                for name, document in have.inline_policies]

    def key(self, obj: UserPolicy) -> str:
        return f"{obj.user}/{obj.name}"

    def documents(self, change: Change) -> tuple[PolicyDocument | None, PolicyDocument | None]:
        return change.subject.document, None

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        policy: UserPolicy = change.subject
        ctx.iam.gone("delete_user_policy", UserName=policy.user, PolicyName=policy.name)


class UserAttachmentKind(Kind[UserAttachment]):
    name = "user_attachment"
    label = "user policy attachment"
    model = UserAttachment
    after = ("user",)
    actions = frozenset({"iam:DetachUserPolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        if not USER_POLICIES_BANNED:
            return []
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.users):
            have = ctx.live.users.get(want.name)
            for arn in sorted(have.attached_policies if have else ()):
                if ctx.ignored_policy(arn):
                    ctx.keep(self, f"{want.name} {arn}", "the policy is ignored")
                else:
                    changes.append(Delete(UserAttachment(want.name, arn)))
        return changes

    def key(self, obj: UserAttachment) -> str:
        return f"{obj.user} {obj.arn}"

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        link: UserAttachment = change.subject
        ctx.iam.gone("detach_user_policy", UserName=link.user, PolicyArn=link.arn)


class MembershipKind(Kind[Membership]):
    name = "membership"
    label = "group membership"
    model = Membership
    # A user joins a group only once the group is complete (its policies in place) and the
    # user's login profile exists: SPEC §4 order.
    after = ("login_profile",)
    actions = frozenset({"iam:AddUserToGroup", "iam:RemoveUserFromGroup"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.users):
            have = ctx.live.users.get(want.name)
            live = have.groups if have else frozenset()
            kept = len(have.protected) if have else 0  # memberships of ignored groups stay
            if len(want.groups) + kept > MAX_GROUPS_PER_USER:
                ctx.problem(want.source, (
                    f"user {want.name}: {len(want.groups)} groups here and "
                    f"{count(kept, 'ignored group')} it stays in make more than IAM's "
                    f"{MAX_GROUPS_PER_USER}: merge groups"))
            changes += [Create(Membership(want.name, g)) for g in sorted(want.groups - live)]
            changes += [Delete(Membership(want.name, g)) for g in sorted(live - want.groups)]
        return changes

    def key(self, obj: Membership) -> str:
        return f"{obj.user} {obj.group}"

    def why(self, change: Change) -> str:
        link: Membership = change.subject
        return f"expired {link.expired}" if isinstance(change, Delete) and link.expired else ""

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        link: Membership = change.subject
        if isinstance(change, Delete):
            ctx.iam.gone("remove_user_from_group", UserName=link.user, GroupName=link.group)
        else:
            ctx.iam.call("add_user_to_group", fresh=[link.user, link.group],
                         UserName=link.user, GroupName=link.group)
