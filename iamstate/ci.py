"""What the GitHub workflows call (`iamstate ci ...`). The CLI only parses and calls these.

- `accounts`: the job matrix, accounts batched so that an Organization's hundreds of
  accounts stay under GitHub's 256 jobs per run (each job plans its batch concurrently);
- `comment`: one plan comment per pull request, every account's section in it;
- `apply-reviewed`: on merge (or on a follow-up the team approves), applies an account only
  if its section of the comment, rendered again from a fresh plan, is word for word what
  the comment says, and the fresh plan's digest is the one recorded there; otherwise it
  changes nothing and posts the fresh plan as a follow-up comment for review;
- `check-reviewed`: the same check without applying, for the merge queue;
- `drift`: one issue per drifted account.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate import __version__, planfile, render, workflow
from iamstate.apply import ApplyReport
from iamstate.changes import Change
from iamstate.checks import Overrides
from iamstate.errors import GitHubError, IamStateError, StalePlan
from iamstate.github import GitHub
from iamstate.plan import AccountPlan
from iamstate.repo import load_repository

MAX_JOBS = 20  # batches per run: far below GitHub's 256 jobs per workflow run
FOLLOW_UP_HELP = (
    "Review the plan below. To apply exactly this plan, run the **iamstate apply** workflow "
    "by hand (Actions → iamstate apply → Run workflow) with `pr` = {number}; the "
    "`iam-production` environment asks for its reviewers' approval first. If anything "
    "changes before then, that run refuses too and posts the new plan here.")


@dataclass
class Outcome:
    """What a CI command did, for the CLI to print; `exit_code` when it is not 0."""

    lines: list[str] = field(default_factory=list)
    reports: list[ApplyReport] = field(default_factory=list)
    exit_code: int = 0


def event() -> dict[str, Any]:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if path and Path(path).is_file():
        data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
        return data
    return {}


def pull_request_number(given: int | None) -> int:
    """The PR of this run: given, the pull_request event's, or a merge queue's (its branch
    is `gh-readonly-queue/<base>/pr-<N>-<sha>`)."""
    if given is not None:
        return given
    data = event()
    number = (data.get("pull_request") or {}).get("number")
    if number:
        return int(number)
    queued = re.search(r"/pr-(\d+)-", (data.get("merge_group") or {}).get("head_ref", ""))
    if queued:
        return int(queued[1])
    raise GitHubError("no --pr given and no pull request in GITHUB_EVENT_PATH")


# -- the matrix ----------------------------------------------------------------------------


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


def accounts_matrix(repo: Path, changed_since: str | None, batches: int | None = None
                    ) -> list[dict[str, Any]]:
    """The workflow matrix: one entry per touched account (with the roles its jobs use),
    or, with `batches`, at most that many entries of several accounts each."""
    accounts = load_repository(repo)
    names = set(touched_accounts(repo, [a.config.name for a in accounts], changed_since))
    chosen = [a for a in accounts if a.config.name in names]
    if batches is None:
        return [{"account": a.config.name, "plan_role_arn": a.config.role_for("plan") or "",
                 "apply_role_arn": a.config.role_for("apply") or ""} for a in chosen]
    size = max(1, min(batches, MAX_JOBS))
    jobs = [chosen[i::size] for i in range(min(size, len(chosen)))]
    return [{"batch": index, "accounts": " ".join(a.config.name for a in job)}
            for index, job in enumerate(jobs)]


# -- the plan comment ----------------------------------------------------------------------


def read_plans(files: Sequence[Path]) -> list[tuple[AccountPlan, str]]:
    """Every account of every plan file (a batch each), with its digest, in name order."""
    plans: dict[str, tuple[AccountPlan, str]] = {}
    for path in files:
        for entry in planfile.read(path)["accounts"]:
            if entry["account"] in plans:
                raise IamStateError(f"{path}: account {entry['account']} is in two plan files")
            plans[entry["account"]] = (planfile.account_from_json(entry), entry["digest"])
    return [plans[name] for name in sorted(plans)]


def comment(plan_files: Sequence[Path], pr: int | None, full_plan: str) -> Outcome:
    """Create or update the one plan comment of the pull request (every account)."""
    plans = read_plans(plan_files)
    number = pull_request_number(pr)
    body = comment_body(plans, render.escape_md(full_plan))
    what = GitHub.from_environment().upsert_plan_comment(number, body)
    changed = sum(1 for plan, _ in plans if plan.changes)
    return Outcome([f"{what} the plan comment on #{number}: {len(plans)} account(s), "
                    f"{changed} with changes, {len(body):,} characters"])


# -- applying what was reviewed ------------------------------------------------------------


def _reviewed(body: str, planned: workflow.Planned, hint: str) -> None:
    """Refuse (StalePlan) unless the comment's section for this account is, word for word,
    the rendering of the fresh plan, with its digest."""
    plan = planned.plan
    name = plan.config.name
    digest = render.short(planfile.account_to_json(plan)["digest"])
    section = next((s for s in render.sections_of(body) if name in s.digests), None)
    if section is None:
        if not plan.changes:
            return  # nothing to apply, nothing that needed review
        raise StalePlan(f"account {name}: the reviewed comment has no plan for it, and it has "
                        "changes now: nothing was changed")
    if section.digests[name] != digest:
        raise StalePlan(f"account {name}: the plan now ({digest[:12]}...) is not the plan "
                        f"reviewed on the pull request ({section.digests[name][:12]}...): live "
                        "state or main moved on since the review. Nothing was changed.")
    if not section.reviewable:
        raise StalePlan(f"account {name}: its plan was too large to review in the comment: "
                        "nothing was changed; split the change into smaller pull requests")
    if render.section_text(plan, hint, section.level) != section.text or \
            section.summary != render.group_summary(list(section.digests), plan) or \
            render.table_row(plan) not in body.split("\n"):
        raise StalePlan(f"account {name}: the comment does not show this plan (edited, or "
                        "not written by iamstate): nothing was changed")


def _hint_of(body: str) -> str:
    found = re.search(r"<!-- iamstate-hint (?P<hint>[^>]*) -->", body)
    return found["hint"] if found else ""


def apply_reviewed(repo: Path, accounts: Sequence[str] | None, commit: str | None,
                   pr: int | None,
                   overrides: Overrides, on_done: Callable[[Change], None],
                   announce: Callable[[str], None]) -> Outcome:
    """Apply each account whose fresh plan is exactly the one its reviewers saw. An account
    refused (stale, or never shown) changes nothing; its fresh plan is posted on the PR as a
    follow-up for review, and the job fails."""
    hub = GitHub.from_environment()
    follow_up = commit is None
    number = pr if pr is not None else hub.merged_pull_request(str(commit))
    bodies = hub.reviewed_comments(number, follow_up=follow_up)
    outcome = Outcome()
    refused: list[tuple[workflow.Planned, str]] = []
    hint = _hint_of(bodies[-1])
    for planned in workflow.plan_all(repo, accounts, purpose="apply"):
        name = planned.plan.config.name
        # each batch of a refused merge posts its own follow-up: the newest with this account
        body = next((b for b in reversed(bodies)
                     if any(name in s.digests for s in render.sections_of(b))), bodies[-1])
        hint = _hint_of(body)
        try:
            _reviewed(body, planned, hint)
        except StalePlan as error:
            refused.append((planned, str(error)))
            continue
        if not planned.plan.changes:
            outcome.lines.append(f"{name}: no changes to apply")
            continue
        outcome.reports += workflow.apply_planned([planned], repo, overrides,
                                                  on_done=on_done, announce=announce)
        outcome.lines.append(f"{name}: the reviewed plan is live")
    if refused:
        for _, reason in refused:
            outcome.lines.append(f"refused: {reason}")
        plans = [(p.plan, planfile.account_to_json(p.plan)["digest"]) for p, _ in refused]
        intro = [FOLLOW_UP_HELP.format(number=number), "",
                 *(f"- {render.escape_md(reason)}" for _, reason in refused), ""]
        text = render.render_summary(plans, hint, __version__, render.FOLLOWUP_MARKER, intro)
        hub.add_comment(number, _with_hint(text, hint))
        outcome.lines.append(f"posted the fresh plan on #{number} for review")
        outcome.exit_code = 1
    return outcome


def check_reviewed(repo: Path, accounts: Sequence[str] | None, pr: int | None) -> Outcome:
    """In the merge queue: the plan against the queue's merge commit must be the plan
    reviewed on the pull request (else the PR leaves the queue, to be planned again)."""
    hub = GitHub.from_environment()
    number = pull_request_number(pr)
    body = hub.reviewed_comments(number)[-1]
    hint = _hint_of(body)
    for planned in workflow.plan_all(repo, accounts):
        _reviewed(body, planned, hint)
    return Outcome([f"#{number}: the plan in the merge queue is the reviewed plan"])


def _with_hint(text: str, hint: str) -> str:
    """`hint` already escaped (no `<` or `>`): the sections were rendered with it as is."""
    marker, _, rest = text.partition("\n")
    return f"{marker}\n<!-- iamstate-hint {hint} -->\n{rest}"


def comment_body(plans: Sequence[tuple[AccountPlan, str]], hint: str) -> str:
    return _with_hint(render.render_summary(plans, hint, __version__), hint)


# -- drift ---------------------------------------------------------------------------------


def drift(repo: Path, accounts: Sequence[str] | None) -> Outcome:
    """Plan every account; on drift, open or update one issue per account, exit 2."""
    planned = workflow.plan_all(repo, accounts)
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
