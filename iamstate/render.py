"""Plan outputs: text for terminals, markdown for PR comments, JSON for machines.

None of them ever holds a secret: changes carry no passwords or keys to begin with.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from iamstate.plan import CREATE, DELETE, UPDATE, AccountPlan, Change

FORMAT_VERSION = 1
GITHUB_COMMENT_LIMIT = 65_536
MARKDOWN_BUDGET = 60_000  # headroom under GitHub's limit for the marker and footer
SYMBOLS = {CREATE: "+", UPDATE: "~", DELETE: "-"}
VERBS = {CREATE: "create", UPDATE: "update", DELETE: "destroy"}
STYLES = {CREATE: "green", UPDATE: "yellow", DELETE: "red"}
KINDS = {
    "password_policy": "account password policy",
    "policy": "managed policy",
    "group": "group",
    "group_policy": "group inline policy",
    "group_attachment": "group policy attachment",
    "user": "user",
    "login_profile": "login profile",
    "membership": "group membership",
    "user_policy": "user inline policy",
    "user_attachment": "user policy attachment",
}


def headline(change: Change) -> str:
    return f"{SYMBOLS[change.action]} {VERBS[change.action]} {KINDS[change.kind]} {change.name}"


def detail_lines(change: Change) -> list[str]:
    """The indented lines under a change: what it does beyond its headline."""
    detail = change.detail
    lines: list[str] = []
    if change.kind == "user" and change.action == DELETE:
        removes = detail.get("removes") or []
        lines.append("teardown removes: " + (", ".join(removes) if removes else "nothing else"))
    if "replace" in detail:
        lines.append(f"replaced (IAM cannot change {' or '.join(detail['replace'])} in place): "
                     "detached, deleted, created again and re-attached")
    if "delete_version" in detail:
        lines.append(f"deletes old version {detail['delete_version']} (IAM keeps 5 at most)")
    if change.kind == "password_policy":
        changed = detail.get("changed")
        settings = changed if changed else detail.get("settings", {})
        for key, value in settings.items():
            lines.append(f"{key}: {value['from']} -> {value['to']}" if changed
                         else f"{key}: {value}")
    if change.kind == "user" and change.action == CREATE:
        if detail.get("path", "/") != "/":
            lines.append(f"path: {detail['path']}")
        lines += [f"tag {key} = {value}" for key, value in (detail.get("tags") or {}).items()]
    if change.kind == "user" and change.action == UPDATE:
        if "path" in detail:
            lines.append(f"path: {detail['path']['from']} -> {detail['path']['to']}")
        tags = detail.get("tags") or {}
        for key, value in (tags.get("set") or {}).items():
            lines.append(f"tag {key} = {value}")
        for key in tags.get("remove") or []:
            lines.append(f"tag {key} removed")
    if change.kind == "group" and change.action == UPDATE:
        lines.append(f"path: {detail['from_path']} -> {detail['path']}")
    if change.kind == "group" and change.action == DELETE:
        for label, key in (("members removed", "members"),
                           ("inline policies deleted", "inline_policies"),
                           ("policies detached", "managed_policies")):
            if detail.get(key):
                lines.append(f"{label}: {', '.join(detail[key])}")
    return lines


def diff_lines(change: Change) -> list[str]:
    diff: list[str] = change.detail.get("diff") or []
    return diff


def summary_line(plans: Sequence[AccountPlan]) -> str:
    totals = {CREATE: 0, UPDATE: 0, DELETE: 0}
    for plan in plans:
        for action, count in plan.summary().items():
            totals[action] += count
    return (f"Plan: {totals[CREATE]} to add, {totals[UPDATE]} to change, "
            f"{totals[DELETE]} to destroy.")


def render_text(plans: Sequence[AccountPlan], console: Console) -> None:
    for plan in plans:
        config = plan.config
        console.print(f"[bold]Account {escape(config.name)}[/bold] ({config.account_id})")
        if not plan.changes:
            console.print("  No changes. Live state matches the repository.")
        for change in plan.changes:
            style = STYLES[change.action]
            console.print(f"  [{style}]{escape(headline(change))}[/{style}]")
            for line in detail_lines(change):
                console.print(f"      {escape(line)}")
            for line in diff_lines(change):
                colour = "green" if line.startswith("+") else "red" if line.startswith(
                    "-") else "dim"
                console.print(f"      [{colour}]{escape(line)}[/{colour}]")
        console.print()
    console.print(f"[bold]{summary_line(plans)}[/bold]")


def render_markdown(plans: Sequence[AccountPlan], full_plan_hint: str = "") -> str:
    """A PR comment, kept under GitHub's 65,536-character limit however large the plan."""
    hint = full_plan_hint or "run `iamstate plan` or see the plan file artifact"
    for with_diffs, max_lines in ((True, None), (False, None), (False, 2000), (False, 500),
                                  (False, 100)):
        text = _markdown(plans, with_diffs, max_lines, hint)
        if len(text) <= MARKDOWN_BUDGET:
            return text
    return _markdown(plans, False, 20, hint)[:MARKDOWN_BUDGET]


def _markdown(
    plans: Sequence[AccountPlan], with_diffs: bool, max_lines: int | None, hint: str
) -> str:
    out = [f"**{summary_line(plans)}**", ""]
    for plan in plans:
        config = plan.config
        summary = plan.summary()
        out.append(f"### Account `{config.name}` ({config.account_id}): "
                   f"{summary[CREATE]} to add, {summary[UPDATE]} to change, "
                   f"{summary[DELETE]} to destroy")
        if not plan.changes:
            out += ["", "No changes. Live state matches the repository.", ""]
            continue
        lines: list[str] = []
        for change in plan.changes:
            lines.append(headline(change))
            lines += [f"    {line}" for line in detail_lines(change)]
        shown = lines if max_lines is None else lines[:max_lines]
        out += ["", "```diff", *shown, "```"]
        if len(shown) < len(lines):
            out.append(f"_{len(lines) - len(shown):,} more lines not shown here; the full plan: "
                       f"{hint}._")
        diffs = [(c, diff_lines(c)) for c in plan.changes if diff_lines(c)]
        if diffs and with_diffs:
            out += ["", "<details><summary>Policy document changes</summary>", ""]
            for change, diff in diffs:
                out += [f"`{change.name}`", "", "```diff", *diff, "```", ""]
            out.append("</details>")
        elif diffs:
            out.append(f"_Policy document diffs left out to stay under GitHub's comment limit; "
                       f"the full plan: {hint}._")
        out.append("")
    return "\n".join(out)


def plan_document(plans: Sequence[AccountPlan]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "accounts": [p.as_dict() for p in plans]}


def render_json(plans: Sequence[AccountPlan]) -> str:
    return json.dumps(plan_document(plans), indent=2, sort_keys=False)
