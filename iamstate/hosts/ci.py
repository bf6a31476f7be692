"""What the CI jobs call (`iamstate ci ...`: GitHub workflows, GitLab pipelines). The CLI
only parses and calls these; they talk to the host only through `hosts.base.Host`, the one
the job runs on (`hosts.current()`).

- `accounts`: the job matrix, accounts batched so that an Organization's hundreds of
  accounts stay under GitHub's 256 jobs per run (each job plans its batch concurrently);
- `comment`: one plan comment per pull request (a note per merge request on GitLab),
  every account's section in it;
- `apply-reviewed`: on merge (or on a follow-up the team approves), applies an account only
  if its section of the comment, rendered again from a fresh plan, is word for word what
  the comment says, and the fresh plan's digest is the one recorded there; otherwise it
  changes nothing and posts the fresh plan as a follow-up comment for review;
- `check-reviewed`: the same check without applying, for the merge queue;
- `drift`: one issue per drifted account.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate import __version__, hosts, workflow
from iamstate.errors import HostError, IamStateError, NotReviewed, StalePlan
from iamstate.hosts import comment as protocol
from iamstate.hosts.base import Host
from iamstate.model.changes import Change
from iamstate.outputs.lines import one_line
from iamstate.outputs.markdown import escape_md, render_markdown
from iamstate.plan import planfile
from iamstate.plan.apply import ApplyReport
from iamstate.plan.checks import Overrides
from iamstate.plan.planner import AccountPlan
from iamstate.repository import expiry
from iamstate.repository.loader import load_repository
from iamstate.wording import count

MAX_JOBS = 20  # batches per run: far below GitHub's 256 jobs per workflow run
COMMIT_RE = re.compile(r"[0-9a-f]{7,64}")  # a commit id, as hosts give it (not a ref name)


@dataclass
class Outcome:
    """What a CI command did, for the CLI to print; `exit_code` when it is not 0."""

    lines: list[str] = field(default_factory=list)
    reports: list[ApplyReport] = field(default_factory=list)
    exit_code: int = 0


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


def _is_ancestor(repo: Path, sha: str, of: str = "HEAD") -> bool:
    """`sha` is `of` or comes before it in this checkout's history (git says so itself)."""
    try:
        done = subprocess.run(["git", "merge-base", "--is-ancestor", sha, of], cwd=repo,
                              capture_output=True, check=False)
    except OSError:
        return False
    return done.returncode == 0


def last_applied(repo: Path, hub: Host | None = None) -> str | None:
    """The commit of the branch's last apply run that succeeded (the host's own record of
    its runs): every account touched since then is applied now, so a merge whose run was
    cancelled, dropped or failed is applied by the next one, never skipped. None (every
    account) when there is none, or it is not an ancestor of the commit checked out: a
    commit of another history (a tag named like the branch, a branch rewritten) would leave
    out what was merged since the real last apply. In a shallow checkout, a commit git
    cannot relate to this one may be of this very history: refused, not taken for another.

    Refused when the commit checked out comes before it: a job re-run or retried after
    newer merges were applied would put back what they changed (a reviewed removal undone
    by the older plan, which still matches its own review word for word); the newer run
    applied everything merged up to it already."""
    sha = (hub or hosts.current()).last_applied()
    if not sha or not COMMIT_RE.fullmatch(sha):
        return None
    if _is_ancestor(repo, sha):
        return sha
    if _is_ancestor(repo, "HEAD", sha):
        raise IamStateError(
            f"this commit comes before {sha}, which this branch applied already: applying "
            "it now (a re-run of an older job) would undo what was merged and applied "
            "after it; nothing was changed. Apply from the branch's newest commit instead (a new "
            "merge, or the workflow run by hand on it).")
    if _is_shallow(repo):  # git knows too little history to say either: refuse, never guess
        raise IamStateError(
            f"cannot tell whether this commit comes before {sha}, which this branch applied "
            "last: the checkout's history is shallow; nothing was changed. Check out the "
            "whole history (actions/checkout `fetch-depth: 0`; GitLab `GIT_DEPTH: \"0\"`).")
    return None


def _is_shallow(repo: Path) -> bool:
    """This checkout holds only part of its history (a CI host's default)."""
    try:
        done = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=repo,
                              capture_output=True, text=True, check=False)
    except OSError:
        return False
    return done.returncode == 0 and done.stdout.strip() == "true"


def accounts_matrix(repo: Path, changed_since: str | None, batches: int | None = None,
                    since_last_apply: bool = False) -> list[dict[str, Any]]:
    """The workflow matrix: one entry per touched account (with the roles its jobs use),
    or, with `batches`, at most that many entries of several accounts each. With
    `since_last_apply`, the accounts touched since the last successful apply, and that
    commit in each entry (`since`, "" for none) for `ci apply-reviewed --since`."""
    since = ""
    if since_last_apply:
        since = last_applied(repo) or ""
        changed_since = since or None
    accounts = load_repository(repo)
    names = set(touched_accounts(repo, [a.config.name for a in accounts], changed_since))
    chosen = [a for a in accounts if a.config.name in names]
    extra = {"since": since} if since_last_apply else {}
    if batches is None:
        return [{"account": a.config.name, "plan_role_arn": a.config.role_for("plan") or "",
                 "apply_role_arn": a.config.role_for("apply") or "", **extra} for a in chosen]
    size = max(1, min(batches, MAX_JOBS))
    jobs = [chosen[i::size] for i in range(min(size, len(chosen)))]
    return [{"batch": index, "accounts": " ".join(a.config.name for a in job), **extra}
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


def comment(plan_files: Sequence[Path], pr: int | None) -> Outcome:
    """Create or update the one plan comment of the pull request (every account)."""
    plans = read_plans(plan_files)
    host = hosts.current()
    number = host.change_request(pr)
    body = comment_body(plans)
    frozen = host.plan_comment_frozen()
    if frozen is not None:
        if host.plan_comment(number) != body:
            raise HostError(f"{frozen}: its plan is not word for word the plan reviewed on "
                            f"{host.label(number)}, whose {host.comment_noun} is left as it "
                            "was reviewed; this job fails, so the merge train drops it (merge "
                            f"trains are not supported yet: merge the {host.change_noun} "
                            "without one)")
        return Outcome([f"the plan {host.comment_noun} on {host.label(number)} is the reviewed "
                        f"plan, left as it is ({frozen})"])
    what = host.upsert_plan_comment(number, body)
    changed = sum(1 for plan, _ in plans if plan.changes)
    return Outcome([f"{what} the plan {host.comment_noun} on {host.label(number)}: "
                    f"{count(len(plans), 'account')}, "
                    f"{changed} with changes, {len(body):,} characters"])


def comment_body(plans: Sequence[tuple[AccountPlan, str]]) -> str:
    return protocol.render_summary(plans, protocol.FULL_PLAN, __version__)


# -- applying what was reviewed ------------------------------------------------------------

NOT_OURS = ("the comment is not, as a whole, what iamstate writes ({why}): nothing it shows "
            "is applied")


def verified_comment(body: str, follow_up_help: str | None = None) -> protocol.Comment:
    """The comment read back, if the WHOLE of it is what iamstate writes: its parts,
    composed again, give it character for character (nothing before, between, around or
    after iamstate's own text), every section has iamstate's shape (no HTML of its own that
    could fold or hide another), one level of detail for all, and no free text but the
    follow-up's fixed help and iamstate's reasons. Else StalePlan, saying why."""
    parsed = protocol.parse_comment(body)
    if parsed is None:
        raise StalePlan(NOT_OURS.format(why="not in the shape of a plan comment"))
    if parsed.compose() != body:
        raise StalePlan(NOT_OURS.format(why="it holds text iamstate did not write"))
    if any(not protocol.well_formed(s.text) for s in parsed.sections):
        raise StalePlan(NOT_OURS.format(why="a section holds markup iamstate never writes"))
    if len({s.level for s in parsed.sections}) > 1:
        raise StalePlan(NOT_OURS.format(why="its sections are at different levels"))
    expected_marker = protocol.SUMMARY_MARKER if follow_up_help is None else \
        protocol.FOLLOWUP_MARKER
    if parsed.marker != expected_marker or not _intro_ok(parsed.intro, follow_up_help):
        raise StalePlan(NOT_OURS.format(why="its introduction is not iamstate's"))
    return parsed


def _intro_ok(intro: Sequence[str], help_text: str | None) -> bool:
    """A plan comment has none; a follow-up has the host's fixed help, then one escaped
    reason a line (iamstate's refusals), between blank lines."""
    if help_text is None:
        return not intro
    return (len(intro) >= 3 and intro[0] == help_text and intro[1] == "" and intro[-1] == ""
            and all(REASON_RE.fullmatch(line) for line in intro[2:-1]))


REASON_RE = re.compile(r"- account [A-Za-z0-9._-]+: [^<>`*_\[\]|]+")


def _reviewed(comment: protocol.Comment, planned: workflow.Planned) -> None:
    """Refuse (StalePlan) unless the (verified) comment's section for this account is, word
    for word, the rendering of the fresh plan, with its digest, and its row in the table
    is the fresh plan's."""
    plan = planned.plan
    name = plan.config.name
    digest = planfile.account_to_json(plan)["digest"]
    section = next((s for s in comment.sections if name in s.digests), None)
    if section is None:
        if not plan.changes:
            return  # nothing to apply, nothing that needed review
        raise StalePlan(f"account {name}: the reviewed comment has no plan for it, and it has "
                        "changes now: nothing was changed")
    if not protocol.digest_matches(section.digests[name], digest):
        raise StalePlan(f"account {name}: the plan now ({protocol.short(digest, 12)}...) is not "
                        "the plan "
                        f"reviewed on the pull request ({section.digests[name][:12]}...): live "
                        "state or main moved on since the review. Nothing was changed.")
    if not section.reviewable:
        raise StalePlan(f"account {name}: its plan was too large to review in the comment: "
                        "nothing was changed; split the change into smaller pull requests")
    row = next(r for r in comment.rows if name in r.names)
    if protocol.section_text(plan, protocol.FULL_PLAN, section.level) != section.text or \
            not protocol.row_shows(row, plan):
        raise StalePlan(f"account {name}: the comment does not show this plan (edited, or "
                        "not written by iamstate): nothing was changed")


def _review_of(body: str, follow_up_help: str | None) -> protocol.Comment | StalePlan:
    try:
        return verified_comment(body, follow_up_help)
    except StalePlan as refused:
        return refused


def _reviews(hub: Host, commit: str | None, pr: int | None, since: str | None
             ) -> tuple[int, list[protocol.Comment | StalePlan]]:
    """The PR refusals are posted on, and the reviewed comments, oldest first.

    On a merge (`commit`): the pull request that commit merged, and its plan comment as it
    was when it merged; with `since` (the last applied commit), also those of the PRs
    merged between them, whose own apply runs were dropped or failed. By hand (`pr`): that
    PR must be merged into the branch being applied (the run's commit), and only
    follow-ups posted after its merge, never edited, count."""
    if commit is None:
        if pr is None:
            raise HostError("give --commit (a merge) or --pr (a follow-up to apply)")
        number, merged_at = hub.merged_into(pr, hub.head_commit())
        hub.reviewed_comments(number, merged_at)  # it was planned and reviewed before merge
        return number, [_review_of(body, hub.follow_up_help(number))
                        for body in hub.reviewed_comments(number, merged_at, follow_up=True)]
    number, merged_at = hub.merged_change(commit)
    earlier = hub.merged_changes_between(since, commit) if since else []
    reviews: list[protocol.Comment | StalePlan] = []
    for other, at in [*earlier, (number, merged_at)]:
        try:
            reviews += [_review_of(body, None) for body in hub.reviewed_comments(other, at)]
        except NotReviewed:  # an earlier merge without a plan: its accounts are refused
            if other == number:
                raise
    return number, reviews


def apply_reviewed(repo: Path, accounts: Sequence[str] | None, commit: str | None,
                   pr: int | None,
                   overrides: Overrides, on_done: Callable[[Change], None],
                   announce: Callable[[str], None], since: str | None = None) -> Outcome:
    """Apply each account whose fresh plan is exactly the one its reviewers saw. An account
    refused (stale, or never shown) changes nothing; its fresh plan is posted on the PR as a
    follow-up for review, and the job fails. Without `commit` or `pr`: the run's commit."""
    hub = hosts.current()
    last_applied(repo, hub)  # refuses a commit older than the last apply (a re-run job)
    if pr is None and not commit:
        commit = hub.head_commit()
    number, reviews = _reviews(hub, None if pr is not None else commit, pr, since)
    outcome = Outcome()
    refused: list[tuple[workflow.Planned, str]] = []
    for planned in workflow.plan_all(repo, accounts, purpose="apply"):
        name = planned.plan.config.name
        # each batch of a refused merge posts its own follow-up: the newest with this account
        review = next((r for r in reversed(reviews) if isinstance(r, protocol.Comment)
                       and any(name in s.digests for s in r.sections)), reviews[-1])
        try:
            if isinstance(review, StalePlan):
                if planned.plan.changes:
                    raise review
            else:
                _reviewed(review, planned)
        except StalePlan as error:
            refused.append((planned, f"account {name}: {error}" if not
                            str(error).startswith("account ") else str(error)))
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
        intro = [hub.follow_up_help(number), "",
                 *(f"- {_reason_line(reason)}" for _, reason in refused), ""]
        hub.add_comment(number, protocol.render_summary(
            plans, protocol.FULL_PLAN, __version__, protocol.FOLLOWUP_MARKER, intro))
        outcome.lines.append(f"posted the fresh plan on {hub.label(number)} for review")
        outcome.exit_code = 1
    return outcome


def _reason_line(reason: str) -> str:
    """A refusal as the follow-up shows it: plain words only (no markup of any kind)."""
    return re.sub(r"[<>`*_\[\]|]", "", one_line(reason))


def check_reviewed(repo: Path, accounts: Sequence[str] | None, pr: int | None) -> Outcome:
    """In the merge queue: the plan against the queue's merge commit must be the plan
    reviewed on the pull request (else the PR leaves the queue, to be planned again)."""
    hub = hosts.current()
    number = hub.change_request(pr)
    review = verified_comment(hub.reviewed_comments(number)[-1])
    for planned in workflow.plan_all(repo, accounts):
        _reviewed(review, planned)
    return Outcome([f"{hub.label(number)}: the plan in the merge queue is the reviewed plan"])


# -- drift ---------------------------------------------------------------------------------


def expiring_lines(planned: workflow.Planned) -> list[str]:
    """What ends within a week in this account (`expires:`), each with its file:line, so
    the daily run says what is about to go while there is still time to renew it."""
    soon = expiry.expiring_soon(planned.account.desired, expiry.today())
    return [f"{e.describe(ended=False)} at {e.source}" if e.source else e.describe(ended=False)
            for e in soon]


def drift(repo: Path, accounts: Sequence[str] | None) -> Outcome:
    """Plan every account; on drift, open or update one issue per account, exit 2. What
    expires within a week is listed in the job's output and in the account's issue."""
    planned = workflow.plan_all(repo, accounts)
    outcome = Outcome()
    for each in planned:
        outcome.lines += [f"{each.plan.config.name}: {line}" for line in expiring_lines(each)]
    drifted = [p for p in planned if p.plan.changes]
    if not drifted:
        outcome.lines.append("No drift: live state matches the repository.")
        return outcome
    hub = hosts.current()
    outcome.exit_code = 2
    for each in drifted:
        plan = each.plan
        body = render_markdown([plan], "the plan artifact of the drift workflow run")
        soon = expiring_lines(each)
        if soon:
            body += "\n**Expires within 7 days** (renew it in a pull request, or let it go)\n\n"
            body += "".join(f"- {escape_md(line)}\n" for line in soon)
        what = hub.upsert_drift_issue(
            plan.config.name,
            f"iamstate: live IAM of {plan.config.name} drifted from the repository", body)
        outcome.lines.append(f"Drift in {plan.config.name}: {what}")
    return outcome
