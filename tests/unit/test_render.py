"""Renderers: text for people, markdown for PRs (under GitHub's limit), JSON for machines."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from rich.console import Console

from iamstate.entities.group.model import Group
from iamstate.entities.user.model import Credentials, User
from iamstate.hosts.comment import parse_comment, render_summary, row_shows, section_text
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.outputs.jsondoc import render_json
from iamstate.outputs.lines import diff_lines
from iamstate.outputs.markdown import (
    GITHUB_COMMENT_LIMIT,
    TOO_LARGE_LEVEL,
    render_level,
    render_markdown,
)
from iamstate.outputs.text import render_text
from iamstate.plan import planfile
from iamstate.plan.kinds import kind_of
from iamstate.plan.planner import AccountPlan, plan_account
from iamstate.repository.policy import PolicyDocument
from tests.helpers import extended
from tests.unit.test_consequences import CONFIG as MEANING_CONFIG
from tests.unit.test_consequences import states as consequence_states
from tests.unit.test_plan import desired_state

CONFIG = AccountConfig("acme", "123456789012", Path("."))


def test_text_shows_symbols_teardown_and_summary() -> None:
    live = extended(desired_state(), users={
        "old": User("old", credentials=Credentials(login_profile=True,
                                                   mfa_devices=("arn:mfa/old",))),
        "jdoe": None})
    plan = plan_account(CONFIG, desired_state(), live)
    buffer = io.StringIO()
    render_text([plan], Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "+ create user jdoe" in text
    assert "- destroy user old" in text
    assert "teardown removes: login profile, MFA device arn:mfa/old" in text
    assert text.strip().endswith("Plan: 3 to add, 0 to change, 1 to destroy.")


def test_json_is_the_documented_shape() -> None:
    plan = plan_account(CONFIG, desired_state(), State())
    data = json.loads(render_json([plan]))
    assert data["format_version"] == 2
    [account] = data["accounts"]
    assert set(account) == {"account", "account_id", "live_digest", "desired_digest",
                            "changes", "kept", "consequences", "summary", "digest"}
    assert account["summary"] == {"create": 9, "update": 0, "delete": 0}
    assert account["changes"][0] == {**account["changes"][0], "action": "create",
                                     "kind": "password_policy"}


def test_markdown_of_a_huge_plan_stays_under_githubs_limit() -> None:
    desired = extended(desired_state(), users={
        f"user{i:05d}": User(f"user{i:05d}", groups=frozenset({"AllUsers"}))
        for i in range(5000)})
    live = State(users={"leaver": User("leaver")})
    plan = plan_account(CONFIG, desired, live)
    text = render_markdown([plan], "the `plan-acme` artifact")
    assert len(text) < GITHUB_COMMENT_LIMIT
    # 10,009 headlines do not fit: identical ones are grouped (members folded), and the
    # deletion and every policy document still show on their own
    assert "too large to review in a comment" not in text
    assert "Plan: 10009 to add, 0 to change, 1 to destroy." in text
    assert "- destroy user leaver" in text
    assert "+ create 5,000 users user00000 ... user04999" in text.splitlines()
    assert "+ create 5,001 group memberships jdoe ... user04999 AllUsers" in text
    assert "+ create group membership jdoe Devs" in text  # not identical: on its own
    assert "more in the plan file artifact" in text and "the `plan-acme` artifact" in text
    for change in plan.changes:
        if diff_lines(change):
            assert f"`{change.verb} {kind_of(change).label}" in text


def test_too_large_says_exactly_what_exceeded() -> None:
    """Only the part never cut can be too large, and the comment says which, in numbers."""
    doc = PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    gone = State(users={f"leaving-user-with-a-long-name-{i:05d}": User(
        f"leaving-user-with-a-long-name-{i:05d}") for i in range(2500)})
    text = render_markdown([plan_account(CONFIG, State(), gone)])
    assert "too large to review in a comment" in text
    assert "its 2,500 deletions and replacements take 127,500 characters by headline " \
        "alone, more than the 60,000 characters a comment holds here" in text
    one = State(users={"leaver": User("leaver")})
    small = render_markdown([plan_account(CONFIG, State(groups={"G": Group(
        "G", inline_policies=(("p", doc),))}), one)])
    assert "too large" not in small and "- destroy user leaver" in small


def test_markdown_folds_policy_diffs_into_details() -> None:
    plan = plan_account(CONFIG, desired_state(), State())
    text = render_markdown([plan])
    assert "<details><summary>Policy document changes</summary>" in text
    assert "```diff" in text


# -- the plan file renders exactly as the plan in memory ---------------------------------------


def _text(plan: AccountPlan) -> str:
    buffer = io.StringIO()
    render_text([plan], Console(file=buffer, width=200, color_system=None))
    return buffer.getvalue()


def _from_file(plan: AccountPlan) -> AccountPlan:
    """The plan as the comment job sees it: written to a plan file and read back."""
    return planfile.account_from_json(json.loads(json.dumps(planfile.account_to_json(plan))))


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(live=consequence_states(), desired=consequence_states())
def test_a_plan_read_back_from_its_file_renders_as_in_memory(live: State,
                                                             desired: State) -> None:
    """The PR comment is rendered from the plan file, apply renders the plan in memory:
    they must be the same text at every level of detail, or no merge would apply."""
    plan = plan_account(MEANING_CONFIG, desired, live)
    back = _from_file(plan)
    assert planfile.account_to_json(back) == planfile.account_to_json(plan)
    assert back.consequences == plan.consequences
    assert _text(back) == _text(plan)
    for level in range(TOO_LARGE_LEVEL + 1):
        assert render_level([back], "", level) == render_level([plan], "", level), level
        assert section_text(back, "", level) == section_text(plan, "", level), level


def test_an_administrator_gaining_a_permission_is_not_shown_as_a_new_administrator() -> None:
    """The example the property found first: admin before and after, one grant more."""
    admin = PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
    read = PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
    groups = {"Admins": Group("Admins", inline_policies=(("all", admin),)),
              "Readers": Group("Readers", inline_policies=(("read", read),))}
    live = State({"boss": User("boss", groups=frozenset({"Admins"}))}, groups)
    desired = State({"boss": User("boss", groups=frozenset({"Admins", "Readers"}))}, groups)
    for before, after in ((live, desired), (desired, live)):  # gains, then loses
        plan = plan_account(CONFIG, after, before)
        assert plan.consequences and plan.consequences.users["boss"].admin_before
        for rendered in (render_markdown([_from_file(plan)]), _text(_from_file(plan))):
            assert "becomes administrator-equivalent" not in rendered
            assert "is no longer administrator-equivalent" not in rendered


def test_a_thousand_accounts_fit_one_comment_without_losing_a_deletion_or_a_finding() -> None:
    """Rows with the same counts share one row (names listed, ids left to the sections'
    digests) when a row each would not fit; each account stays in exactly one row, and the
    account with a deletion and the one with a new finding keep rows of their own counts."""
    admin = PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]})
    plans = []
    for i in range(1000):
        config = AccountConfig(f"team-{i:04d}", f"{200000000000 + i}", Path("."))
        desired = State({"svc": User("svc")})
        live = State()
        if i == 500:
            live = State({"leaver": User("leaver")})
        if i == 700:
            desired = State({"svc": User("svc", groups=frozenset({"Ops"}))},
                            {"Ops": Group("Ops", inline_policies=(("all", admin),))})
        plan = plan_account(config, desired, live)
        plans.append((plan, planfile.account_to_json(plan)["digest"]))
    body = render_summary(plans, "", "0.2.0")
    assert len(body) < GITHUB_COMMENT_LIMIT and "Too many accounts" not in body
    parsed = parse_comment(body)
    assert parsed is not None and parsed.compose() == body
    names = [n for row in parsed.rows for n in row.names]
    assert sorted(names) == [p.config.name for p, _ in plans]
    assert len(parsed.rows) < 10
    [deleting] = [r for r in parsed.rows if "team-0500" in r.names]
    assert deleting.delete == 1 and deleting.names == ("team-0500",)
    assert deleting.account_id == "200000000500"
    [finding] = [r for r in parsed.rows if "team-0700" in r.names]
    assert finding.new >= 1
    assert "- destroy user leaver" in body and "ADMIN-EQUIVALENT" in body
    assert all(row_shows(next(r for r in parsed.rows if p.config.name in r.names), p)
               for p, _ in plans)
