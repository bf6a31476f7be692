"""What an entity is, and the registry every entity is in.

An entity is one sort of thing iamstate reads into a `State` (a user, a group, a managed
policy, the password policy; roles for the analysis only). Its package owns everything
about it: the model (dataclasses), its part of the published JSON schema, how a
declaration in the repository becomes a model object (`load`, every error at file:line),
how a GAAD entry or an API answer becomes one (`read`), how `iamstate import` writes one
(`to_yaml`), what of it the state's digest covers (`digest`), and the kinds of change
(plan/kinds) that diff and apply it. The loader, the live reader, the importer, the planner
and the schema are loops over `ENTITIES`.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from iamstate.entities.io import to_data
from iamstate.model.state import HELD, Held
from iamstate.plan.kinds.base import STANDING, Kind, Standing
from iamstate.plan.kinds.base import register as register_kind
from iamstate.plan.kinds.base import unregister as unregister_kind

if TYPE_CHECKING:
    from iamstate.model.account import AccountConfig
    from iamstate.model.state import State
    from iamstate.plan.kinds.base import PlanContext
    from iamstate.repository.declared import Declared, Problems
    from iamstate.repository.policy import PolicyDocument

T = TypeVar("T")
ACCOUNT_SCHEMA = "account.schema.json"
RESOURCES_SCHEMA = "resources.schema.json"


@dataclass(frozen=True)
class Fragment:
    """An entity's part of a published JSON schema: the schema of its key under `file`'s
    properties, and the `$defs` only it uses (shared ones stay in the file)."""

    file: str  # ACCOUNT_SCHEMA or RESOURCES_SCHEMA
    property: Mapping[str, Any]
    defs: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of_package(cls, package: str) -> Fragment:
        """The fragment in a package's schema.json: {"file", "property", "$defs"}."""
        data = json.loads(resources.files(package).joinpath("schema.json").read_text(
            encoding="utf-8"))
        return cls(data["file"], data["property"], data.get("$defs", {}))


@dataclass(frozen=True)
class Gaad:
    """Where GetAccountAuthorizationDetails lists an entity: its filter and answer key."""

    filter: str  # "User"
    list: str  # "UserDetailList"


class Loading(Protocol):
    """What an entity's `load` sees (the loader's state builder)."""

    config: AccountConfig
    problems: Problems
    warnings: Problems
    variables: Mapping[str, str]

    def declared(self, model: type[Any]) -> Mapping[str, Declared | None]:
        """An entity's declarations by name (None: declared, but broken and reported)."""

    def loaded(self, model: type[T]) -> Mapping[str, T]:
        """An entity's items as loaded (one it `needs`: loaded before this one)."""

    def document(self, ref: Any, where: Path, line_in: Callable[[tuple[Any, ...]], int],
                 label: str) -> PolicyDocument | None:
        """A policy document reference resolved (a policies/ name or one in place),
        substituted and linted; None with the problems said."""


@dataclass
class Reading:
    """What an entity's `read` sees: the account, GAAD's answer, and what was read."""

    conn: Any  # aws.session.Connection
    config: AccountConfig
    desired: State
    teardowns: bool  # False: no exact reads of what a teardown would remove (import)
    entries: Mapping[str, Sequence[Any]]  # GAAD's lists by answer key
    report: Callable[[], Mapping[str, bool]]  # user -> console password (a hint)
    read: Callable[[type[Any]], Mapping[str, Any]]  # an entity it `needs`, already read
    # What the analysis reads around the state (Outside's fields): roles, ignored users...
    outside: dict[str, Any] = field(default_factory=dict)

    def gaad(self, entity: Entity[Any]) -> Sequence[Any]:
        return self.entries.get(entity.gaad.list, ()) if entity.gaad else ()


@dataclass
class Exporting:
    """What an entity's `to_yaml` sees (`iamstate import`): the account and what it says
    about what it writes (strategy breaches)."""

    config: AccountConfig
    live: State
    breaches: list[str] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class Entity(Generic[T]):
    """One sort of thing a `State` holds; see the module's docstring."""

    name: str  # as references say it ("user/alice") and messages name it
    model: type[T]
    key: str  # in the State, the state digest and the files: "users", "password_policy"
    kinds: tuple[type[Kind[Any]], ...] = ()  # what diffs and applies it (none: never planned)
    needs: tuple[type[Any], ...] = ()  # entities it refers to: loaded and read first
    schema: Fragment | None = None
    load: Callable[[Loading], Mapping[str, T]] | None = None
    read: Callable[[Reading], Mapping[str, T]] | None = None
    to_yaml: Callable[[T, Exporting], Any] | None = None
    # What of an item the state's digest covers (a stale plan is told by it); by default
    # all it writes to the plan file, so an entity that says nothing is covered whole
    digest: Callable[[T], Any] = to_data
    gaad: Gaad | None = None
    reads: frozenset[str] = frozenset()  # IAM actions `read` calls besides GAAD's (plan role)
    ignore: str | None = None  # account.yaml's `ignore:` key whose globs protect its names
    under_paths: bool = False  # `ignore.paths` hides it too (users and groups)
    single: bool = False  # one per account (the password policy), named state.ONE
    # The declared item as the plan leaves it, given the live one (what the plan keeps on it)
    settle: Callable[[T, T | None, PlanContext], T] | None = None
    # Case renames: the live item as the repository names it, and what it refers to
    align: Callable[[T, Alignment], T] | None = None

    @property
    def planned(self) -> bool:
        """Read for the analysis only when no kind plans it (roles)."""
        return bool(self.kinds)

    @property
    def section(self) -> str | None:
        """Its key in a resource file (None: declared elsewhere, or not at all)."""
        return self.key if self.schema and self.schema.file == RESOURCES_SCHEMA else None


@dataclass(frozen=True)
class Alignment:
    """Live names as the repository writes them: IAM names are case-insensitive, so a live
    `asmith` declared as `ASmith` is that user; a policy moved to a new path is found under
    its new ARN."""

    renamed: Mapping[str, Mapping[str, str]]  # entity name -> live name -> declared name
    arns: Mapping[str, str]  # old ARN -> new ARN

    def name(self, entity: str, live_name: str) -> str:
        return self.renamed.get(entity, {}).get(live_name, live_name)

    def arn(self, value: str) -> str:
        return self.arns.get(value, value)


ENTITIES: dict[str, Entity[Any]] = {}
_BY_MODEL: dict[type[Any], Entity[Any]] = {}
_VERSION = itertools.count(1)
_version = 0


def register(entity: Entity[T]) -> Entity[T]:
    """Put an entity (and the kinds that plan it) in the registries."""
    global _version
    if entity.name in ENTITIES or entity.model in _BY_MODEL:
        raise ValueError(f"entity {entity.name} is registered already")
    ENTITIES[entity.name] = entity
    _BY_MODEL[entity.model] = entity
    # what the state and the plan, below the entities, must know of it
    HELD[entity.model] = Held(entity.key, entity.single,
                              entity.digest if entity.planned else None)
    STANDING[entity.name] = Standing(entity.planned, entity.key, entity.ignore,
                                     entity.under_paths)
    for kind in entity.kinds:
        register_kind(kind)
    _version = next(_VERSION)
    return entity


def unregister(entity: Entity[Any]) -> None:
    """Take an entity and its kinds out again (a test's own entity, at its teardown)."""
    global _version
    del ENTITIES[entity.name]
    del _BY_MODEL[entity.model]
    del HELD[entity.model]
    del STANDING[entity.name]
    for kind in entity.kinds:
        unregister_kind(kind)
    _version = next(_VERSION)


def version() -> int:
    """Changes whenever the registry does (what is built from it is cached by it)."""
    return _version


def entity_of(model: type[Any]) -> Entity[Any]:
    return _BY_MODEL[model]


def keeping_ignored(field: str) -> Callable[[Any, Any, PlanContext], Any]:
    """A `settle` for a principal: the declared one keeps the ignored managed policies
    attached to it live (its `field` of ARNs); iamstate never detaches those."""

    def settle(declared: Any, live: Any, ctx: PlanContext) -> Any:
        extra = {arn for arn in getattr(live, field) if ctx.ignored_policy(arn)} if live else ()
        return dataclasses.replace(declared, **{field: getattr(declared, field)
                                                | frozenset(extra)}) if extra else declared

    return settle


def named(name: str) -> Entity[Any] | None:
    return ENTITIES.get(name)


def in_order(entities: Iterable[Entity[Any]] | None = None) -> list[Entity[Any]]:
    """Entities after the ones they need (in registration order otherwise)."""
    pending = list(ENTITIES.values() if entities is None else entities)
    done: list[Entity[Any]] = []
    seen: set[type[Any]] = set()

    def visit(entity: Entity[Any], trail: tuple[str, ...]) -> None:
        if entity.model in seen:
            return
        if entity.name in trail:
            raise ValueError(f"entities need each other in a cycle: {(*trail, entity.name)}")
        for model in entity.needs:
            visit(_BY_MODEL[model], (*trail, entity.name))
        seen.add(entity.model)
        done.append(entity)

    for entity in pending:
        visit(entity, ())
    return done
