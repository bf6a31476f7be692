"""Apply: turn each planned change into IAM API calls, phase by phase, and stop on failure.

Within a phase changes are independent (SPEC §4 orders the phases), so they run on a
bounded pool of workers. botocore's adaptive retry mode handles throttling; this module
retries what no botocore mode does: ConcurrentModification, EntityTemporarilyUnmodifiable,
and NoSuchEntity for something this run just created (IAM is eventually consistent).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from itertools import groupby
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iamstate import live
from iamstate.aws import Connection, error_code
from iamstate.errors import ApplyFailed
from iamstate.model import AccountConfig, PasswordPolicy, State
from iamstate.plan import CREATE, DELETE, Change
from iamstate.render import headline
from iamstate.secrets import generate_password, write_encrypted

# What no botocore retry mode retries; throttling and 5xx (ServiceFailure) are botocore's.
TRANSIENT = frozenset({"ConcurrentModification", "EntityTemporarilyUnmodifiable"})


@dataclass
class RetryPolicy:
    """How long to keep retrying what IAM's eventual consistency makes fail for a while."""

    seconds: float = 120.0  # Terraform's provider waits up to 2 minutes, for the same reason
    first_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep


@dataclass
class ApplyReport:
    done: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    not_done: list[Change] = field(default_factory=list)


class Applier:
    def __init__(
        self,
        conn: Connection,
        config: AccountConfig,
        desired: State,
        out_dir: Path,
        workers: int = 4,
        retry: RetryPolicy | None = None,
        on_done: Callable[[Change], None] | None = None,
    ) -> None:
        self.conn = conn
        self.iam = conn.iam
        self.config = config
        self.desired = desired
        self.out_dir = out_dir
        self.workers = max(1, workers)
        self.retry = retry or RetryPolicy()
        self.on_done = on_done or (lambda change: None)
        self.created: set[str] = set()  # names this run created: NoSuchEntity may be lag
        self.lock = threading.Lock()
        self.report = ApplyReport()

    # -- driving -------------------------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> ApplyReport:
        ordered = sorted(changes, key=lambda c: (c.phase, c.kind, c.name))
        phases = [list(group) for _, group in groupby(ordered, key=lambda c: c.phase)]
        for index, phase in enumerate(phases):
            self._run_phase(phase)
            if self.report.failed:
                self.report.not_done += [c for later in phases[index + 1:] for c in later]
                raise ApplyFailed(self._failure_message())
        return self.report

    def _run_phase(self, phase: list[Change]) -> None:
        if self.workers == 1 or len(phase) == 1:
            for change in phase:
                if not self._run_one(change):
                    self.report.not_done += phase[phase.index(change) + 1:]
                    return
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            list(pool.map(self._run_one, phase))

    def _run_one(self, change: Change) -> bool:
        try:
            HANDLERS[(change.action, change.kind)](self, change)
        except (ClientError, BotoCoreError, ApplyFailed, OSError) as error:
            with self.lock:
                self.report.failed.append((change, str(error)))
            return False
        with self.lock:
            self.report.done.append(change)
        self.on_done(change)
        return True

    def _failure_message(self) -> str:
        lines = [f"account {self.config.name}: apply stopped."]
        lines.append(f"Done ({len(self.report.done)}):")
        lines += [f"  {headline(c)}" for c in self.report.done] or ["  nothing"]
        lines.append(f"Failed ({len(self.report.failed)}):")
        lines += [f"  {headline(c)}: {why}" for c, why in self.report.failed]
        lines.append(f"Not done ({len(self.report.not_done)}):")
        lines += [f"  {headline(c)}" for c in self.report.not_done] or ["  nothing"]
        lines.append("Run `iamstate plan` again: it shows exactly what is left.")
        return "\n".join(lines)

    # -- calling IAM with the retries botocore does not do -------------------------------

    def call(self, operation: str, fresh: Iterable[str] = (), **params: Any) -> Any:
        """Call IAM, retrying transient conflicts, and NoSuchEntity on just-created names."""
        method = getattr(self.iam, operation)
        deadline = time.monotonic() + self.retry.seconds
        delay = self.retry.first_delay
        lagging = bool(set(fresh) & self.created)
        while True:
            try:
                return method(**params)
            except ClientError as error:
                code = error_code(error)
                retry = code in TRANSIENT or (code == "NoSuchEntity" and lagging)
                if not retry or time.monotonic() + delay > deadline:
                    raise
            self.retry.sleep(delay)
            delay = min(delay * 2, self.retry.max_delay)

    def gone(self, operation: str, **params: Any) -> None:
        """A delete for which NoSuchEntity means the work is already done."""
        try:
            self.call(operation, **params)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":
                raise
            with self.lock:
                self.report.notes.append(f"{operation} {params}: already gone")

    def mark_created(self, name: str) -> None:
        with self.lock:
            self.created.add(name)

    # -- handlers --------------------------------------------------------------------------

    def password_policy(self, change: Change) -> None:
        settings = change.detail["settings"]
        # 0 means "off" for these two, but the API only accepts 1 and up: leave them out.
        params = {k: v for k, v in settings.items()
                  if not (k in ("MaxPasswordAge", "PasswordReusePrevention") and v == 0)}
        self.call("update_account_password_policy", **params)

    def create_policy(self, change: Change) -> None:
        detail = change.detail
        params: dict[str, Any] = {"PolicyName": change.name, "Path": detail["path"],
                                  "PolicyDocument": json.dumps(detail["document"])}
        if detail.get("description"):
            params["Description"] = detail["description"]
        self.call("create_policy", **params)
        self.mark_created(self._arn(detail["path"], change.name))

    def update_policy(self, change: Change) -> None:
        detail = change.detail
        if detail.get("replace"):
            self._replace_policy(change)
            return
        arn = self._arn(detail["path"], change.name)
        versions = self.call("list_policy_versions", PolicyArn=arn)["Versions"]
        old = sorted((v for v in versions if not v["IsDefaultVersion"]),
                     key=lambda v: v["CreateDate"])
        if len(versions) >= 5:  # IAM keeps 5: the oldest non-default makes room
            self.call("delete_policy_version", PolicyArn=arn, VersionId=old[0]["VersionId"])
        self.call("create_policy_version", PolicyArn=arn,
                  PolicyDocument=json.dumps(detail["document"]), SetAsDefault=True)

    def _replace_policy(self, change: Change) -> None:
        """Description and path cannot change in place: detach, delete, create, re-attach."""
        live_path = self._live_policy_path(change.name)
        old_arn = self._arn(live_path, change.name)
        entities = self._detach_everywhere(old_arn, allow_roles=True)
        self._delete_policy_versions_and_policy(old_arn)
        self.create_policy(change)
        new_arn = self._arn(change.detail["path"], change.name)
        if new_arn == old_arn:  # attachments that still name this ARN come back
            self._attach(new_arn, entities)

    def _live_policy_path(self, name: str) -> str:
        pages = self.iam.get_paginator("list_policies").paginate(Scope="Local")
        for page in pages:
            for policy in page["Policies"]:
                if policy["PolicyName"] == name:
                    return str(policy["Path"])
        raise ApplyFailed(f"policy {name} disappeared before it could be replaced")

    def delete_policy(self, change: Change) -> None:
        arn = self._arn(change.detail["path"], change.name)
        self._detach_everywhere(arn, allow_roles=False)
        self._delete_policy_versions_and_policy(arn)

    def _detach_everywhere(self, arn: str, allow_roles: bool) -> dict[str, list[str]]:
        pages = self.iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn)
        entities: dict[str, list[str]] = {"groups": [], "users": [], "roles": []}
        for page in pages:
            entities["groups"] += [g["GroupName"] for g in page.get("PolicyGroups", [])]
            entities["users"] += [u["UserName"] for u in page.get("PolicyUsers", [])]
            entities["roles"] += [r["RoleName"] for r in page.get("PolicyRoles", [])]
        if entities["roles"] and not allow_roles:
            raise ApplyFailed(f"policy {arn} is attached to roles {entities['roles']}; "
                              "iamstate does not manage roles and will not break them")
        for group in entities["groups"]:
            self.gone("detach_group_policy", GroupName=group, PolicyArn=arn)
        for user in entities["users"]:
            self.gone("detach_user_policy", UserName=user, PolicyArn=arn)
        for role in entities["roles"]:
            self.gone("detach_role_policy", RoleName=role, PolicyArn=arn)
        return entities

    def _attach(self, arn: str, entities: dict[str, list[str]]) -> None:
        for group in entities["groups"]:
            self.call("attach_group_policy", fresh=[arn], GroupName=group, PolicyArn=arn)
        for user in entities["users"]:
            self.call("attach_user_policy", fresh=[arn], UserName=user, PolicyArn=arn)
        for role in entities["roles"]:
            self.call("attach_role_policy", fresh=[arn], RoleName=role, PolicyArn=arn)

    def _delete_policy_versions_and_policy(self, arn: str) -> None:
        for version in self.call("list_policy_versions", PolicyArn=arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                self.gone("delete_policy_version", PolicyArn=arn,
                          VersionId=version["VersionId"])
        self.gone("delete_policy", PolicyArn=arn)

    def create_group(self, change: Change) -> None:
        self.call("create_group", GroupName=change.name, Path=change.detail["path"])
        self.mark_created(change.name)

    def update_group(self, change: Change) -> None:
        self.call("update_group", GroupName=change.name, NewPath=change.detail["path"])

    def put_group_policy(self, change: Change) -> None:
        detail = change.detail
        self.call("put_group_policy", fresh=[detail["group"]], GroupName=detail["group"],
                  PolicyName=detail["policy"], PolicyDocument=json.dumps(detail["document"]))

    def delete_group_policy(self, change: Change) -> None:
        self.gone("delete_group_policy", GroupName=change.detail["group"],
                  PolicyName=change.detail["policy"])

    def attach_group_policy(self, change: Change) -> None:
        group, arn = change.detail["group"], change.detail["policy_arn"]
        self.call("attach_group_policy", fresh=[group, arn], GroupName=group, PolicyArn=arn)

    def detach_group_policy(self, change: Change) -> None:
        self.gone("detach_group_policy", GroupName=change.detail["group"],
                  PolicyArn=change.detail["policy_arn"])

    def delete_group(self, change: Change) -> None:
        """Members, inline policies and attachments first, or AWS says DeleteConflict."""
        name = change.name
        members = self.iam.get_paginator("get_group").paginate(GroupName=name)
        for user in [u["UserName"] for page in members for u in page.get("Users", [])]:
            self.gone("remove_user_from_group", GroupName=name, UserName=user)
        for policy in self._listed("list_group_policies", "PolicyNames", GroupName=name):
            self.gone("delete_group_policy", GroupName=name, PolicyName=policy)
        for arn in self._listed("list_attached_group_policies", "AttachedPolicies",
                                key="PolicyArn", GroupName=name):
            self.gone("detach_group_policy", GroupName=name, PolicyArn=arn)
        self.gone("delete_group", GroupName=name)

    def create_user(self, change: Change) -> None:
        tags = [{"Key": k, "Value": v} for k, v in change.detail.get("tags", {}).items()]
        params: dict[str, Any] = {"UserName": change.name, "Path": change.detail["path"]}
        if tags:
            params["Tags"] = tags
        self.call("create_user", **params)
        self.mark_created(change.name)

    def update_user(self, change: Change) -> None:
        detail = change.detail
        tags = detail.get("tags") or {}
        to_set = dict(tags.get("set") or {})
        if "path" in detail:
            self.call("update_user", UserName=change.name, NewPath=detail["path"]["to"])
            # Re-send every desired tag after a move: AWS keeps tags (so this is a no-op
            # there), but moto, the sandbox, drops them on a path change.
            to_set = dict(self.desired.users[change.name].tags)
        if tags.get("remove"):
            self.call("untag_user", UserName=change.name, TagKeys=tags["remove"])
        if to_set:
            self.call("tag_user", UserName=change.name,
                      Tags=[{"Key": k, "Value": v} for k, v in to_set.items()])

    def create_login_profile(self, change: Change) -> None:
        name = change.detail["user"]
        user = self.desired.users[name]
        if user.public_key is None:  # validation refuses this; never create an unsent secret
            raise ApplyFailed(f"user {name} has console_access but no public_key")
        password = generate_password(self.desired.password_policy or self._live_password)
        target = self.out_dir / self.config.name / f"{name}.age"
        try:
            self.call("create_login_profile", fresh=[name], UserName=name,
                      Password=password, PasswordResetRequired=True)
        except ClientError as error:
            # The credential report can be hours old: a profile it missed may already exist.
            if error_code(error) != "EntityAlreadyExists":
                raise
            with self.lock:
                self.report.notes.append(f"login profile of {name} already existed: kept")
            return
        write_encrypted(password, user.public_key, target)
        with self.lock:
            self.report.notes.append(
                f"one-time password of {name} encrypted to its public_key in {target}")

    @cached_property
    def _live_password(self) -> PasswordPolicy | None:
        """The account's password policy when the repository leaves it alone (read once)."""
        return live.password_policy(self.iam)

    def delete_login_profile(self, change: Change) -> None:
        self.gone("delete_login_profile", UserName=change.detail["user"])

    def add_membership(self, change: Change) -> None:
        user, group = change.detail["user"], change.detail["group"]
        self.call("add_user_to_group", fresh=[user, group], UserName=user, GroupName=group)

    def remove_membership(self, change: Change) -> None:
        self.gone("remove_user_from_group", UserName=change.detail["user"],
                  GroupName=change.detail["group"])

    def delete_user_policy(self, change: Change) -> None:
        self.gone("delete_user_policy", UserName=change.detail["user"],
                  PolicyName=change.detail["policy"])

    def detach_user_policy(self, change: Change) -> None:
        self.gone("detach_user_policy", UserName=change.detail["user"],
                  PolicyArn=change.detail["policy_arn"])

    def delete_user(self, change: Change) -> None:
        """The full teardown, in the order AWS requires (it answers DeleteConflict otherwise),
        listed again now: credentials made outside iamstate must not block the delete."""
        name = change.name
        creds = live.read_credentials(self.conn, name)
        if creds.login_profile:
            self.gone("delete_login_profile", UserName=name)
        for key in creds.access_keys:
            self.gone("delete_access_key", UserName=name, AccessKeyId=key)
        for cert in creds.signing_certificates:
            self.gone("delete_signing_certificate", UserName=name, CertificateId=cert)
        for ssh in creds.ssh_public_keys:
            self.gone("delete_ssh_public_key", UserName=name, SSHPublicKeyId=ssh)
        for cred in creds.service_credentials:
            self.gone("delete_service_specific_credential", UserName=name,
                      ServiceSpecificCredentialId=cred)
        for serial in creds.mfa_devices:
            self.gone("deactivate_mfa_device", UserName=name, SerialNumber=serial)
            if ":mfa/" in serial:  # a virtual device: delete it too, or it lingers
                self.gone("delete_virtual_mfa_device", SerialNumber=serial)
        for policy in self._listed("list_user_policies", "PolicyNames", UserName=name):
            self.gone("delete_user_policy", UserName=name, PolicyName=policy)
        for arn in self._listed("list_attached_user_policies", "AttachedPolicies",
                                key="PolicyArn", UserName=name):
            self.gone("detach_user_policy", UserName=name, PolicyArn=arn)
        for group in self._listed("list_groups_for_user", "Groups", key="GroupName",
                                  UserName=name):
            self.gone("remove_user_from_group", UserName=name, GroupName=group)
        boundary = self.call("get_user", UserName=name)["User"].get("PermissionsBoundary")
        if boundary:
            self.gone("delete_user_permissions_boundary", UserName=name)
        self.gone("delete_user", UserName=name)

    # -- helpers ---------------------------------------------------------------------------

    def _listed(self, operation: str, result: str, key: str | None = None,
                **params: Any) -> list[str]:
        pages = self.iam.get_paginator(operation).paginate(**params)
        items = [item for page in pages for item in page.get(result, [])]
        return [item[key] if key else item for item in items]

    def _arn(self, path: str, name: str) -> str:
        return self.config.policy_arn(path, name)


Handler = Callable[[Applier, Change], None]
HANDLERS: dict[tuple[str, str], Handler] = {
    (CREATE, "password_policy"): Applier.password_policy,
    ("update", "password_policy"): Applier.password_policy,
    (CREATE, "policy"): Applier.create_policy,
    ("update", "policy"): Applier.update_policy,
    (DELETE, "policy"): Applier.delete_policy,
    (CREATE, "group"): Applier.create_group,
    ("update", "group"): Applier.update_group,
    (DELETE, "group"): Applier.delete_group,
    (CREATE, "group_policy"): Applier.put_group_policy,
    ("update", "group_policy"): Applier.put_group_policy,
    (DELETE, "group_policy"): Applier.delete_group_policy,
    (CREATE, "group_attachment"): Applier.attach_group_policy,
    (DELETE, "group_attachment"): Applier.detach_group_policy,
    (CREATE, "user"): Applier.create_user,
    ("update", "user"): Applier.update_user,
    (DELETE, "user"): Applier.delete_user,
    (CREATE, "login_profile"): Applier.create_login_profile,
    (DELETE, "login_profile"): Applier.delete_login_profile,
    (CREATE, "membership"): Applier.add_membership,
    (DELETE, "membership"): Applier.remove_membership,
    (DELETE, "user_policy"): Applier.delete_user_policy,
    (DELETE, "user_attachment"): Applier.detach_user_policy,
}
