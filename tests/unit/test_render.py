"""Renderers: text for people, markdown for PRs (under GitHub's limit), JSON for machines."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from iamstate.model import AccountConfig, Credentials, State, User
from iamstate.plan import plan_account
from iamstate.render import GITHUB_COMMENT_LIMIT, render_json, render_markdown, render_text
from tests.helpers import extended
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
    plan = plan_account(CONFIG, desired, State())
    text = render_markdown([plan], "the `plan-acme` artifact")
    assert len(text) < GITHUB_COMMENT_LIMIT
    # 10,009 headlines do not fit, and no change's headline is ever cut: it says so (and a
    # merge cannot apply what no comment showed)
    assert "too large to review in a comment" in text and "the `plan-acme` artifact" in text
    assert "Plan: 10009 to add, 0 to change, 0 to destroy." in text


def test_markdown_folds_policy_diffs_into_details() -> None:
    plan = plan_account(CONFIG, desired_state(), State())
    text = render_markdown([plan])
    assert "<details><summary>Policy document changes</summary>" in text
    assert "```diff" in text
