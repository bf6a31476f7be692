"""What the plan says about people, in words (issue 21): conditions as idioms on the gain
line and as written only in the folded detail, their own user, numbers and lists with
agreeing verbs — the same in text, in the PR comment and from the plan file."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.outputs.markdown import render_markdown
from iamstate.outputs.text import render_text
from iamstate.plan import planfile
from iamstate.plan.planner import AccountPlan, plan_account
from iamstate.repository.policy import PolicyDocument

CONFIG = AccountConfig("acme", "123456789012", Path("."))
ACCOUNT = "123456789012"


def doc(*statements: dict[str, object]) -> PolicyDocument:
    return PolicyDocument({"Version": "2012-10-17", "Statement": list(statements)})


REQUIRE_MFA = doc({"Effect": "Deny", "NotAction": "iam:ChangePassword", "Resource": "*",
                   "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}})
DATA = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lake/*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]}}},
           {"Effect": "Allow", "Action": "iam:ChangePassword",
            "Resource": f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"})
ADMIN = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
GROUPS = {"AllHumans": Group("AllHumans", inline_policies=(("RequireMFA", REQUIRE_MFA),)),
          "Data": Group("Data", inline_policies=(("Lake", DATA),)),
          "Admins": Group("Admins", inline_policies=(("all", ADMIN),))}


def plan(before: dict[str, set[str]], after: dict[str, set[str]]) -> AccountPlan:
    def state(members: dict[str, set[str]]) -> State:
        return State({n: User(n, groups=frozenset(g)) for n, g in members.items()}, GROUPS)
    made = plan_account(CONFIG, state(after), state(before))
    return planfile.account_from_json(json.loads(json.dumps(planfile.account_to_json(made))))


def text(planned: AccountPlan) -> str:
    buffer = io.StringIO()
    render_text([planned], Console(file=buffer, width=400, color_system=None))
    return buffer.getvalue()


def test_gains_say_the_idioms_and_fold_the_json_in_both_outputs() -> None:
    planned = plan({"alice": {"AllHumans"}}, {"alice": {"AllHumans", "Data"}})
    screen = text(planned)
    gain = next(line for line in screen.splitlines() if "s3:GetObject" in line)
    assert gain.strip() == ("gains s3:GetObject on arn:aws:s3:::lake/* only from 10.0.0.0/8 or "
                            "192.0.2.0/24, only with MFA  (via group/Data inline Lake; "
                            "restricted by group/AllHumans inline RequireMFA)")
    detail = screen.splitlines()[screen.splitlines().index(gain) + 1]
    assert detail.strip().startswith("as written: when {\"IpAddress\"")
    assert "denied when {\"BoolIfExists\"" in detail
    assert screen.count("MultiFactorAuthPresent") == screen.count("as written: ")  # folded only
    markdown = render_markdown([planned])
    fold = markdown[markdown.index("<details><summary>alice"):]
    fold = fold[:fold.index("</details>")]
    assert "+ s3:GetObject on arn:aws:s3:::lake/* only from 10.0.0.0/8" in fold
    assert "\n  as written: when {\"IpAddress\"" in fold  # a context line of the diff
    outside = markdown.replace(fold, "")
    assert "MultiFactorAuthPresent" not in outside and "aws:SourceIp" not in outside


def test_their_own_user_reads_so() -> None:
    screen = text(plan({"alice": set()}, {"alice": {"Data"}}))
    assert "gains iam:ChangePassword on their own user  (via group/Data inline Lake)" in screen


def test_several_new_administrators_agree_with_their_verb() -> None:
    two = text(plan({"jdoe": set(), "shadow-admin": set()},
                    {"jdoe": {"Admins"}, "shadow-admin": {"Admins"}}))
    assert "! jdoe and shadow-admin become administrator-equivalent" in two
    gone = text(plan({"a": {"Admins"}, "b": {"Admins"}, "c": {"Admins"}},
                     {"a": set(), "b": set(), "c": set()}))
    assert "! a, b and c are no longer administrator-equivalent" in gone
    one = text(plan({"jdoe": set()}, {"jdoe": {"Admins"}}))
    assert "! jdoe becomes administrator-equivalent" in one
    many = text(plan({f"u{i}": set() for i in range(7)}, {f"u{i}": {"Admins"} for i in range(7)}))
    assert "! u0, u1, u2, u3, u4 and 2 more become administrator-equivalent" in many
