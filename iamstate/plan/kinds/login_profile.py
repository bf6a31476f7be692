"""Console passwords. A new one is random, meets the password policy, must be changed at
first sign-in, and exists only as age ciphertext to the user's `public_key`: encrypted and
written *before* CreateLoginProfile, and removed again if the profile is not created, so no
password is ever set that nobody can read, nor a file left for one that was never set."""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import BotoCoreError, ClientError

from iamstate.aws.session import error_code
from iamstate.errors import ApplyFailed
from iamstate.model.changes import Change, Create, Delete
from iamstate.model.entities import LoginProfile, iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext, register
from iamstate.plan.secrets import (
    fingerprint,
    generate_password,
    one_time_password_file,
    write_encrypted,
)


@register
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
