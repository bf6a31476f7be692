"""The planner: a pure function from (desired, live) to an ordered list of changes.

Order (SPEC §4): creations and updates from the bottom of the dependency graph up, then
removals from the top down, so nothing is ever referenced before it exists or deleted
while something still needs it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate.errors import Problem, RepoError, UnsafePlan
from iamstate.model import AccountConfig, Group, Location, ManagedPolicy, State, User
from iamstate.policy import PolicyDocument

CREATE, UPDATE, DELETE = "create", "update", "delete"
# (action, kind) -> phase. Changes run phase by phase; within a phase they are independent.
PHASES: dict[tuple[str, str], int] = {
    (CREATE, "password_policy"): 0, (UPDATE, "password_policy"): 0,
    (CREATE, "policy"): 1, (UPDATE, "policy"): 1,
    (CREATE, "group"): 2, (UPDATE, "group"): 2,
    (CREATE, "group_policy"): 3, (UPDATE, "group_policy"): 3, (CREATE, "group_attachment"): 3,
    (CREATE, "user"): 4, (UPDATE, "user"): 4,
    (CREATE, "login_profile"): 5,
    (CREATE, "membership"): 6,
    (DELETE, "membership"): 7,
    (DELETE, "login_profile"): 8,
    (DELETE, "user_policy"): 9, (DELETE, "user_attachment"): 9,
    (DELETE, "user"): 10,
    (DELETE, "group_policy"): 11, (DELETE, "group_attachment"): 11,
    (DELETE, "group"): 12,
    (DELETE, "policy"): 13,
}
DELETION_KINDS = frozenset({"user", "group", "policy"})  # what safety.max_deletions counts


@dataclass(frozen=True)
class Change:
    action: str
    kind: str
    name: str
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def phase(self) -> int:
        return PHASES[(self.action, self.kind)]

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "kind": self.kind, "name": self.name,
                "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        return cls(data["action"], data["kind"], data["name"], dict(data.get("detail") or {}))


@dataclass(frozen=True)
class AccountPlan:
    config: AccountConfig
    changes: tuple[Change, ...]
    live_digest: str
    desired_digest: str

    def summary(self) -> dict[str, int]:
        counts = {CREATE: 0, UPDATE: 0, DELETE: 0}
        for change in self.changes:
            counts[change.action] += 1
        return counts

    def deletions(self) -> int:
        return sum(1 for c in self.changes if c.action == DELETE and c.kind in DELETION_KINDS)

    def check_safety(self, allow_deletions: int | None) -> None:
        limit = self.config.max_deletions if allow_deletions is None else allow_deletions
        count = self.deletions()
        if count > limit:
            raise UnsafePlan(
                f"account {self.config.name}: the plan deletes {count} users, groups and "
                f"policies, more than the {limit} allowed (safety.max_deletions in "
                f"account.yaml): review it, then apply with --allow-deletions {count}")

    def digest(self) -> str:
        """Fingerprint of exactly this plan: its changes and both states' digests."""
        payload = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountPlan:
        """A plan read back from a plan file (for rendering; apply always re-plans)."""
        config = AccountConfig(data["account"], data["account_id"], Path("."))
        return cls(config, tuple(Change.from_dict(c) for c in data["changes"]),
                   data["live_digest"], data["desired_digest"])

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.config.name, "account_id": self.config.account_id,
                "live_digest": self.live_digest, "desired_digest": self.desired_digest,
                "changes": [c.as_dict() for c in self.changes], "summary": self.summary()}


def plan_account(config: AccountConfig, desired: State, live: State) -> AccountPlan:
    changes = plan_changes(desired, live)
    _check_secrets_can_be_delivered(desired, changes)
    return AccountPlan(config, tuple(changes), live.digest(), desired.digest())


def _check_secrets_can_be_delivered(desired: State, changes: list[Change]) -> None:
    """A new one-time password must be encrypted to someone: no public_key, no password."""
    problems = []
    for change in changes:
        if (change.action, change.kind) != (CREATE, "login_profile"):
            continue
        user = desired.users[change.name]
        if user.public_key is None:
            where = user.source or Location(Path("."), 0)
            problems.append(Problem(where.file, where.line, (
                f"user {user.name}: console_access needs a login profile to be created, and "
                "its one-time password must be encrypted to the user: add public_key: "
                "(age1..., ssh-ed25519 or ssh-rsa)")))
    if problems:
        raise RepoError(problems)


def plan_changes(desired: State, live: State) -> list[Change]:
    """Everything that must happen for live to match desired, in a safe order."""
    changes: list[Change] = []
    changes += _password_policy(desired, live)
    changes += _policies(desired, live)
    changes += _groups(desired, live)
    changes += _users(desired, live)
    return sorted(changes, key=lambda c: (c.phase, c.kind, c.name))


def document_diff(before: PolicyDocument | None, after: PolicyDocument | None) -> list[str]:
    """A readable unified diff of two documents, in their normalised form."""
    old = before.pretty().splitlines() if before else []
    new = after.pretty().splitlines() if after else []
    return list(difflib.unified_diff(old, new, "live", "repository", lineterm="", n=2))[2:]


def _password_policy(desired: State, live: State) -> list[Change]:
    want, have = desired.password_policy, live.password_policy
    if want is None or want == have:  # absent from account.yaml: left as it is
        return []
    if have is None:
        return [Change(CREATE, "password_policy", "account", {"settings": want.as_dict()})]
    old, new = have.as_dict(), want.as_dict()
    changed = {k: {"from": old.get(k), "to": v} for k, v in new.items() if old.get(k) != v}
    return [Change(UPDATE, "password_policy", "account",
                   {"settings": new, "changed": changed})]


def _policies(desired: State, live: State) -> list[Change]:
    changes = []
    for name, want in desired.policies.items():
        have = live.policies.get(name)
        if have is None:
            changes.append(Change(CREATE, "policy", name, _policy_detail(want, None)))
        elif want != have:
            changes.append(Change(UPDATE, "policy", name, _policy_detail(want, have)))
    for name, have in live.policies.items():
        if name in desired.policies:
            continue
        if have.used_by_roles:
            continue  # attached to roles: outside iamstate's authority, never broken by it
        changes.append(Change(DELETE, "policy", name, {"path": have.path,
                                                       "versions": len(have.old_versions) + 1}))
    return changes


def _policy_detail(want: ManagedPolicy, have: ManagedPolicy | None) -> dict[str, Any]:
    detail: dict[str, Any] = {"path": want.path, "description": want.description,
                              "document": json.loads(want.document.to_json())}
    if have is None:
        return detail
    # A description or path cannot change in place: the policy is replaced.
    reasons = [f for f in ("description", "path") if getattr(want, f) != getattr(have, f)]
    if reasons:
        detail["replace"] = reasons
    if want.document != have.document:
        detail["diff"] = document_diff(have.document, want.document)
        # IAM keeps at most 5 versions: the oldest non-default one makes room for the new.
        if not reasons and len(have.old_versions) >= 4:
            detail["delete_version"] = have.old_versions[0]
    return detail


def _groups(desired: State, live: State) -> list[Change]:
    changes = []
    for name, want in desired.groups.items():
        have = live.groups.get(name)
        if have is None:
            changes.append(Change(CREATE, "group", name, {"path": want.path}))
        elif want.path != have.path:
            changes.append(Change(UPDATE, "group", name, {"path": want.path,
                                                          "from_path": have.path}))
        changes += _group_policies(want, have or Group(name))
    for name, have in live.groups.items():
        if name not in desired.groups:
            members = sorted(u.name for u in live.users.values() if name in u.groups)
            changes.append(Change(DELETE, "group", name, {
                "members": members,
                "inline_policies": [n for n, _ in have.inline_policies],
                "managed_policies": sorted(have.managed_policies)}))
    return changes


def _group_policies(want: Group, have: Group) -> list[Change]:
    changes = []
    live_docs = dict(have.inline_policies)
    wanted_docs = dict(want.inline_policies)
    for policy, document in wanted_docs.items():
        key = f"{want.name}/{policy}"
        before = live_docs.get(policy)
        detail = {"group": want.name, "policy": policy,
                  "document": json.loads(document.to_json()),
                  "diff": document_diff(before, document)}
        if before is None:
            changes.append(Change(CREATE, "group_policy", key, detail))
        elif before != document:
            changes.append(Change(UPDATE, "group_policy", key, detail))
    for policy, document in live_docs.items():
        if policy not in wanted_docs:
            changes.append(Change(DELETE, "group_policy", f"{want.name}/{policy}", {
                "group": want.name, "policy": policy,
                "diff": document_diff(document, None)}))
    for arn in sorted(want.managed_policies - have.managed_policies):
        changes.append(Change(CREATE, "group_attachment", f"{want.name} {arn}",
                              {"group": want.name, "policy_arn": arn}))
    for arn in sorted(have.managed_policies - want.managed_policies):
        changes.append(Change(DELETE, "group_attachment", f"{want.name} {arn}",
                              {"group": want.name, "policy_arn": arn}))
    return changes


def _users(desired: State, live: State) -> list[Change]:
    changes = []
    for name, want in desired.users.items():
        have = live.users.get(name)
        if have is None:
            changes.append(Change(CREATE, "user", name, {"path": want.path,
                                                         "tags": dict(want.tags)}))
            have = User(name, want.path)
        else:
            update = _user_update(want, have)
            if update:
                changes.append(Change(UPDATE, "user", name, update))
        changes += _user_links(want, have)
    for name, have in live.users.items():
        if name not in desired.users:
            changes.append(Change(DELETE, "user", name, _teardown(have)))
    return changes


def _user_update(want: User, have: User) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    if want.path != have.path:
        detail["path"] = {"from": have.path, "to": want.path}
    if want.tags != have.tags:
        old, new = dict(have.tags), dict(want.tags)
        detail["tags"] = {
            "set": {k: v for k, v in new.items() if old.get(k) != v},
            "remove": sorted(set(old) - set(new)),
        }
    return detail


def _user_links(want: User, have: User) -> list[Change]:
    """Memberships, login profile and (always removed) user policies of one managed user."""
    name = want.name
    changes = [Change(CREATE, "membership", f"{name} {g}", {"user": name, "group": g})
               for g in sorted(want.groups - have.groups)]
    changes += [Change(DELETE, "membership", f"{name} {g}", {"user": name, "group": g})
                for g in sorted(have.groups - want.groups)]
    if want.console_access and not have.console_access:
        changes.append(Change(CREATE, "login_profile", name, {"user": name}))
    elif have.console_access and not want.console_access:
        changes.append(Change(DELETE, "login_profile", name, {"user": name}))
    # The strategy bans user policies: whatever is on a managed user goes.
    changes += [Change(DELETE, "user_policy", f"{name}/{policy}", {
                    "user": name, "policy": policy, "diff": document_diff(document, None)})
                for policy, document in have.inline_policies]
    changes += [Change(DELETE, "user_attachment", f"{name} {arn}",
                       {"user": name, "policy_arn": arn})
                for arn in sorted(have.attached_policies)]
    return changes


def _teardown(user: User) -> dict[str, Any]:
    """What deleting this user removes, in the order AWS requires."""
    removes = user.credentials.describe()
    if user.console_access and "login profile" not in removes:
        removes.insert(0, "login profile")
    removes += [f"inline policy {name}" for name, _ in user.inline_policies]
    removes += [f"attached policy {arn}" for arn in sorted(user.attached_policies)]
    removes += [f"membership of {group}" for group in sorted(user.groups)]
    return {"path": user.path, "removes": removes}
