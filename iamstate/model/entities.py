"""The one model both sides are read into: the repository (desired) and AWS (live).

Every object is immutable all the way down: mappings are `FrozenDict`, lists in policy
documents `FrozenList`, collections tuples or frozensets. Fields that take part in comparison
are what iamstate manages; `compare=False` fields are context (where a resource was declared,
what credentials a live user holds, what else uses a policy): the plan shows them and a
stale plan is recognised by them, but they never make a change on their own.

Each dataclass converts to and from plain JSON data (`to_data` / `from_data`) so a plan file
carries the model objects of every change, not a rendering of them.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from iamstate.analysis.meaning import Reach, reach_within
from iamstate.errors import Problem
from iamstate.model.arn import policy_arn
from iamstate.model.frozen import FrozenDict, frozen_map
from iamstate.repository.policy import PolicyDocument
from iamstate.repository.strategy import Category, Strategy

T = TypeVar("T")

PASSWORD_POLICY_DEFAULTS: dict[str, int | bool] = {
    # What UpdateAccountPasswordPolicy sets for a field it is not given.
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
# 0 means "off" for these two, but the API only accepts 1 and up (and account.yaml leaves
# them out): what is sent and what is written leaves them out.
OFF_WHEN_ZERO = ("MaxPasswordAge", "PasswordReusePrevention")
NOT_IN_PLAN = {"plan": False}  # field metadata: context that stays out of plan files
IF_SET = {"plan": "if set"}  # field metadata: in plan files only when not None


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
    permissions_boundary: str | None = None

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
        if self.permissions_boundary:
            items.append(f"permissions boundary {self.permissions_boundary}")
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
    # Live only: what the user holds that iamstate must never touch (ignored groups and
    # ignored policies); a teardown would have to, so the user is kept instead.
    protected: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)
    # `expires:` (YYYY-MM-DD): desired, from the repository; on a deleted user, why it goes.
    expires: str | None = field(default=None, compare=False, metadata=IF_SET)
    # Desired only: memberships that end, (group, YYYY-MM-DD, line of the entry); the group
    # is in `groups` too.
    expiring: tuple[tuple[str, str, int], ...] = field(default=(), compare=False,
                                                       metadata=NOT_IN_PLAN)


@dataclass(frozen=True)
class Group:
    name: str
    path: str = "/"
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    managed_policies: frozenset[str] = frozenset()  # ARNs, AWS or customer managed
    # Live only: every member, ignored users included (a deletion removes them all).
    members: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)


@dataclass(frozen=True)
class ManagedPolicy:
    name: str
    document: PolicyDocument
    path: str = "/"
    description: str = ""
    # Live only: non-default version ids, oldest first (IAM keeps at most 5 versions).
    old_versions: tuple[str, ...] = field(default=(), compare=False)
    # Live only, read where a change depends on it: what has it attached as a permissions
    # policy ("group/G", "user/U", "role/R") and what uses it as a permissions boundary.
    attached: tuple[str, ...] = field(default=(), compare=False)
    boundary_of: tuple[str, ...] = field(default=(), compare=False)
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)


@dataclass(frozen=True)
class PasswordPolicy:
    """Settings by UpdateAccountPasswordPolicy's names. Desired: only the declared ones
    (undeclared settings keep their live values); live: all of them."""

    settings: tuple[tuple[str, int | bool], ...]

    @classmethod
    def from_fields(cls, fields: Mapping[str, Any], complete: bool = False) -> PasswordPolicy:
        known = {k: fields[k] for k in fields if k in PASSWORD_POLICY_DEFAULTS}
        merged = {**PASSWORD_POLICY_DEFAULTS, **known} if complete else known
        return cls(tuple(sorted(merged.items())))

    @classmethod
    def from_yaml(cls, fields: Mapping[str, Any]) -> PasswordPolicy:
        """From account.yaml's snake_case names (`minimum_password_length`)."""
        return cls.from_fields({api_name(k): v for k, v in fields.items()})

    def as_dict(self) -> dict[str, int | bool]:
        return dict(self.settings)

    def api_settings(self) -> dict[str, int | bool]:
        """What UpdateAccountPasswordPolicy is sent: every setting but the ones that are off."""
        return {k: v for k, v in self.settings if not (k in OFF_WHEN_ZERO and v == 0)}

    def yaml_fields(self) -> dict[str, int | bool]:
        """As account.yaml writes it: snake_case names, the ones that are off left out."""
        return {yaml_name(k): v for k, v in self.api_settings().items()}

    def over(self, base: PasswordPolicy | None) -> PasswordPolicy:
        """These settings laid over `base` (or over IAM's defaults when there is none)."""
        under = base.as_dict() if base is not None else PASSWORD_POLICY_DEFAULTS
        return PasswordPolicy(tuple(sorted({**under, **self.as_dict()}.items())))


def api_name(field: str) -> str:
    """`minimum_password_length` (account.yaml) -> `MinimumPasswordLength` (the API)."""
    return "".join(part.capitalize() for part in field.split("_"))


def yaml_name(field: str) -> str:
    """`MinimumPasswordLength` (the API) -> `minimum_password_length` (account.yaml)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


# -- the links between entities, each managed by a kind of its own -----------------------


@dataclass(frozen=True)
class GroupPolicy:
    """An inline policy of a group."""

    group: str
    name: str
    document: PolicyDocument


@dataclass(frozen=True)
class GroupAttachment:
    group: str
    arn: str


@dataclass(frozen=True)
class Membership:
    user: str
    group: str
    expired: str | None = field(default=None, compare=False, metadata=IF_SET)  # why it goes


@dataclass(frozen=True)
class LoginProfile:
    """A console password. Desired: made by apply, its one-time password encrypted to
    `public_key`, whose fingerprint the plan shows (and so a swapped key makes it stale)."""

    user: str
    public_key: str | None = field(default=None, compare=False)
    recipient: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class UserPolicy:
    """An inline policy on a user: only ever removed (the strategy bans user policies)."""

    user: str
    name: str
    document: PolicyDocument


@dataclass(frozen=True)
class UserAttachment:
    """A managed policy attached to a user: only ever detached."""

    user: str
    arn: str


@dataclass(frozen=True)
class Role:
    """A live role, read for analysis only (iamstate never changes one): who may assume it
    (`trust`) and what it may do, so that assuming or passing it carries its power."""

    name: str
    path: str = "/"
    trust: PolicyDocument | None = None
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    attached_policies: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outside:
    """What the escalation analysis reads but iamstate does not manage: roles, and users
    left out of the plan by `ignore` (still targets: taking over an ignored administrator
    is taking over an administrator). `roles` None: not read (every role is assumed
    powerful, as before roles were read)."""

    roles: Mapping[str, Role] | None = None
    users: Mapping[str, User] = field(default_factory=FrozenDict)
    # Ignored groups, and the memberships managed users hold in them: what they grant is
    # what their members may do, ignored or not.
    groups: Mapping[str, Group] = field(default_factory=FrozenDict)
    memberships: Mapping[str, frozenset[str]] = field(default_factory=FrozenDict)

    def around(self, state: State) -> State:
        """`state` as the analysis reads it: with the ignored groups and memberships (which
        iamstate never changes, so the same before and after a plan)."""
        if not self.groups:
            return state
        users = {name: dataclasses.replace(user, groups=user.groups | self.memberships[name])
                 if name in self.memberships else user for name, user in state.users.items()}
        return State(users, {**self.groups, **state.groups}, state.policies,
                     state.password_policy, state.outside)


@dataclass(frozen=True)
class State:
    """Everything iamstate manages in one account, desired or live."""

    users: Mapping[str, User] = field(default_factory=FrozenDict)
    groups: Mapping[str, Group] = field(default_factory=FrozenDict)
    policies: Mapping[str, ManagedPolicy] = field(default_factory=FrozenDict)
    password_policy: PasswordPolicy | None = None
    # Live only, never compared nor planned: what the analysis reads around the state.
    outside: Outside = field(default=Outside(), compare=False, metadata=NOT_IN_PLAN)

    def __post_init__(self) -> None:
        for name in ("users", "groups", "policies"):
            object.__setattr__(self, name, frozen_map(getattr(self, name)))

    def digest(self) -> str:
        """A stable fingerprint of the managed content (context fields are left out)."""
        return digest_of(state_as_dict(self))


def digest_of(data: Any) -> str:
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
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


# -- model objects <-> plain JSON data (plan files) --------------------------------------


def to_data(obj: Any) -> Any:
    """A model object as plain JSON data: what a plan file holds for a change."""
    if isinstance(obj, PolicyDocument):
        return obj.document
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_data(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.metadata.get("plan", True) is True
                or (f.metadata.get("plan") == IF_SET["plan"] and getattr(obj, f.name) is not None)}
    if isinstance(obj, frozenset):
        return sorted(to_data(v) for v in obj)
    if isinstance(obj, tuple) and obj and all(isinstance(v, tuple) and len(v) == 2
                                              for v in obj):
        return {str(k): to_data(v) for k, v in obj}
    if isinstance(obj, tuple | list):
        return [to_data(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    return obj


def from_data(cls: type[T], data: Mapping[str, Any]) -> T:
    """The inverse of `to_data` for one of the model dataclasses above."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in data:
            values[f.name] = _decode(hints[f.name], data[f.name])
    return cls(**values)


def _decode(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return None if value is None else _decode(inner[0], value)
    if hint is PolicyDocument:
        return PolicyDocument(value)
    if dataclasses.is_dataclass(hint):
        return from_data(hint, value)  # type: ignore[arg-type]
    if origin is frozenset:
        return frozenset(_decode(args[0], v) for v in value)
    if origin is tuple:
        element = args[0]
        if typing.get_origin(element) is tuple and isinstance(value, Mapping):
            _, item_type = typing.get_args(element)
            return tuple((k, _decode(item_type, v)) for k, v in value.items())
        if isinstance(value, Mapping):  # an empty tuple of pairs was written as {}
            return ()
        return tuple(_decode(element, v) for v in value)
    return value


def iter_sorted(mapping: Mapping[str, T]) -> Iterator[T]:
    for key in sorted(mapping):
        yield mapping[key]


def ignored(name: str, globs: tuple[str, ...]) -> bool:
    return matching_glob(name, globs) is not None


def matching_glob(name: str, globs: tuple[str, ...]) -> str | None:
    """The first `ignore` glob matching `name`. IAM names are case-insensitive (`Alice` and
    `alice` cannot coexist), so the match is too: `break-glass-*` protects `Break-Glass-1`."""
    folded = name.casefold()
    return next((g for g in globs if fnmatch.fnmatchcase(folded, g.casefold())), None)


@dataclass(frozen=True)
class Ignore:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # IAM paths: users and groups under them, likewise

    def under_path(self, path: str) -> str | None:
        """The ignored IAM path `path` is under (`/emergency/` covers `/emergency/a/`)."""
        return next((p for p in self.paths if path.startswith(p)), None)


@dataclass(frozen=True)
class AcceptedRisk:
    """A finding the team accepts, reviewed in git: `accepted_risks` in account.yaml."""

    id: str
    principal: str
    reason: str
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)
    # What the reviewer accepted (as the plan printed it); None: an entry written before
    # reaches were recorded, accepting any reach (validate warns how to pin it).
    reach: tuple[Reach, ...] | None = None

    def accepts(self, finding_id: str, principal: str, reach: tuple[Reach, ...]) -> bool:
        return (self.id, self.principal) == (finding_id, principal) and (
            self.reach is None or reach_within(reach, self.reach))


@dataclass(frozen=True)
class AccountConfig:
    """account.yaml: who the account is and the rules iamstate applies in it."""

    name: str
    account_id: str
    directory: Path
    role_arn: str | None = None  # both roles in one (a warning says why that is risky)
    plan_role_arn: str | None = None  # read-only: plan, drift, audit, import
    apply_role_arn: str | None = None  # write: apply only
    partition: str = "aws"
    common_groups: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    max_deletions: int = 5
    ignore: Ignore = Ignore()
    # account.yaml `lint:`: rule setting -> error | warn | off (see lint.py)
    lint: Mapping[str, str] = field(default_factory=FrozenDict)
    accepted_risks: tuple[AcceptedRisk, ...] = ()

    @property
    def strategy(self) -> Strategy:
        return Strategy(self.common_groups, self.categories)

    def role_for(self, purpose: str) -> str | None:
        """The role to work in: `apply` -> the apply role, anything else -> the plan role
        (`role_arn` stands for both when the two are not declared)."""
        own = self.apply_role_arn if purpose == "apply" else self.plan_role_arn
        return own or self.role_arn

    def policy_arn(self, path: str, name: str) -> str:
        return policy_arn(self.partition, self.account_id, path, name)


@dataclass(frozen=True)
class Account:
    config: AccountConfig
    desired: State
    warnings: tuple[Problem, ...] = ()  # worth saying, but no reason to stop
