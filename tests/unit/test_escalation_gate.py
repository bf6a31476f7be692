"""The gate a security team relies on (issue 19): status is about a principal's power, not
the route to it; a path is per (id, principal), so a user who joins a group carrying one
has it newly; an acceptance pins the reach the reviewer read, and a wider reach is new."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from iamstate.analysis.consequences import consequences
from iamstate.analysis.reach import Reach
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.model.account import AcceptedRisk, AccountConfig
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument
from tests.helpers import ROOT, allow, doc

ACCOUNT = "123456789012"
CONFIG = AccountConfig("acme", ACCOUNT, Path("."))
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
DOCUMENTS = {ADMIN: {"Version": "2012-10-17",
                     "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}



def example_policy(name: str) -> PolicyDocument:
    text = (ROOT / "policies" / f"{name}.json").read_text()
    return PolicyDocument(json.loads(text.replace("${account_id}", ACCOUNT)
                                     .replace("${partition}", "aws")))


def statuses(before: State, after: State, config: AccountConfig = CONFIG
             ) -> set[tuple[str, str, str]]:
    return {(f.id, f.principal, f.status)
            for f in consequences(config, before, after, DOCUMENTS).findings}


ADMINS = Group("Admins", managed_policies=frozenset({ADMIN}))
STRATEGY_GROUPS = {"AllUsers": Group("AllUsers", inline_policies=(
                       ("SelfManageCredentials", example_policy("self-manage-credentials")),)),
                   "AllHumans": Group("AllHumans", inline_policies=(
                       ("RequireMFA", example_policy("require-mfa")),))}


def test_an_administrator_before_and_after_the_first_strategy_pull_request_is_not_new() -> None:
    """The adoption scenario: imported Admins, then everyone into AllUsers and a category
    (MFA now required: their access narrowed). Nobody gains power: no finding at all."""
    before = State({"alice": User("alice", groups=frozenset({"Admins"})),
                    "bob": User("bob")}, {"Admins": ADMINS})
    strategy = frozenset({"AllUsers", "AllHumans"})
    after = State({"alice": User("alice", groups=frozenset({"Admins"}) | strategy),
                   "bob": User("bob", groups=strategy)},
                  {"Admins": ADMINS, **STRATEGY_GROUPS})
    assert statuses(before, after) == set()
    # the control: bob joining Admins in the same pull request is new power
    promoted = State({**after.users, "bob": User("bob", groups=strategy | {"Admins"})},
                     after.groups)
    assert ("ADMIN-EQUIVALENT", "user/bob", "new") in statuses(before, promoted)


def test_an_administrator_whose_route_changes_is_still_not_new() -> None:
    """From a group's AdministratorAccess to a user's own iam:* and back: the same power."""
    own = User("carol", inline_policies=(("own", doc(allow("*"))),))
    by_group = State({"carol": User("carol", groups=frozenset({"Admins"}))}, {"Admins": ADMINS})
    alone = State({"carol": own}, {"Admins": ADMINS})
    assert statuses(alone, by_group) == set()
    assert statuses(by_group, alone) == set()


JOINERS = Group("Joiners", inline_policies=(("p", doc(allow(
    "iam:AddUserToGroup", f"arn:aws:iam::{ACCOUNT}:group/Incident"))),))


def test_joining_a_group_that_carries_an_unaccepted_path_is_new_for_the_joiner() -> None:
    before = State({"dan": User("dan"), "erin": User("erin", groups=frozenset({"Joiners"}))},
                   {"Joiners": JOINERS})
    after = State({"dan": User("dan", groups=frozenset({"Joiners"})),
                   "erin": before.users["erin"]}, {"Joiners": JOINERS})
    assert statuses(before, after) == {("ESC-ADD-USER-TO-GROUP", "user/dan", "new")}
    # the control: the group's path accepted (for its members) makes the join accepted
    accepting = AccountConfig("acme", ACCOUNT, Path("."), accepted_risks=(
        AcceptedRisk("ESC-ADD-USER-TO-GROUP", "group/Joiners", "on-call"),))
    assert statuses(before, after, accepting) == {
        ("ESC-ADD-USER-TO-GROUP", "user/dan", "accepted")}


def test_a_group_that_newly_carries_a_path_is_shown_once_on_the_group() -> None:
    before = State({"dan": User("dan", groups=frozenset({"Joiners"}))},
                   {"Joiners": Group("Joiners")})
    after = State(before.users, {"Joiners": JOINERS})
    assert statuses(before, after) == {("ESC-ADD-USER-TO-GROUP", "group/Joiners", "new")}


def _ops(resource: str, condition: dict[str, Any] | None = None) -> State:
    group = Group("Ops", inline_policies=(("p", doc(allow("iam:CreateAccessKey", resource,
                                                          condition))),))
    return State({}, {"Ops": group})


CONTRACTORS = f"arn:aws:iam::{ACCOUNT}:user/contractor-*"
EVERYONE = f"arn:aws:iam::{ACCOUNT}:user/*"
MFA = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def _accepting(reach: tuple[Reach, ...] | None) -> AccountConfig:
    return AccountConfig("acme", ACCOUNT, Path("."), accepted_risks=(
        AcceptedRisk("ESC-CREATE-ACCESS-KEY", "group/Ops", "rotation", reach=reach),))


def _reach_printed(state: State) -> tuple[Reach, ...]:
    """The reach as the plan prints it for the finding (what a reviewer pastes)."""
    [finding] = consequences(CONFIG, State(), state, {}).findings
    return finding.reach


def test_an_acceptance_covers_the_reach_it_was_given_and_nothing_wider() -> None:
    narrow = _ops(CONTRACTORS, MFA)
    config = _accepting(_reach_printed(narrow))
    assert statuses(State(), narrow, config) == {("ESC-CREATE-ACCESS-KEY", "group/Ops",
                                                  "accepted")}
    for wider in (_ops(EVERYONE, MFA), _ops(CONTRACTORS)):  # resource, then condition
        meaning = consequences(config, narrow, wider, {})
        [finding] = meaning.findings
        assert finding.status == "new", wider
        assert "reaches further than accepted" in finding.detail
        # the plan prints the entry that accepts the new reach, and it does
        entry = finding.acceptance()
        assert entry.startswith("- {id: ESC-CREATE-ACCESS-KEY, principal: group/Ops, reach: ")
        assert statuses(narrow, wider, _accepting(finding.reach)) == {
            ("ESC-CREATE-ACCESS-KEY", "group/Ops", "accepted")}


def test_an_acceptance_without_a_reach_still_accepts_as_before() -> None:
    assert statuses(State(), _ops(EVERYONE), _accepting(None)) == {
        ("ESC-CREATE-ACCESS-KEY", "group/Ops", "accepted")}


def test_removing_the_deny_that_narrowed_an_accepted_path_is_new() -> None:
    deny = {"Effect": "Deny", "Action": "iam:CreateAccessKey", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": "eu-west-1"}}}
    narrowed = State({}, {"Ops": Group("Ops", inline_policies=(
        ("p", doc(allow("iam:CreateAccessKey", CONTRACTORS), deny)),))})
    config = _accepting(_reach_printed(narrowed))
    assert statuses(narrowed, _ops(CONTRACTORS), config) == {
        ("ESC-CREATE-ACCESS-KEY", "group/Ops", "new")}


RESOURCES = st.sampled_from([CONTRACTORS, EVERYONE, f"arn:aws:iam::{ACCOUNT}:user/ops/*",
                             f"arn:aws:iam::{ACCOUNT}:user/contractor-a", "*"])
CONDITIONS = st.sampled_from([None, MFA, {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}])


@settings(max_examples=120, deadline=None, derandomize=True)
@given(RESOURCES, CONDITIONS, RESOURCES, CONDITIONS)
def test_a_widened_reach_is_never_accepted(resource: str, condition: dict[str, Any] | None,
                                           wider: str, other: dict[str, Any] | None) -> None:
    """Whatever was accepted, a reach that is not inside it is new; judged independently:
    the new resource is not inside the old one, or the old condition is dropped."""
    accepted = _ops(resource, condition)
    changed = _ops(wider, other)
    config = _accepting(_reach_printed(accepted))
    widened = not _inside(wider, resource) or (condition is not None and other != condition)
    [status] = {s for _, _, s in statuses(accepted, changed, config)} or {"standing"}
    if widened:
        assert status == "new"
    else:
        assert status in ("standing", "accepted")


def _inside(inner: str, outer: str) -> bool:
    """Independent of the code under test: the sampled patterns' containment by hand."""
    if outer == "*" or inner == outer:
        return True
    if inner == "*":
        return False
    if outer.endswith("user/*"):
        return True
    return outer.endswith("contractor-*") and inner.endswith("contractor-a")


def test_a_finding_the_pull_request_accepts_shows_in_the_comments_visible_table() -> None:
    """Unfolded: the table's "accepted here" column names the finding and the entry's
    file:line (the folded sections hold the detail)."""
    from iamstate.hosts.comment import render_summary
    from iamstate.model.location import Location
    from iamstate.plan.planner import plan_account

    where = Location(Path("accounts/acme/account.yaml"), 12)
    config = AccountConfig("acme", ACCOUNT, Path("."), accepted_risks=(
        AcceptedRisk("ESC-ADD-USER-TO-GROUP", "group/Joiners", "on-call", where),))
    desired = State({}, {"Joiners": JOINERS})
    plan = plan_account(config, desired, State(), {})
    comment = render_summary([(plan, "sha256:x")], "", "1.0")
    head = comment.split("<details>", 1)[0]
    assert "| accepted here |" in head
    assert "ESC-ADD-USER-TO-GROUP group/Joiners at accounts/acme/account.yaml:12" in head
    unaccepted = plan_account(CONFIG, desired, State(), {})
    assert "| none |" in render_summary([(unaccepted, "sha256:x")], "", "1.0")
