"""What the GitHub workflows call (`iamstate ci ...`): the sticky plan comment, the apply of
the reviewed plan on merge, the drift issue, the account matrix. The CLI only parses and
calls these."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate import planfile, render, workflow
from iamstate.apply import ApplyReport
from iamstate.changes import Change
from iamstate.checks import Overrides
from iamstate.errors import GitHubError, IamStateError, StalePlan
from iamstate.github import GitHub
from iamstate.repo import load_repository


@dataclass
class Outcome:
    """What a CI command did, for the CLI to print; `exit_code` when it is not 0."""

    lines: list[str] = field(default_factory=list)
    reports: list[ApplyReport] = field(default_factory=list)
    exit_code: int = 0


def pull_request_number(given: int | None) -> int:
    if given is not None:
        return given
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event and Path(event).is_file():
        number = json.loads(Path(event).read_text()).get("pull_request", {}).get("number")
        if number:
            return int(number)
    raise GitHubError("no --pr given and no pull_request in GITHUB_EVENT_PATH")


def comment(plan_file: Path, pr: int | None, full_plan: str) -> Outcome:
    """Create or update the one sticky plan comment per account on the pull request."""
    saved = planfile.read(plan_file)
    number = pull_request_number(pr)
    hub = GitHub.from_environment()
    outcome = Outcome()
    for entry in saved["accounts"]:
        plan = planfile.account_from_json(entry)
        body = render.render_markdown([plan], full_plan)
        what = hub.upsert_plan_comment(number, plan.config.name, entry["digest"], body)
        outcome.lines.append(f"{what} the plan comment for {plan.config.name} on #{number}")
    return outcome


def check_reviewed(repo: Path, account: str, reviewed_digest: str) -> list[workflow.Planned]:
    """Re-plan `account`; refuse unless it is exactly the plan whose digest was reviewed."""
    planned = workflow.plan_all(repo, account, purpose="apply")
    now = planfile.account_to_json(planned[0].plan)["digest"]
    if now != reviewed_digest:
        raise StalePlan(
            f"account {account}: the plan now ({now[:19]}...) is not the plan reviewed on the "
            f"pull request ({reviewed_digest[:19]}...): live state or main moved on since the "
            "review. Nothing was changed. Re-run the plan on a new pull request.")
    return planned


def apply_reviewed(repo: Path, account: str, commit: str, overrides: Overrides,
                   on_done: Callable[[Change], None]) -> tuple[list[workflow.Planned],
                                                               list[ApplyReport]]:
    digest = GitHub.from_environment().reviewed_digest(commit, account)
    planned = check_reviewed(repo, account, digest)
    if not planned[0].plan.changes:
        return planned, []
    return planned, workflow.apply_planned(planned, repo, overrides, on_done=on_done)


def drift(repo: Path, account: str | None) -> Outcome:
    """Plan every account; on drift, open or update one issue per account, exit 2."""
    planned = workflow.plan_all(repo, account)
    drifted = [p.plan for p in planned if p.plan.changes]
    if not drifted:
        return Outcome(["No drift: live state matches the repository."])
    hub = GitHub.from_environment()
    outcome = Outcome(exit_code=2)
    for plan in drifted:
        body = render.render_markdown([plan], "the plan artifact of the drift workflow run")
        what = hub.upsert_drift_issue(
            plan.config.name,
            f"iamstate: live IAM of {plan.config.name} drifted from the repository", body)
        outcome.lines.append(f"Drift in {plan.config.name}: {what}")
    return outcome


def touched_accounts(repo: Path, names: list[str], since: str | None) -> list[str]:
    """Accounts a change since `since` touches: its own folder, or any shared policy."""
    if since is None:
        return names
    try:
        # --no-renames: a file moved between accounts touches both (old and new path)
        changed = subprocess.run(["git", "diff", "--name-only", "--no-renames",
                                  f"{since}...HEAD", "--", "accounts", "policies"],
                                 cwd=repo, capture_output=True,
                                 text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as error:
        raise IamStateError(f"cannot list the files changed since {since}: {error}") from None
    if any(path.startswith("policies/") for path in changed):
        return names
    return [n for n in names if any(p.startswith(f"accounts/{n}/") for p in changed)]


def accounts_matrix(repo: Path, changed_since: str | None) -> list[dict[str, Any]]:
    """The workflow matrix: one entry per touched account, with the role each job uses."""
    accounts = load_repository(repo)
    names = touched_accounts(repo, [a.config.name for a in accounts], changed_since)
    return [{"account": a.config.name, "role_arn": a.config.role_for("plan") or "",
             "plan_role_arn": a.config.role_for("plan") or "",
             "apply_role_arn": a.config.role_for("apply") or ""}
            for a in accounts if a.config.name in names]
