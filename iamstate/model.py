"""The one model both sides are read into: the repository (desired) and AWS (live).

Fields that take part in comparison are what iamstate manages; `compare=False` fields are
context (where a resource was declared, what credentials a live user holds).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate.errors import Problem
from iamstate.policy import PolicyDocument

PASSWORD_POLICY_DEFAULTS: dict[str, int | bool] = {
    # UpdateAccountPasswordPolicy is all-or-nothing: a field left out returns to this value.
    "MinimumPasswordLength": 6,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "MaxPasswordAge": 0,
    "PasswordReusePrevention": 0,
    "HardExpiry": False,
}


@dataclass(frozen=True)
class Location:
    file: Path
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Credentials:
    """What a live user holds besides its definition: all of it goes in a teardown."""

    login_profile: bool = False
    access_keys: tuple[str, ...] = ()
    signing_certificates: tuple[str, ...] = ()
    ssh_public_keys: tuple[str, ...] = ()
    service_credentials: tuple[str, ...] = ()
    mfa_devices: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        """Human-readable list, as the plan shows it under a user deletion."""
        items = ["login profile"] if self.login_profile else []
        for label, values in (
            ("access key", self.access_keys),
            ("signing certificate", self.signing_certificates),
            ("SSH public key", self.ssh_public_keys),
            ("service-specific credential", self.service_credentials),
            ("MFA device", self.mfa_devices),
        ):
            items.extend(f"{label} {value}" for value in values)
        return items


@dataclass(frozen=True)
class User:
    name: str
    path: str = "/"
    groups: frozenset[str] = frozenset()
    tags: tuple[tuple[str, str], ...] = ()
    console_access: bool = False
    # Only ever non-empty on the live side: the strategy bans user policies.
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    attached_policies: frozenset[str] = frozenset()
    public_key: str | None = field(default=None, compare=False)
    credentials: Credentials = field(default=Credentials(), compare=False)
    source: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Group:
    name: str
    path: str = "/"
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    managed_policies: frozenset[str] = frozenset()  # ARNs, AWS or customer managed
    source: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    document: PolicyDocument
    path: str = "/"
    description: str = ""
    # Live only: non-default version ids, oldest first (IAM keeps at most 5 versions).
    old_versions: tuple[str, ...] = field(default=(), compare=False)
    # Live only, read for undeclared policies: roles attached to it (not ours to break).
    used_by_roles: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class PasswordPolicy:
    settings: tuple[tuple[str, int | bool], ...]

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> PasswordPolicy:
        merged = {**PASSWORD_POLICY_DEFAULTS, **{k: fields[k] for k in fields if k in
                                                  PASSWORD_POLICY_DEFAULTS}}
        return cls(tuple(sorted(merged.items())))

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.settings)


@dataclass(frozen=True)
class State:
    """Everything iamstate manages in one account, desired or live."""

    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)
    password_policy: PasswordPolicy | None = None

    def digest(self) -> str:
        """A stable fingerprint of the managed content (context fields are left out)."""
        payload = json.dumps(state_as_dict(self), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def state_as_dict(state: State) -> dict[str, Any]:
    def documents(pairs: tuple[tuple[str, PolicyDocument], ...]) -> dict[str, str]:
        return {name: doc.canonical for name, doc in pairs}

    return {
        "users": {
            u.name: {"path": u.path, "groups": sorted(u.groups), "tags": dict(u.tags),
                     "console_access": u.console_access,
                     "inline_policies": documents(u.inline_policies),
                     "attached_policies": sorted(u.attached_policies)}
            for u in state.users.values()
        },
        "groups": {
            g.name: {"path": g.path, "inline_policies": documents(g.inline_policies),
                     "managed_policies": sorted(g.managed_policies)}
            for g in state.groups.values()
        },
        "policies": {
            p.name: {"path": p.path, "description": p.description,
                     "document": p.document.canonical}
            for p in state.policies.values()
        },
        "password_policy": state.password_policy.as_dict() if state.password_policy else None,
    }


@dataclass(frozen=True)
class Category:
    group: str
    match: str | None = None
    kind: str = ""  # human | headless | other; "" = human without match, else headless

    @property
    def resolved_kind(self) -> str:
        return self.kind or ("headless" if self.match else "human")

    @property
    def is_human(self) -> bool:
        return self.resolved_kind == "human"

    @property
    def is_headless(self) -> bool:
        return self.resolved_kind == "headless"


@dataclass(frozen=True)
class Ignore:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()


@dataclass(frozen=True)
class AccountConfig:
    """account.yaml: who the account is and the rules iamstate applies in it."""

    name: str
    account_id: str
    directory: Path
    role_arn: str | None = None
    partition: str = "aws"
    common_groups: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    max_deletions: int = 5
    ignore: Ignore = Ignore()
    unknown_actions: str = "error"  # or "warn" (account.yaml lint: {unknown_actions: warn})

    def policy_arn(self, path: str, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:policy{path}{name}"


@dataclass(frozen=True)
class Account:
    config: AccountConfig
    desired: State
    warnings: tuple[Problem, ...] = ()  # worth saying, but no reason to stop
