"""Class: what the reviewer sees must be everything. Every policy document a plan creates or
changes is shown in full; a PR comment cut to fit GitHub's limit never cuts deletions,
replacements or policy documents, and says exactly what it left out and where it is."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from iamstate.entities.group.model import Group
from iamstate.entities.managed_policy.model import ManagedPolicy
from iamstate.entities.user.model import Credentials, User
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.outputs.lines import headline
from iamstate.outputs.markdown import GITHUB_COMMENT_LIMIT, render_markdown
from iamstate.outputs.text import render_text
from iamstate.plan.planner import plan_account
from iamstate.repository.policy import PolicyDocument
from tests.e2e.conftest import Cli
from tests.helpers import ACCOUNT_ID

CONFIG = AccountConfig("acme", ACCOUNT_ID, Path("."))


def test_a_new_managed_policy_shows_its_document_everywhere(cli: Cli) -> None:
    (cli.repo / "accounts/sandbox/admin.yaml").write_text(
        "policies:\n  everything-iam:\n    document:\n      Version: '2012-10-17'\n"
        "      Statement: [{Effect: Allow, Action: 'iam:*', Resource: '*'}]\n")
    text = cli("plan")
    assert "+ create managed policy everything-iam" in text.out
    section = text.out.split("+ create managed policy everything-iam", 1)[1]
    assert '"iam:*"' in section.split("+ create", 1)[0]  # under its own headline
    markdown = cli("plan", "--format", "markdown").out
    details = markdown.split("<summary>Policy document changes</summary>", 1)[1]
    assert "`create managed policy everything-iam`" in details and '"iam:*"' in details
    as_json = json.loads(cli("plan", "--format", "json").out)
    [created] = [c for c in as_json["accounts"][0]["changes"]
                 if c["kind"] == "policy" and c["name"] == "everything-iam"]
    assert created["detail"]["after"]["document"]["Statement"][0]["Action"] == "iam:*"


def doc(i: int) -> PolicyDocument:
    return PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{i}/*"}]})


def big_plan(creations: int, deletions: int, documents: int) -> State:
    tags = tuple((f"label-{k}", "a value long enough to take room " * 3) for k in range(8))
    return State(
        users={f"new{i:05d}": User(f"new{i:05d}", groups=frozenset({"AllUsers"}), tags=tags)
               for i in range(creations)},
        groups={"AllUsers": Group("AllUsers")} | {
            f"G{i}": Group(f"G{i}", inline_policies=(("p", doc(i)),)) for i in range(documents)})


def test_a_cut_comment_keeps_every_deletion_and_document_and_says_what_it_cut() -> None:
    desired = big_plan(300, 0, 40)
    live = State(users={f"old{i:04d}": User(f"old{i:04d}", credentials=Credentials(
        access_keys=(f"AKIA{i:016d}",))) for i in range(300)},
        groups={f"G{i}": Group(f"G{i}", inline_policies=(("p", doc(i + 1000)),))
                for i in range(40)},
        policies={"gone": ManagedPolicy("gone", doc(9))})
    plan = plan_account(CONFIG, desired, live)
    text = render_markdown([plan], "the `plan-acme` artifact")
    assert len(text) < GITHUB_COMMENT_LIMIT
    destructive = [c for c in plan.changes if headline(c).startswith(("- ", "-/+ "))]
    assert len(destructive) == 301
    for change in destructive:
        assert headline(change) in text
    for i in range(40):
        assert f"`update group inline policy G{i}/p`" in text
        assert f"bucket-{i}/*" in text
    for change in plan.changes:  # every headline, creations and memberships included
        assert headline(change) in text
    assert "detail lines of creations and updates not shown here" in text
    assert ("every change (by its headline), deletion, replacement, policy document change, "
            "new administrator and escalation finding is above") in text
    assert "the `plan-acme` artifact" in text
    assert "Plan: 601 to add, 40 to change, 301 to destroy." in text


def test_a_plan_whose_deletions_alone_do_not_fit_says_so_and_cuts_none_silently() -> None:
    live = State(users={f"old-user-with-a-long-name-{i:05d}": User(
        f"old-user-with-a-long-name-{i:05d}") for i in range(3000)})
    plan = plan_account(CONFIG, State(), live)
    text = render_markdown([plan], "the `plan-acme` artifact")
    assert len(text) < GITHUB_COMMENT_LIMIT
    assert "too large to review in a comment" in text and "the `plan-acme` artifact" in text
    assert "3,000 deletions or replacements" in text


def outside_code(markdown: str) -> list[str]:
    """The lines GitHub renders as markdown/HTML (not inside a fenced code block)."""
    lines, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip(" ")[:3] == "```" and len(line) - len(line.lstrip(" ")) <= 3:
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


INJECTIONS = ["Harmless\n```\n\n_No other changes._\n<!--",
              "x\r\n+ create user decoy",
              "```<!-- a -->``` \u202e",
              "</details><!--"]


def test_text_from_the_repository_cannot_hide_or_forge_plan_lines() -> None:
    for text in INJECTIONS:
        doc = PolicyDocument({"Version": "2012-10-17", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": f"arn:aws:s3:::b/{text}"}]})
        desired = State(policies={"helper": ManagedPolicy("helper", doc, description=text)},
                        users={"kim": User("kim", console_access=True,
                                           public_key="age1" + "q" * 58)},
                        groups={"Admins": Group("Admins", managed_policies=frozenset(
                            {"arn:aws:iam::aws:policy/AdministratorAccess"}))})
        plan = plan_account(CONFIG, desired, State())
        markdown = render_markdown([plan])
        rendered = outside_code(markdown)
        assert not any("<!--" in line or "</details><!" in line for line in rendered), text
        for change in plan.changes:  # every headline is inside a code block, on its own
            assert headline(change) in markdown.splitlines()
            assert headline(change) not in rendered
        assert markdown.count("\n```") % 2 == 0
        buffer = io.StringIO()
        render_text([plan], Console(file=buffer, width=300, color_system=None))
        assert "\n+ create user decoy" not in buffer.getvalue()
        assert "\n  + create user decoy" not in buffer.getvalue()
