"""The `State` both sides are read into: the repository's (desired) and AWS's (live).

A state holds each entity's items by name, found by the entity's model class
(`state.get(User)`) or key (`state.items("users")`): a new entity (iamstate/entities/)
needs nothing here. What the state must know of an entity (its key, whether it is planned
and how its items are digested) is in `HELD`, which each entity's registration fills in
(iamstate/entities/registry.py): this module imports no entity.

Every object is immutable all the way down: mappings are `FrozenDict`, lists in policy
documents `FrozenList`, collections tuples or frozensets. Fields that take part in
comparison are what iamstate manages; `compare=False` fields are context (where a resource
was declared, what credentials a live user holds, what else uses a policy): the plan shows
them and a stale plan is recognised by them, but they never make a change on their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from iamstate.model.fields import NOT_IN_PLAN
from iamstate.model.frozen import FrozenDict, frozen_map

if TYPE_CHECKING:
    from iamstate.entities.group.model import Group
    from iamstate.entities.managed_policy.model import ManagedPolicy
    from iamstate.entities.password_policy.model import PasswordPolicy
    from iamstate.entities.role.model import Role
    from iamstate.entities.user.model import User

T = TypeVar("T")
EMPTY: Mapping[str, Any] = FrozenDict()
ONE = "account"  # the name of an entity there is one of per account (the password policy)


@dataclass(frozen=True)
class Held:
    """What a state knows of one entity: where its items are, and, for an entity a plan
    changes, how an item is digested (None: read for the analysis only, as roles)."""

    key: str
    single: bool = False  # one per account, named ONE
    digest: Callable[[Any], Any] | None = None


HELD: dict[type[Any], Held] = {}  # by model class; iamstate/entities/base.py's register


def held(model: type[Any]) -> Held:
    found = HELD.get(model)
    if found is None:
        raise LookupError(f"no entity holds {model.__name__}: entities register when "
                          "iamstate.entities.registry is imported")
    return found


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
        return state.replace(users=users, groups={**self.groups, **state.groups})


NO_OUTSIDE = Outside()
FIELDS = ("users", "groups", "policies")  # entities with a field of their own (see State)


@dataclass(frozen=True)
class State:
    """Everything iamstate manages in one account, desired or live: each entity's items by
    name under the entity's key. Users, groups, policies and the password policy have
    fields of their own (the names the planner, the analysis and the outputs read); any
    other entity's items are in `more`, by its key."""

    users: Mapping[str, User] = field(default_factory=FrozenDict)
    groups: Mapping[str, Group] = field(default_factory=FrozenDict)
    policies: Mapping[str, ManagedPolicy] = field(default_factory=FrozenDict)
    password_policy: PasswordPolicy | None = None
    # Live only, never compared nor planned: what the analysis reads around the state.
    outside: Outside = field(default=NO_OUTSIDE, compare=False, metadata=NOT_IN_PLAN)
    more: Mapping[str, Mapping[str, Any]] = field(default_factory=FrozenDict, kw_only=True)

    def __post_init__(self) -> None:
        for name in FIELDS:
            object.__setattr__(self, name, frozen_map(getattr(self, name)))
        object.__setattr__(self, "more", FrozenDict(
            {key: frozen_map(items) for key, items in self.more.items() if items}))

    @classmethod
    def of(cls, items: Mapping[str, Mapping[str, Any]], outside: Outside = NO_OUTSIDE
           ) -> State:
        """A state from each entity's items by its key ("users": {name: User}, ...)."""
        one = items.get("password_policy", EMPTY).get(ONE)
        return cls(**{key: items[key] for key in FIELDS if key in items},
                   password_policy=one, outside=outside,
                   more={k: v for k, v in items.items() if k not in (*FIELDS, "password_policy")})

    def get(self, model: type[T]) -> Mapping[str, T]:
        """The items of the entity whose model is `model`, by name (`state.get(User)`)."""
        return self.items(held(model).key)

    def items(self, key: str) -> Mapping[str, Any]:
        """The items under an entity's key ("users"), by name."""
        if key in FIELDS:
            found: Mapping[str, Any] = getattr(self, key)
            return found
        if key == "password_policy":
            return FrozenDict({ONE: self.password_policy}) if self.password_policy else EMPTY
        return self.more.get(key, EMPTY)

    def replace(self, **items: Mapping[str, Any]) -> State:
        """This state with some entities' items replaced (by key)."""
        keys = {*FIELDS, "password_policy", *self.more, *items}
        return State.of({key: items[key] if key in items else self.items(key) for key in keys},
                        self.outside)

    def digest(self) -> str:
        """A stable fingerprint of the managed content (context fields are left out)."""
        return digest_of(state_as_dict(self))


def digest_of(data: Any) -> str:
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def state_as_dict(state: State) -> dict[str, Any]:
    """The managed content of every planned entity, as each entity's `digest` says it."""
    planned = [(h, h.digest) for h in HELD.values() if h.digest is not None]
    if not planned:  # a digest of nothing would match any plan
        raise LookupError("no entity is registered: import iamstate.entities.registry")
    out: dict[str, Any] = {}
    for entity, digest in planned:
        items = state.items(entity.key)
        if entity.single:
            one = items.get(ONE)
            out[entity.key] = None if one is None else digest(one)
        else:
            out[entity.key] = {name: digest(item) for name, item in items.items()}
    return out


def iter_sorted(mapping: Mapping[str, T]) -> Iterator[T]:
    for key in sorted(mapping):
        yield mapping[key]
