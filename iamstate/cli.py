"""The `iamstate` command: parse, delegate, and map errors to exit codes in one place.

Commands import what they use inside their body: `validate` runs in a pre-commit hook on
every commit and must not pay for boto3 or the GitHub client.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import click
import typer
from rich.console import Console

from iamstate import __version__
from iamstate.aws import identity
from iamstate.errors import ApplyFailed, IamStateError, RepoError
from iamstate.outputs import FORMATS, output_class
from iamstate.repository.files import write_text_safely
from iamstate.wording import count

if TYPE_CHECKING:
    from iamstate.model.account import Account
    from iamstate.model.changes import Change
    from iamstate.plan.apply import ApplyReport
    from iamstate.workflow import Planned

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  rich_markup_mode="markdown",  # help: a docstring's lines join into sentences
                  help="AWS IAM users, groups and group policies as YAML in git.")
sandbox_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                          help="A local IAM endpoint (moto) to try iamstate without an AWS "
                               "account.")
user_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                       help="Add or remove a user in the YAML (then open a pull request).")
ci_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                     help="What the CI jobs call (GitHub workflows, GitLab pipelines).")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(user_app, name="user")
app.add_typer(ci_app, name="ci")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])


class Options:
    repo: Path = Path(".")
    report: Path | None = None  # where apply writes its full report (`--report`)


RepoOption = Annotated[Path, typer.Option("--repo", help="The repository (default: here).",
                                          file_okay=False)]
AccountOption = Annotated[str | None, typer.Option("--account", "-a",
                                                   help="Only this account (a folder name).")]
AccountsOption = Annotated[list[str] | None, typer.Option(
    "--account", "-a", help="Only these accounts (folder names; repeat it, or give several "
                            "separated by spaces).")]


def _names(given: list[str] | None) -> list[str] | None:
    """`--account a --account b` or `--account "a b"` (a batch from the job matrix)."""
    if not given:
        return None
    return [name for item in given for name in item.split()]
FORMAT_NAMES = sorted(FORMATS)
FormatOption = Annotated[str, typer.Option(
    "--format", click_type=click.Choice(FORMAT_NAMES),
    help=f"One of: {', '.join(FORMAT_NAMES)} (SARIF 2.1.0, for code scanning).")]
ReportOption = Annotated[Path | None, typer.Option(
    "--report", help="Where to write every change applied, failed or not done (JSON) "
                     "[default: .iamstate/apply-report.json].", dir_okay=False)]
AllowDeletions = Annotated[int | None, typer.Option(
    "--allow-deletions", help="Allow up to N deletions (overrides safety.max_deletions).")]


def _version(value: bool) -> None:
    if value:
        print(f"iamstate {__version__}")
        raise typer.Exit(0)


@app.callback()
def options(
    repo: RepoOption = Path("."),
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    Options.repo = repo
    identity.use(_ci_host_token)


def _ci_host_token() -> str | None:
    """The OIDC token of the CI host this job runs on (imported only when a role is
    assumed: `validate` loads no host)."""
    from iamstate.hosts import web_identity_token

    return web_identity_token()


def handles_errors(command: F) -> F:
    """The one place an error becomes a message and an exit code: expected errors say what
    happened and what to do (1; 130 for Ctrl-C); a file that cannot be written names it."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except RepoError as error:
            for problem in error.problems:
                err.print(f"[red]error[/red] {problem}", markup=True)
            err.print(f"{count(len(error.problems), 'error')}; nothing was changed in AWS.")
            raise typer.Exit(1) from None
        except ApplyFailed as error:
            from iamstate.plan.apply import ApplyReport

            if isinstance(error.report, ApplyReport):
                from iamstate.outputs.report import report_lines

                for line in report_lines(error.report):
                    err.print(line, markup=False)
                _write_report([error.report])
            else:
                err.print(f"[red]error[/red] {error}")
            raise typer.Exit(error.exit_code) from None
        except IamStateError as error:
            err.print(f"[red]error[/red] {error}")
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            err.print("Interrupted. Run `iamstate plan` to see where things stand.")
            raise typer.Exit(130) from None
        except OSError as error:
            where = f"{error.filename}: " if error.filename else ""
            err.print(f"[red]error[/red] {where}{error.strerror or error}")
            raise typer.Exit(1) from None

    return run  # type: ignore[return-value]


def warn(accounts: list[Account], planned: list[Planned] | None = None) -> None:
    for account in accounts:
        for warning in account.warnings:
            err.print(f"[yellow]warning[/yellow] {warning}")
    for item in planned or []:
        if item.conn.note:
            err.print(f"[yellow]note[/yellow] {item.conn.note}")


@app.command()
@handles_errors
def validate(fmt: FormatOption = "text") -> None:
    """Check the repository offline (no AWS call): exit 0 if valid, 1 with every error."""
    from iamstate.outputs.base import Validation
    from iamstate.repository.loader import load_repository

    try:
        accounts = load_repository(Options.repo)
    except RepoError as error:
        if fmt == "text":
            raise  # the errors on stderr, as every command says them
        output = output_class(fmt)
        output(out, Options.repo).validate(Validation(problems=error.problems))
        if output.alone:
            raise  # and on stderr too: stdout is the document alone
        raise typer.Exit(1) from None
    warnings = [str(w) for a in accounts for w in a.warnings]
    result = Validation(len(accounts), sum(len(a.desired.users) for a in accounts),
                        warnings=warnings)
    if fmt == "text":  # the pre-commit hook's case: no output module to import
        warn(accounts)
        out.print(f"Valid: {count(result.accounts, 'account')}, {count(result.users, 'user')}.")
        return
    output = output_class(fmt)
    if output.alone:
        warn(accounts)
    output(out, Options.repo, accounts).validate(result)


@app.command()
@handles_errors
def plan(
    account: AccountsOption = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the plan file [default: .iamstate/plan.json].")] = None,
    fmt: FormatOption = "text",
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 for no changes, 2 for changes.")] = False,
) -> None:
    """Read live state, print the plan and write it to a plan file for `apply`."""
    from iamstate import workflow
    from iamstate.plan import planfile
    with reading("live IAM state"):
        planned = workflow.plan_all(Options.repo, _names(account))
    warn([p.account for p in planned], planned)
    plans = [p.plan for p in planned]
    target = out_file or Options.repo / ".iamstate" / "plan.json"
    planfile.write(target, workflow.plan_document(planned), Options.repo)
    output_class(fmt)(out, Options.repo, [p.account for p in planned]).plan(plans)
    if fmt == "text" and any(p.changes for p in plans):
        out.print(f"Saved to {target}. Apply exactly this plan with: "
                  f"iamstate apply {target}")
    if detailed_exitcode and any(p.changes for p in plans):
        raise typer.Exit(2)


@app.command()
@handles_errors
def apply(
    plan_file: Annotated[Path | None, typer.Argument(
        help="A plan file from `iamstate plan --out`; without one, plan and ask.")] = None,
    account: AccountsOption = None,
    allow_deletions: AllowDeletions = None,
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Do not ask (without a plan file).")] = False,
    workers: Annotated[int, typer.Option(help="Changes applied at once within a stage.",
                                         min=1, max=64)] = 4,
    report: ReportOption = None,
) -> None:
    """Apply a saved plan (refused if stale), or plan, show and ask y/N."""
    from iamstate import workflow
    from iamstate.outputs.text import TextOutput
    from iamstate.plan import planfile
    from iamstate.plan.checks import Overrides

    Options.report = report
    if plan_file is not None:
        saved = planfile.read(plan_file)
        with reading("live IAM state to check the plan is current"):
            planned = workflow.check_current(saved, Options.repo)
    else:
        with reading("live IAM state"):
            planned = workflow.plan_all(Options.repo, _names(account), purpose="apply")
        TextOutput(out).plan([p.plan for p in planned])
        if not any(p.plan.changes for p in planned):
            return
        if not auto_approve and not _confirm():
            err.print("Not applied.")
            raise typer.Exit(1)
    if not any(p.plan.changes for p in planned):
        out.print("No changes to apply.")
        return
    with applying(planned) as on_done:
        reports = workflow.apply_planned(planned, Options.repo, Overrides(allow_deletions),
                                         workers=workers, on_done=on_done, announce=_announce)
    _applied(reports)


def _applied(reports: list[ApplyReport]) -> None:
    """The end of a successful apply: its notes (where one-time passwords went), a count
    per step, and where the full list is."""
    from iamstate.outputs.report import by_step

    for report in reports:
        for note in report.notes:
            out.print(f"  note: {note}")
    done = [c for r in reports for c in r.done]
    for line in by_step(done):
        out.print(line, markup=False, highlight=False)
    if reports:
        _write_report(reports)
    out.print(f"Apply complete: {len(done)} change(s) made.")


def _write_report(reports: list[ApplyReport]) -> None:
    """Every change of the apply in a file (the workflow keeps it as an artifact); a report
    that cannot be written is said, and changes nothing about the apply's outcome."""
    from iamstate.outputs.report import write_report

    path = Options.report or Options.repo / ".iamstate" / "apply-report.json"
    try:
        write_report(path, reports, Options.repo)
    except (OSError, ValueError) as error:
        err.print(f"[yellow]warning[/yellow] cannot write the apply report {path}: {error}")
        return
    err.print(f"note: every change of this apply is listed in {path}", markup=False,
              highlight=False)


@app.command()
@handles_errors
def audit(account: AccountsOption = None, fmt: FormatOption = "text",
          unused_days: Annotated[int, typer.Option(
              min=1, help="Credentials unused this many days are a finding (CIS: 45).")] = 45,
          ) -> None:
    """Report what the strategy forbids on live state: exit 0 clean, 3 findings, 1 error."""
    from iamstate import workflow

    with workflow.cycles_uncollected():  # while the findings are shown, too
        findings = workflow.audit_all(Options.repo, _names(account), unused_days=unused_days)
        output_class(fmt)(out, Options.repo).audit(findings)
    if any(findings.values()):
        raise typer.Exit(3)


class UnusedFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
@handles_errors
def unused(account: AccountOption = None,
           days: Annotated[int, typer.Option(min=1, help="Unused means: in this many days.")] = 90,
           fmt: Annotated[UnusedFormat, typer.Option("--format", help="text or json.")] =
           UnusedFormat.text,
           write: Annotated[bool, typer.Option(help="Remove what is unused from the "
                                               "repository's documents.")] = False) -> None:
    """Per group, what its policies grant that no member used (last-accessed data): exit 0
    nothing unused, 2 found (or written), 1 error."""
    import json

    from iamstate.analysis.unused import as_json, render_text, run

    with reading("last-accessed data"):
        outcomes = run(Options.repo, account, days, write)
    if fmt == UnusedFormat.json:
        print(json.dumps({"accounts": [as_json(o.account, o.reports, days, o.notes, o.written)
                                       for o in outcomes]}, indent=2))
    else:
        for outcome in outcomes:
            out.print(render_text(outcome.account, outcome.reports, days, outcome.notes),
                      markup=False, highlight=False)
            for path in outcome.written:
                out.print(f"wrote {path}: review it, then `iamstate plan` shows who loses what",
                          markup=False, highlight=False)
    if any(o.found for o in outcomes):
        raise typer.Exit(2)


@app.command()
@handles_errors
def expire(
    write: Annotated[bool, typer.Option("--write", help="Delete the expired lines from the "
                                                        "YAML (comments kept).")] = False,
) -> None:
    """List expired users and memberships (exit 2, or 0 if none); --write deletes their
    lines from the repository, to commit in a pull request (exit 2)."""
    from iamstate.repository import expiry
    from iamstate.repository.loader import load_repository

    day = expiry.today()
    ended = [e for a in load_repository(Options.repo) for e in expiry.expired(a.desired, day)]
    for entry in ended:
        out.print(f"{entry.source}: {entry.describe()}", markup=False, highlight=False)
    if not ended:
        out.print(f"Nothing has expired ({day.isoformat()}).")
        return
    if write:
        from iamstate.repository.edit import remove_expired

        changed = remove_expired(Options.repo, ended)
        out.print(f"Removed {count(len(ended), 'expired entry')} from "
                  f"{count(len(changed), 'file')}.", markup=False, highlight=False)
    raise typer.Exit(2)


def _announce(text: str) -> None:
    err.print(f"note: {text}", markup=False, highlight=False)


def _say(text: str) -> None:
    """A progress line, at once: a CI log (a pipe) would otherwise hold it in a buffer."""
    out.print(text, markup=False, highlight=False)
    out.file.flush()


def _progress() -> Callable[[Change], None]:
    """Counts for a log as changes are made (a line per 50 of a step, not one a change)."""
    from iamstate.outputs.report import Progress

    return Progress(_say)


@contextmanager
def reading(what: str) -> Iterator[None]:
    """A spinner while AWS is read, on a terminal only: CI logs stay plain."""
    if out.is_terminal:
        with out.status(f"Reading {what}..."):
            yield
    else:
        yield


@contextmanager
def applying(planned: list[Planned]) -> Iterator[Callable[[Change], None]]:
    """A progress bar over every change on a terminal; counts per step in CI."""
    if not out.is_terminal:
        yield _progress()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    total = sum(len(p.plan.changes) for p in planned)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("Applying", total=total)

        def advance(change: Change) -> None:
            progress.advance(task)

        yield advance


def _confirm() -> bool:
    if not sys.stdin.isatty():
        err.print("Not a terminal: refusing to apply without --auto-approve or a plan file.")
        return False
    answer = typer.prompt("Apply these changes? [y/N]", default="", show_default=False)
    return answer.strip().lower() in ("y", "yes")


@app.command("import")
@handles_errors
def import_(
    account: Annotated[str, typer.Option("--account", "-a", help="The account folder to "
                                                                 "write.")],
    account_id: Annotated[str | None, typer.Option(help="Needed when accounts/A/account.yaml "
                                                        "does not exist yet.")] = None,
) -> None:
    """Write the YAML for what is live (bootstrap), so that `plan` right after shows no
    changes. Reports users that break the strategy; never writes a secret."""
    from iamstate.repository import importer
    from iamstate.repository import schema as schemas
    report = importer.import_account(Options.repo, account, account_id)
    out.print(f"Imported {count(report.users, 'user')}, {count(report.groups, 'group')}, "
              f"{count(report.policies, 'customer managed policy')} into:")
    for path in report.files:
        out.print(f"  {path}")
    if not (Options.repo / "schema" / schemas.RESOURCES).is_file():
        out.print("  editors: run `iamstate schema` to write schema/, which the files' "
                  "first line points at")
    for proposal in report.proposals:
        out.print(f"  proposed: {proposal} (commented out in account.yaml)")
    for breach in report.breaches:
        err.print(f"[yellow]breaks the strategy[/yellow] {breach}")


@app.command()
@handles_errors
def bootstrap(
    github_repo: Annotated[str | None, typer.Option("--github-repo", help="ORG/REPO of the "
                                                    "IAM repository on GitHub.")] = None,
    gitlab_project: Annotated[str | None, typer.Option(
        "--gitlab-project", help="GROUP/PROJECT of the IAM repository on GitLab.")] = None,
    gitlab_url: Annotated[str, typer.Option(help="The GitLab instance (its ID tokens' "
                                                 "issuer).")] = "https://gitlab.com",
    audience: Annotated[str | None, typer.Option(
        help="GitLab: the `aud` the jobs' id_tokens ask for [default: the GitLab URL].")]
    = None,
    environment: Annotated[str, typer.Option(help="GitHub: the protected environment of the "
                                                  "apply job.")] = "iam-production",
    branch: Annotated[str, typer.Option(help="The (protected) branch apply runs on.")] = "main",
    fmt: Annotated[str, typer.Option("--format", help="yaml or json.")] = "yaml",
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the template here "
                                                                "[default: print it].")] = None,
) -> None:
    """Write a CloudFormation template for an account (or a StackSet): the CI host's OIDC
    provider, the read-only plan role and the apply role, with least privilege."""
    from iamstate.aws.bootstrap import gitlab_template, render, template
    from iamstate.aws.live import read_actions
    from iamstate.errors import BootstrapError, shown
    from iamstate.plan.kinds import all_actions

    if fmt not in ("yaml", "json"):
        raise BootstrapError(f"--format {shown(fmt)}: write yaml or json")
    if (github_repo is None) == (gitlab_project is None):
        raise BootstrapError("give --github-repo ORG/REPO or --gitlab-project GROUP/PROJECT "
                             "(one of them)")
    reads, writes = sorted(read_actions()), sorted(all_actions())
    if gitlab_project is not None:
        if environment != "iam-production":
            raise BootstrapError("--environment is GitHub's: GitLab's ID token does not say "
                                 "the environment to AWS, so the apply role trusts --branch "
                                 "only (protect it, and the environment, in GitLab)")
        document = gitlab_template(gitlab_project, gitlab_url, audience, plan_actions=reads,
                                   apply_actions=writes, branch=branch)
    else:
        assert github_repo is not None
        document = template(github_repo, environment, plan_actions=reads,
                            apply_actions=writes, branch=branch)
    text = render(document, "json" if fmt == "json" else "yaml")
    if out_file is None:
        print(text, end="" if text.endswith("\n") else "\n")
        return
    write_text_safely(out_file, text, Options.repo)
    out.print(f"wrote {out_file}: review it, then deploy it to each account (a StackSet for "
              "an Organization) and put the role ARNs in account.yaml")


@user_app.command("add")
@handles_errors
def user_add(
    name: Annotated[str, typer.Argument(help="The IAM user name.")],
    account: AccountOption = None,
    category: Annotated[str | None, typer.Option(help="Category group (not needed when the "
                                                      "name matches a pattern).")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", "-g",
                                                    help="A group, repeatable.")] = None,
    console: Annotated[bool, typer.Option(help="Console access (needs --public-key).")] = False,
    public_key: Annotated[str | None, typer.Option(help="age or ssh public key for the "
                                                        "one-time password.")] = None,
    file: Annotated[Path | None, typer.Option(help="The file to add to [default: the one "
                                                   "with the most users].")] = None,
) -> None:
    """Declare a user, keeping comments and layout; validate, or undo the edit."""
    from iamstate.repository import edit
    path = edit.add_user(Options.repo, account, name, category, group or [], console,
                         public_key, file)
    out.print(f"Added user {name} to {path}. Next: iamstate plan, then open a pull request.")


@user_app.command("remove")
@handles_errors
def user_remove(name: Annotated[str, typer.Argument(help="The IAM user name.")],
                account: AccountOption = None) -> None:
    """Remove a user's declaration (apply then tears the user down); validate, or undo."""
    from iamstate.repository import edit
    path = edit.remove_user(Options.repo, account, name)
    out.print(f"Removed user {name} from {path}.")


@app.command("schema")
@handles_errors
def write_schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("schema"),
) -> None:
    """Write the JSON Schemas, so editors can check and complete the YAML: start a file
    with `# yaml-language-server: $schema=../../schema/resources.schema.json`."""
    from iamstate.repository import schema as schemas
    target = Options.repo / out_dir
    for name in (schemas.ACCOUNT, schemas.RESOURCES):
        write_text_safely(target / name, json.dumps(schemas.load_schema(name), indent=2)
                          + "\n", Options.repo)
        out.print(f"wrote {target / name}")


@app.command()
@handles_errors
def fmt(check: Annotated[bool, typer.Option(help="Only report; exit 1 if a file would "
                                                 "change.")] = False) -> None:
    """Re-indent the YAML files consistently (comments and order kept)."""
    from iamstate.repository import edit
    changed = edit.format_files(Options.repo, check)
    for path in changed:
        out.print(f"{'would reformat' if check else 'reformatted'} {path}")
    if check and changed:
        raise typer.Exit(1)


@ci_app.command("comment")
@handles_errors
def ci_comment(
    plan_files: Annotated[list[Path], typer.Argument(
        help="Plan files from `iamstate plan --out` (one per batch job).")],
    pr: Annotated[int | None, typer.Option(help="Pull (merge) request number [default: the "
                                                "CI run's].")] = None,
) -> None:
    """Create or update the one plan comment of the pull request (every account). It holds
    no free text: where the full plan is, is fixed words (the run's plan-* artifacts)."""
    from iamstate.hosts import ci
    _finish(ci.comment(plan_files, pr))


def _finish(outcome: Any) -> None:
    for line in outcome.lines:
        out.print(line)
    if outcome.reports:
        _applied(outcome.reports)
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


@ci_app.command("apply-reviewed")
@handles_errors
def ci_apply_reviewed(
    account: AccountsOption,
    commit: Annotated[str | None, typer.Option(help="The merge commit (on push to main) "
                                                    "[default: the CI run's commit].")] = None,
    pr: Annotated[int | None, typer.Option(help="Apply the follow-up plan posted on this "
                                                "pull request instead (run by hand).")] = None,
    allow_deletions: AllowDeletions = None,
    since: Annotated[str | None, typer.Option(
        help="The last applied commit (`ci accounts --since-last-apply` gives it): the "
             "plans reviewed on PRs merged since then count too.")] = None,
    report: ReportOption = None,
) -> None:
    """Apply each account only if a fresh plan is word for word the one reviewed on the PR;
    else change nothing and post the fresh plan there for review (exit 1)."""
    from iamstate.hosts import ci
    from iamstate.plan.checks import Overrides

    Options.report = report
    _finish(ci.apply_reviewed(Options.repo, _names(account), commit, pr,
                              Overrides(allow_deletions), _progress(), _announce, since or None))


@ci_app.command("check-reviewed")
@handles_errors
def ci_check_reviewed(
    account: AccountsOption,
    pr: Annotated[int | None, typer.Option(help="Pull (merge) request number [default: the "
                                                "CI run's, merge queue included].")] = None,
) -> None:
    """In the merge queue: fail unless the plan is still the one reviewed on the PR."""
    from iamstate.hosts import ci
    _finish(ci.check_reviewed(Options.repo, _names(account), pr))


@ci_app.command("drift")
@handles_errors
def ci_drift(account: AccountsOption = None) -> None:
    """Plan every account; on drift, open or update one issue per account and exit 2."""
    from iamstate.hosts import ci
    _finish(ci.drift(Options.repo, _names(account)))


@ci_app.command("expire")
@handles_errors
def ci_expire(account: AccountsOption = None, allow_deletions: AllowDeletions = None) -> None:
    """On a schedule: apply removals of expired access only (exit 2 when applied, 0 when
    none); any other change in a plan refuses the run, changing nothing (exit 1)."""
    from iamstate.hosts import expireflow
    from iamstate.plan.checks import Overrides

    _finish(expireflow.apply_expired(Options.repo, _names(account), Overrides(allow_deletions),
                                     _progress(), _announce))


@ci_app.command("accounts")
@handles_errors
def ci_accounts(
    changed_since: Annotated[str | None, typer.Option(
        help="Only accounts touched since this git ref (a change under policies/ touches "
             "every account).")] = None,
    batches: Annotated[int | None, typer.Option(
        help="Group the accounts into at most N jobs (each plans several).")] = None,
    since_last_apply: Annotated[bool, typer.Option(
        help="Only accounts touched since the last successful apply run on this branch "
             "(every account when there is none); each entry says that commit (`since`).")]
    = False,
) -> None:
    """Print the workflow matrix as JSON: accounts (or batches of them) and their roles."""
    from iamstate.hosts import ci
    print(json.dumps(ci.accounts_matrix(Options.repo, changed_since, batches,
                                        since_last_apply)))


PortOption = Annotated[int, typer.Option(help="Port on 127.0.0.1.")]


@sandbox_app.command("run")
@handles_errors
def sandbox_run(port: PortOption = 5055) -> None:
    """Run the sandbox in this terminal until Ctrl-C."""
    from iamstate.aws import sandbox
    out.print("Point iamstate at it from another shell with:\n" + sandbox.exports(port))
    raise typer.Exit(sandbox.run_foreground(port))


@sandbox_app.command("start")
@handles_errors
def sandbox_start(port: PortOption = 5055) -> None:
    """Start the sandbox in the background and print the variables that point at it."""
    from iamstate.aws import sandbox
    print(sandbox.exports(sandbox.start(Options.repo, port)))


@sandbox_app.command("stop")
def sandbox_stop() -> None:
    """Stop the background sandbox (its data goes with it)."""
    from iamstate.aws import sandbox
    out.print("Stopped." if sandbox.stop(Options.repo) else "No sandbox was running.")


@sandbox_app.command("env")
def sandbox_env(port: PortOption = 5055) -> None:
    """Print the variables that point boto3 and iamstate at the sandbox."""
    from iamstate.aws import sandbox
    print(sandbox.exports(port))


def _terminated(signum: int, frame: object) -> None:
    """A cancelled CI job gets SIGTERM: end the way Ctrl-C does (a change under way is
    finished or put back, nothing more starts, the report says what was done)."""
    raise KeyboardInterrupt


def run() -> None:
    """The `iamstate` command (and `python -m iamstate`): `main`, then the exit without
    the interpreter's teardown, which only frees memory the process hands back anyway
    (0.3 s after a 5,000-user audit). Only when nothing else runs (a thread finishing a
    change is waited for, as ever) and the output is flushed; otherwise the usual exit."""
    try:
        main()
        code: object = 0
    except SystemExit as done:
        code = 0 if done.code is None else done.code
    if isinstance(code, int) and threading.active_count() == 1:
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:  # None: started with it closed (`>&-`)
                    stream.flush()
        except (OSError, ValueError):  # a closed pipe: let the usual exit report it
            sys.exit(code)
        os._exit(code)
    sys.exit(code)  # type: ignore[arg-type]


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    signal.signal(signal.SIGTERM, _terminated)
    try:
        app()
    except KeyboardInterrupt:  # outside a command (parsing): nothing was started
        err.print("Interrupted.")
        sys.exit(130)
    except Exception as error:  # the last resort: no traceback for users
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        if not isinstance(error, BotoCoreError | ClientError | ResponseParserError):
            raise
        # Whatever AWS answered that no step turned into a typed error: say it plainly.
        err.print(f"[red]error[/red] AWS: {error}")
        sys.exit(1)
