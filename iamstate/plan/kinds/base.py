"""What a kind of change is, and the registry every kind is in.

A kind owns everything about one sort of IAM object: how desired and live differ (`diff`),
which kinds it comes after (`after`: the order of apply), how a change is described in a
plan, how it is applied, and the IAM actions its apply may call (`actions`: the bootstrap
role grants exactly these; the apply client refuses any other). plan, render and apply are
loops over the registry. The registries here (`KINDS`, and `STANDING`: what a plan knows of
each entity) are filled by the entities' registrations (iamstate/entities/registry.py):
this module imports no entity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from iamstate.errors import Problem
from iamstate.model.account import AccountConfig, ignored
from iamstate.model.arn import name_of, own_policy_prefix
from iamstate.model.changes import Change, Delete
from iamstate.model.location import Location
from iamstate.repository.policy import PolicyDocument

if TYPE_CHECKING:
    from iamstate.aws.client import Iam  # the apply side: validate never loads botocore
    from iamstate.entities.password_policy.model import PasswordPolicy
    from iamstate.model.state import State

T = TypeVar("T")
NOWHERE = Location(Path("."), 0)


@dataclass(frozen=True)
class Kept:
    """Something the repository says should go, kept because removing it would touch what
    iamstate must not (an ignored resource, a role, a permissions boundary)."""

    kind: str  # the kind's name ("user", "policy"), whose entity the planner keeps it in
    name: str
    reason: str

    @property
    def label(self) -> str:
        """As plans say it: "managed policy"."""
        kind = KINDS.get(self.kind)
        return kind.label if kind is not None else self.kind


@dataclass(frozen=True)
class Standing:
    """What a plan knows of an entity a reference names ("role/R"): whether iamstate plans
    it (roles: read only, never changed) and the `ignore:` key whose globs protect it."""

    planned: bool
    key: str  # its items' key in a State (and in `Outside`: those `ignore` left out)
    ignore: str | None = None
    under_paths: bool = False  # `ignore.paths` hides it too


STANDING: dict[str, Standing] = {}  # by entity name; iamstate/entities/base.py's register


def _standing(entity: str) -> Standing | None:
    if not STANDING:  # nothing would count as ignored or read-only: refuse, never guess
        raise LookupError("no entity is registered: import iamstate.entities.registry")
    return STANDING.get(entity)


@dataclass
class PlanContext:
    """What a kind's diff sees. `live` is aligned to the repository: a live name that
    differs from a declared one only by case carries the declared name (IAM names are
    case-insensitive), and `renamed` maps each declared name back to the live one, per
    entity ("user": {declared: live})."""

    config: AccountConfig
    desired: State
    live: State
    renamed: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)

    def live_name(self, entity: str, declared: str) -> str:
        """The live name of a declared `entity` ("user") item, which may differ by case."""
        return self.renamed.get(entity, {}).get(declared, declared)

    def problem(self, where: Location | None, message: str) -> None:
        where = where or NOWHERE
        self.problems.append(Problem(where.file, where.line, message))

    def keep(self, kind: Kind[Any], name: str, reason: str) -> None:
        self.kept.append(Kept(kind.name, name, reason))

    def ignored(self, entity: str, name: str) -> bool:
        """`ignore:` in account.yaml protects this live `entity` ("user", "group") item: by
        a glob on its name, or by `ignore.paths` (its name alone does not say its path: the
        live read left it outside the plan, under the entity's key)."""
        found = _standing(entity)
        if found is None or found.ignore is None:
            return False
        hidden: Mapping[str, Any] = getattr(self.live.outside, found.key, None) or {}
        return ignored(name, self.config.ignore.globs(found.ignore)) or (
            found.under_paths and name in hidden)

    def ignored_user(self, name: str) -> bool:
        return self.ignored("user", name)

    def ignored_group(self, name: str) -> bool:
        return self.ignored("group", name)

    def ignored_policy(self, arn: str) -> bool:
        """A customer managed policy of this account that `ignore.policies` protects."""
        prefix = own_policy_prefix(self.config.partition, self.config.account_id)
        return arn.startswith(prefix) and ignored(name_of(arn), self.config.ignore.policies)

    def untouchable(self, holders: Iterable[str]) -> list[str]:
        """Of entity references ("user/U", "group/G", "role/R"), those iamstate must never
        change: entities it only reads (roles) and ignored ones (users and groups)."""
        out = []
        for ref in holders:
            entity, _, name = ref.partition("/")
            found = _standing(entity)
            if found is not None and (not found.planned or self.ignored(entity, name)):
                out.append(ref)
        return out


@dataclass
class ApplyContext:
    """What a kind's apply gets: the account, a client limited to the kind's actions,
    and where one-time passwords go."""

    iam: Iam
    config: AccountConfig
    root: Path  # the repository: nothing is written outside it
    out_dir: Path
    password_policy: PasswordPolicy | None = None  # the account's, after this plan
    emulated: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Said at once (not in the report at the end): what a human needs to know should this
    # process be killed in the middle of a change.
    announce: Callable[[str], None] = field(default=lambda text: None)

    def policy_arn(self, path: str, name: str) -> str:
        return self.config.policy_arn(path, name)


class Kind(Generic[T]):
    """One sort of IAM object. Subclasses set the class attributes and override what
    applies to them; `register` puts an instance in the registry."""

    name: ClassVar[str]  # as in plan JSON: "user", "group_policy", ...
    label: ClassVar[str]  # as in plan text: "user", "group inline policy", ...
    model: ClassVar[type[Any]]
    after: ClassVar[tuple[str, ...]] = ()
    actions: ClassVar[frozenset[str]] = frozenset()
    counts_as_deletion: ClassVar[bool] = False  # toward safety.max_deletions

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        raise NotImplementedError

    def key(self, obj: T) -> str:
        return str(getattr(obj, "name"))  # noqa: B009 (every model object with a name)

    def describe(self, change: Change) -> list[str]:
        """Lines under the change's headline: what it does beyond it (never a secret)."""
        return []

    def why(self, change: Change) -> str:
        """Why the change happens, when the headline alone would not say (an expiry)."""
        return ""

    def documents(self, change: Change) -> tuple[PolicyDocument | None,
                                                 PolicyDocument | None] | None:
        """(before, after) policy documents, when the change is about one."""
        return None

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        raise NotImplementedError

    def remove_undeclared(self, ctx: PlanContext, live: Mapping[str, Any],
                          desired: Mapping[str, Any],
                          held: Callable[[Any], str | None]) -> list[Change]:
        """Delete what is live and not declared, unless `held` says why removing it would
        change something iamstate must not touch: then it is kept, and the plan says why."""
        changes: list[Change] = []
        for name in sorted(live):
            if name in desired:
                continue
            reason = held(live[name])
            if reason:
                ctx.keep(self, name, f"not declared, but {reason}")
            else:
                changes.append(Delete(live[name]))
        return changes

    def is_deletion(self, change: Change) -> bool:
        return self.counts_as_deletion and change.action != "create" and (
            isinstance(change, Delete) or change.symbol == "-/+")


KINDS: dict[str, Kind[Any]] = {}
_BY_MODEL: dict[type[Any], Kind[Any]] = {}


def register(kind: type[Kind[Any]]) -> type[Kind[Any]]:
    """Put a kind in the registry (an entity's registration does, for its kinds)."""
    instance = kind()
    KINDS[kind.name] = instance
    _BY_MODEL[kind.model] = instance
    levels.cache_clear()
    return kind


def unregister(kind: type[Kind[Any]]) -> None:
    del KINDS[kind.name]
    del _BY_MODEL[kind.model]
    levels.cache_clear()


def labelled(label: str) -> str:
    """The name of the kind a plan calls `label` (a plan file's kept items say labels)."""
    return next((k.name for k in KINDS.values() if k.label == label), label)


def kind_of(change: Change) -> Kind[Any]:
    return _BY_MODEL[type(change.subject)]


def _check_registered() -> None:
    if not KINDS:  # an apply order or a role's grants of nothing: refuse, never guess
        raise LookupError("no kind is registered: import iamstate.entities.registry")


@cache
def levels() -> Mapping[str, int]:
    """Each kind's depth in the dependency graph its `after` lists draw: creations run
    from level 0 up, removals from the top down."""
    _check_registered()
    depth: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            raise ValueError(f"kinds depend on each other in a cycle: {(*trail, name)}")
        if name not in depth:
            depth[name] = 1 + max((visit(d, (*trail, name)) for d in KINDS[name].after),
                                  default=-1)
        return depth[name]

    for name in KINDS:
        visit(name, ())
    return depth


def stage(change: Change) -> int:
    """When a change runs: creations and updates by level, then removals in reverse."""
    kind = kind_of(change)
    level = levels()[kind.name]
    if isinstance(change, Delete):
        return 2 * len(KINDS) - level
    return level


def order_key(change: Change) -> tuple[int, str, str]:
    kind = kind_of(change)
    return stage(change), kind.name, kind.key(change.subject)


def all_actions() -> frozenset[str]:
    """Every IAM action some kind's apply may call (the apply role's permissions)."""
    _check_registered()
    return frozenset(a for kind in KINDS.values() for a in kind.actions)
