"""The engine composes each set of groups from its groups' pieces (worked out once per group
and set of Denies) and skips the pieces both sides of a diff share. Here the straightforward
computation is the referee: every statement of the set through `_effective`, every piece of
a diff through the full `_minus`, grants built for the admin flag and the actions held. On
random memberships and policies (Allow and Deny, conditions, `${aws:username}`, IAM actions
that make paths and administrators), both must give the same answer, order included."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from iamstate.analysis import consequences as consequences_module
from iamstate.analysis import escalation
from iamstate.analysis.consequences import consequences
from iamstate.analysis.escalation import administrators, escalation_findings
from iamstate.analysis.permissions import (
    ActionSet,
    Context,
    PermissionEngine,
    Region,
    permission_diff,
)
from iamstate.analysis.permissions import engine as engine_module
from iamstate.analysis.permissions.engine import _Key
from iamstate.analysis.permissions.regions import _region_minus_all
from iamstate.analysis.permissions.statements import _effective, _merge, _partition, _Piece
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.model.state import State
from tests.unit.test_consequences import ACCOUNT, CONFIG, document, documents_changed, states
from tests.unit.test_permission_diff_evaluated import state_pairs

CTX = Context(ACCOUNT)


def _full_minus(after: Sequence[_Piece], before: Sequence[_Piece]) -> tuple[_Piece, ...]:
    """`_minus` as it reads without the shortcut: every piece of `after` looked at."""
    covered: dict[Region, int] = {}
    for b in before:
        covered[b.region] = covered.get(b.region, 0) | b.actions.bits
    out: list[_Piece] = []
    for piece in after:
        remaining = piece.actions.bits & ~covered.get(piece.region, 0)
        if not remaining:
            continue
        for bits, regions in _partition(remaining, covered):
            for region in _region_minus_all(piece.region, regions):
                out.append(_Piece(ActionSet(bits), region, piece.via, piece.denied_by))
    return _merge(out)


class Straight(PermissionEngine):
    """The engine computing every set from all its statements, as it did per set."""

    def pieces(self, key: _Key, username: str | None = None) -> tuple[_Piece, ...]:
        return _effective(self._statements(key, username))

    def admin(self, key: _Key) -> bool:
        return self.permission_set(key).admin

    def present(self, key: _Key) -> int:
        bits = 0
        for grant in self.permission_set(key).grants:
            bits |= grant.action_set.bits
        return bits


@contextmanager
def straightforward() -> Iterator[None]:
    with patch.object(engine_module, "_minus", _full_minus), \
            patch.object(consequences_module, "PermissionEngine", Straight):
        yield


def _keys(engine: PermissionEngine, state: State) -> list[_Key]:
    return [engine.user_key(state, user) for user in state.users.values()]


def assert_composed_as_computed(*states_: State) -> None:
    composed, straight = PermissionEngine(CTX), Straight(CTX)
    for state in states_:
        for key in _keys(composed, state) + [frozenset(k) for k in _keys(straight, state)]:
            pieces = composed.pieces(key)
            assert pieces == _effective(composed._statements(key, None))
            assert composed.permission_set(key) == straight.permission_set(key)
            assert composed.admin(key) == straight.admin(key)
            assert composed.present(key) == straight.present(key)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(states(), states())
def test_each_set_composed_from_its_groups_is_the_set_computed_whole(before: State,
                                                                    after: State) -> None:
    assert_composed_as_computed(before, after)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(state_pairs())
def test_the_diff_composed_is_the_diff_computed_per_set(pair: tuple[State, State]) -> None:
    before, after = pair
    assert_composed_as_computed(before, after)
    composed = permission_diff(before, after, CTX)
    with straightforward():
        straight = permission_diff(before, after, CTX, engine=Straight(CTX))
    assert composed == straight


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.one_of(st.tuples(states(), states()), documents_changed()))
def test_the_consequences_are_those_computed_per_set(pair: tuple[State, State]) -> None:
    """Gains and losses, administrators (directly or by escalation) and findings."""
    before, after = pair
    meaning = consequences(CONFIG, before, after, {})
    with straightforward():
        straight = consequences(CONFIG, before, after, {})
    assert meaning == straight
    for state in pair:
        assert administrators(state, CTX, PermissionEngine(CTX)) == \
            administrators(state, CTX, Straight(CTX))
        assert escalation_findings(state, CTX, PermissionEngine(CTX)) == \
            escalation_findings(state, CTX, Straight(CTX))
        assert_paths_as_computed(state)


def assert_paths_as_computed(state: State) -> None:
    """A user's paths are cached per the grants that decide them (shared between sets
    of groups): each must be what the user's whole permission set gives."""
    analysis = escalation._analysis(state, CTX, PermissionEngine(CTX))
    for name in sorted(state.users):
        user = state.users[name]
        groups = tuple(analysis.group_arn(g) for g in analysis.user_groups(user))
        assert analysis.user_paths(user) == escalation._paths(
            analysis.user_perms(user), groups, CTX, analysis.roles), name


def test_a_change_to_one_group_composes_the_other_groups_once() -> None:
    """The point of composing: a set's pieces are its groups', shared between the sets
    (one group's pieces are the same objects in every set holding it, under the same
    Denies), so a diff skips them without comparing regions."""
    team = document([{"Effect": "Allow", "Action": "s3:GetObject",
                      "Resource": "arn:aws:s3:::team/*"}])
    common = document([{"Effect": "Allow", "Action": "sts:GetCallerIdentity",
                        "Resource": "*"}])
    groups = {"All": Group("All", inline_policies=(("p", common),)),
              **{f"T{i}": Group(f"T{i}", inline_policies=(("p", team),)) for i in range(3)}}
    users = {f"u{i}": User(f"u{i}", groups=frozenset({"All", f"T{i % 3}", f"T{(i + 1) % 3}"}))
             for i in range(6)}
    state = State(users, groups)
    engine = PermissionEngine(CTX)
    keys = {engine.user_key(state, u) for u in users.values()}
    t0 = engine.group_unit(state, groups["T0"])
    with_t0 = [engine.pieces(k) for k in keys if t0 in k]
    assert len(with_t0) == 2
    shared = [p for p in with_t0[0] if "group/T0 inline p" in p.via]
    assert shared and all(any(p is q for q in with_t0[1]) for p in shared)
