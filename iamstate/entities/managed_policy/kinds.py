"""Customer managed policies: created, given a new default version, replaced, deleted.

A policy's path and description cannot change in place, so a change of either replaces
it: detached everywhere, deleted, created again and re-attached to every entity that had it
as a permissions policy (roles and ignored holders included: nothing iamstate does not own
loses it). A replacement never ends half-done: if a step fails, the old policy and its
attachments are put back before apply stops. A policy that is a permissions boundary is
never replaced or deleted (that would remove the boundary); one that roles or ignored
resources use is never deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from iamstate.aws.answers import error_code, policy_entities
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.errors import ApplyFailed, shown
from iamstate.model.changes import Change, Create, Delete, Replace, Update
from iamstate.model.quotas import MAX_POLICY_VERSIONS
from iamstate.model.state import iter_sorted
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext
from iamstate.repository.policy import PolicyDocument
from iamstate.wording import count

if TYPE_CHECKING:
    from iamstate.aws.client import Iam

ATTACH = {"group": ("attach_group_policy", "GroupName"),
          "user": ("attach_user_policy", "UserName"),
          "role": ("attach_role_policy", "RoleName")}
DETACH = {"group": ("detach_group_policy", "GroupName"),
          "user": ("detach_user_policy", "UserName"),
          "role": ("detach_role_policy", "RoleName")}


class ManagedPolicyKind(Kind[ManagedPolicy]):
    name = "policy"
    label = "managed policy"
    model = ManagedPolicy
    after = ("password_policy",)  # SPEC §4 order: the password policy comes first
    counts_as_deletion = True
    actions = frozenset({
        "iam:CreatePolicy", "iam:CreatePolicyVersion", "iam:DeletePolicyVersion",
        "iam:DeletePolicy", "iam:ListEntitiesForPolicy", "iam:GetPolicy",
        "iam:ListPolicyVersions",
        "iam:AttachGroupPolicy", "iam:DetachGroupPolicy", "iam:AttachUserPolicy",
        "iam:DetachUserPolicy", "iam:AttachRolePolicy", "iam:DetachRolePolicy"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        _refuse_case_renames(ctx)
        changes: list[Change] = []
        for want in iter_sorted(ctx.desired.policies):
            have = ctx.live.policies.get(want.name)
            if have is None:
                changes.append(Create(want))
            elif replaced_because(have, want):
                if self._can_replace(ctx, have, want):
                    changes.append(Replace(have, want))
            elif want.document != have.document:
                changes.append(Update(have, want))
        return changes + self.remove_undeclared(ctx, ctx.live.policies, ctx.desired.policies,
                                                lambda have: _held(ctx, have))

    def _can_replace(self, ctx: PlanContext, have: ManagedPolicy, want: ManagedPolicy) -> bool:
        why = " and ".join(replaced_because(have, want))
        if have.boundary_of:
            ctx.problem(want.source, (
                f"policy {want.name}: changing its {why} means replacing it (IAM cannot "
                f"change that in place), but it is the permissions boundary of "
                f"{', '.join(have.boundary_of)}, which iamstate must not remove: keep its "
                f"{why} as they are live"))
            return False
        ignored = [h for h in ctx.untouchable(have.attached) if not h.startswith("role/")]
        if ignored:
            ctx.problem(want.source, (
                f"policy {want.name}: changing its {why} means replacing it, which would "
                f"detach it from ignored {', '.join(ignored)}: keep its {why} as they are "
                "live, or stop ignoring those"))
            return False
        return True

    def describe(self, change: Change) -> list[str]:
        lines: list[str] = []
        if isinstance(change, Create):
            lines += _where(change.after)
        elif isinstance(change, Update):
            if len(change.before.old_versions) >= MAX_POLICY_VERSIONS - 1:
                lines.append(f"deletes old version {change.before.old_versions[0]} "
                             f"(IAM keeps {MAX_POLICY_VERSIONS} at most)")
            lines.append("new default version of the document")
        elif isinstance(change, Replace):
            before, after = change.before, change.after
            reasons = []
            if before.path != after.path:
                reasons.append(f"path {before.path} -> {after.path}")
            if before.description != after.description:
                reasons.append(f"description {json.dumps(before.description)} -> "
                               f"{json.dumps(after.description)}")
            lines.append(f"replaced: IAM cannot change {'; '.join(reasons)} in place: "
                         "deleted and created again")
            lines.append("detaches and re-attaches: " + (", ".join(before.attached) or
                                                         "nothing (attached nowhere)"))
            if before.old_versions:
                lines.append(f"its old versions go: {', '.join(before.old_versions)}")
        elif isinstance(change, Delete):
            if change.before.attached:
                lines.append(f"detaches from: {', '.join(change.before.attached)}")
            versions = len(change.before.old_versions) + 1
            lines.append(f"deletes {count(versions, 'version')}")
        return lines

    def documents(self, change: Change) -> tuple[PolicyDocument | None, PolicyDocument | None]:
        before = None if isinstance(change, Create) else change.before.document
        after = None if isinstance(change, Delete) else change.after.document
        return before, after

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        if isinstance(change, Create):
            _create(ctx, change.after)
        elif isinstance(change, Update):
            arn = ctx.policy_arn(change.before.path, change.before.name)
            old = change.before.old_versions
            if len(old) >= MAX_POLICY_VERSIONS - 1:  # the oldest non-default makes room
                ctx.iam.gone("delete_policy_version", PolicyArn=arn, VersionId=old[0])
            ctx.iam.call("create_policy_version", PolicyArn=arn,
                         PolicyDocument=change.after.document.to_json(), SetAsDefault=True)
        elif isinstance(change, Replace):
            Replacement(ctx, change.before, change.after).run()
        else:
            before = change.before
            arn = ctx.policy_arn(before.path, before.name)
            for ref in before.attached:
                _link(ctx.iam, DETACH, ref, arn, gone=True)
            _delete(ctx.iam, arn, before.old_versions)


def _refuse_case_renames(ctx: PlanContext) -> None:
    for want in ctx.desired.policies.values():
        have = next((p for p in ctx.live.policies.values()
                     if p.name.lower() == want.name.lower() and p.name != want.name), None)
        if have is not None:
            ctx.problem(want.source, (
                f"policy {want.name}: exists in AWS as {shown(have.name)}; IAM names are "
                "case-insensitive and a managed policy cannot be renamed: write "
                f"{shown(have.name)}"))


def _held(ctx: PlanContext, policy: ManagedPolicy) -> str | None:
    """Why deleting the policy would change what iamstate must not touch, if it would."""
    users = [*policy.boundary_of, *ctx.untouchable(policy.attached)]
    return (f"used by {', '.join(users)} (not iamstate's to change): declare it, or ignore it"
            if users else None)


def replaced_because(have: ManagedPolicy, want: ManagedPolicy) -> list[str]:
    return [f for f in ("path", "description") if getattr(have, f) != getattr(want, f)]


def _where(policy: ManagedPolicy) -> list[str]:
    lines = [f"path: {policy.path}"] if policy.path != "/" else []
    if policy.description:
        lines.append(f"description: {policy.description}")
    return lines


def _create(ctx: ApplyContext, policy: ManagedPolicy) -> str:
    params: dict[str, Any] = {"PolicyName": policy.name, "Path": policy.path,
                              "PolicyDocument": policy.document.to_json()}
    if policy.description:
        params["Description"] = policy.description
    ctx.iam.call("create_policy", **params)
    arn = ctx.policy_arn(policy.path, policy.name)
    ctx.iam.created_now(arn)
    return arn


def _delete(iam: Iam, arn: str, old_versions: tuple[str, ...]) -> None:
    for version in old_versions:
        iam.gone("delete_policy_version", PolicyArn=arn, VersionId=version)
    iam.gone("delete_policy", PolicyArn=arn)


def _link(iam: Iam, operations: dict[str, tuple[str, str]], ref: str, arn: str,
          gone: bool = False) -> None:
    kind, _, name = ref.partition("/")
    operation, parameter = operations[kind]
    if gone:
        iam.gone(operation, PolicyArn=arn, **{parameter: name})
    else:
        iam.call(operation, fresh=[arn], PolicyArn=arn, **{parameter: name})


def holders(iam: Iam, arn: str) -> tuple[str, ...]:
    """Every entity that has `arn` attached as a permissions policy (not as a boundary)."""
    pages: list[dict[str, Any]] = []
    marker: dict[str, str] = {}
    while True:
        page = iam.call("list_entities_for_policy", PolicyArn=arn,
                        PolicyUsageFilter="PermissionsPolicy", **marker)
        pages.append(page)
        if not page.get("IsTruncated"):
            return policy_entities(pages)
        marker = {"Marker": page["Marker"]}


class Replacement:
    """Delete and create a policy again, re-attaching it everywhere; undo on failure."""

    def __init__(self, ctx: ApplyContext, before: ManagedPolicy, after: ManagedPolicy) -> None:
        self.ctx = ctx
        self.before, self.after = before, after
        self.old_arn = ctx.policy_arn(before.path, before.name)
        self.new_arn = ctx.policy_arn(after.path, after.name)

    def run(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # only where AWS is called

        iam = self.ctx.iam
        now = holders(iam, self.old_arn)
        if set(now) != set(self.before.attached):
            raise ApplyFailed(
                f"managed policy {self.before.name}: attached to {', '.join(now) or 'nothing'}"
                f" now, not to {', '.join(self.before.attached) or 'nothing'} as planned: "
                "nothing was replaced; run `iamstate plan` again")
        self.ctx.announce(
            f"replacing managed policy {self.before.name}: detaching {self.old_arn} from "
            f"{', '.join(self.before.attached) or 'nothing'}; should this process be killed "
            "before it reports the policy replaced or restored, attach the policy to those "
            "again")
        step = "detaching"
        try:
            for ref in self.before.attached:
                _link(iam, DETACH, ref, self.old_arn, gone=True)
            step = "deleting the old policy"
            _delete(iam, self.old_arn, self.before.old_versions)
            step = "creating the new policy"
            _create(self.ctx, self.after)
            step = "re-attaching"
            for ref in self.before.attached:
                _link(iam, ATTACH, ref, self.new_arn)
        except (ClientError, BotoCoreError, ApplyFailed) as error:
            restored = self._restore()
            raise ApplyFailed(
                f"replacing managed policy {self.before.name} failed while {step}: {error}. "
                + restored) from None
        except BaseException:
            # Ctrl-C, or a cancelled CI job (its SIGTERM is turned into the same): put the
            # old policy and its attachments back before anything else happens.
            self.ctx.announce(f"interrupted while {step}: {self._restore()}")
            raise
        self.ctx.announce(f"managed policy {self.before.name} replaced and re-attached")

    def _restore(self) -> str:
        """Put the old policy and its attachments back; say what could not be.

        The account is asked, not this object's bookkeeping: an interruption (Ctrl-C, a
        cancelled job) can land while a call is in flight, after IAM did the work but before
        the step was recorded here. Every step below is safe to repeat."""
        from botocore.exceptions import BotoCoreError, ClientError  # only where AWS is called

        iam = self.ctx.iam
        try:
            new = self._live(self.new_arn)
            if new is not None and (self.new_arn != self.old_arn
                                    or new.get("Description", "") != self.before.description):
                for ref in self.before.attached:  # the new policy, wherever it got to
                    _link(iam, DETACH, ref, self.new_arn, gone=True)
                _delete(iam, self.new_arn, ())
            recreated = self._live(self.old_arn) is None
            if recreated:
                _create(self.ctx, self.before)
            for ref in self.before.attached:  # attaching again is a no-op where it stayed
                _link(iam, ATTACH, ref, self.old_arn)
            gone = self._versions_gone(recreated)
        except (ClientError, BotoCoreError) as error:
            return (f"Restoring the old policy also failed ({error}): it was attached to "
                    f"{', '.join(self.before.attached) or 'nothing'}; run `iamstate plan` to "
                    "see what is left, and re-attach it by hand where a role needs it.")
        lost = (f" (its old versions {', '.join(gone)} are gone: IAM keeps no copy)"
                if gone else "")
        return (f"The old policy and its attachments were restored{lost}; nothing else of "
                "this change remains.")

    def _versions_gone(self, recreated: bool) -> list[str]:
        """The old policy's non-default versions that the attempt deleted (asked of the
        account: the policy may have survived while its versions did not)."""
        if recreated or not self.before.old_versions:
            return list(self.before.old_versions)
        page = self.ctx.iam.call("list_policy_versions", PolicyArn=self.old_arn)
        live = {v["VersionId"] for v in page.get("Versions", [])}
        return [v for v in self.before.old_versions if v not in live]

    def _live(self, arn: str) -> dict[str, Any] | None:
        """The policy at `arn` as IAM has it now, or None."""
        from botocore.exceptions import ClientError  # only where AWS is called

        try:
            policy: dict[str, Any] = self.ctx.iam.call("get_policy", PolicyArn=arn)["Policy"]
        except ClientError as error:
            if error_code(error) == "NoSuchEntity":
                return None
            raise
        return policy
