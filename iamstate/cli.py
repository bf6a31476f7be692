"""The `iamstate` command: parse, call the workflow, map errors to exit codes. Nothing else."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from iamstate import edit, importer, render, sandbox, workflow
from iamstate import schema as schemas
from iamstate.apply import ApplyReport
from iamstate.audit import render_findings
from iamstate.errors import IamStateError, RepoError
from iamstate.github import GitHub
from iamstate.model import Account
from iamstate.plan import AccountPlan, Change
from iamstate.repo import load_repository

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="AWS IAM users, groups and group policies as YAML in git.")
sandbox_app = typer.Typer(no_args_is_help=True, help="A local IAM endpoint (moto) to try "
                          "iamstate without an AWS account.")
app.add_typer(sandbox_app, name="sandbox")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    text = "text"
    markdown = "markdown"
    json = "json"


class Options:
    repo: Path = Path(".")


RepoOption = Annotated[Path, typer.Option("--repo", help="The repository (default: here).",
                                          file_okay=False)]
AccountOption = Annotated[str | None, typer.Option("--account", "-a",
                                                   help="Only this account (a folder name).")]


@app.callback()
def options(repo: RepoOption = Path(".")) -> None:
    Options.repo = repo


def fail(error: IamStateError) -> typer.Exit:
    if isinstance(error, RepoError):
        for problem in error.problems:
            err.print(f"[red]error[/red] {problem}", markup=True)
        err.print(f"{len(error.problems)} error(s); nothing was read from or changed in AWS.")
    else:
        err.print(f"[red]error[/red] {error}")
    return typer.Exit(1)


def warn(accounts: list[Account]) -> None:
    for account in accounts:
        for warning in account.warnings:
            err.print(f"[yellow]warning[/yellow] {warning}")


@app.command()
def validate() -> None:
    """Check the repository offline (no AWS call): exit 0 if valid, 1 with every error."""
    try:
        accounts = load_repository(Options.repo)
    except IamStateError as error:
        raise fail(error) from None
    warn(accounts)
    users = sum(len(a.desired.users) for a in accounts)
    out.print(f"Valid: {len(accounts)} account(s), {users} user(s).")


@app.command()
def plan(
    account: AccountOption = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the plan file [default: .iamstate/plan.json].")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, markdown or json.")] = (
        Format.text),
    detailed_exitcode: Annotated[bool, typer.Option(
        "--detailed-exitcode", help="Exit 0 for no changes, 2 for changes.")] = False,
) -> None:
    """Read live state, print the plan and write it to a plan file for `apply`."""
    try:
        with reading("live IAM state"):
            planned = workflow.plan_all(Options.repo, account)
    except IamStateError as error:
        raise fail(error) from None
    warn([p.account for p in planned])
    plans = [p.plan for p in planned]
    target = out_file or Options.repo / ".iamstate" / "plan.json"
    workflow.write_plan_file(target, plans)
    if fmt is Format.json:
        print(render.render_json(plans))
    elif fmt is Format.markdown:
        print(render.render_markdown(plans))
    else:
        render.render_text(plans, out)
        if any(p.changes for p in plans):
            out.print(f"Saved to {target}. Apply exactly this plan with: "
                      f"iamstate apply {target}")
    if detailed_exitcode and any(p.changes for p in plans):
        raise typer.Exit(2)


@app.command()
def apply(
    plan_file: Annotated[Path | None, typer.Argument(
        help="A plan file from `iamstate plan --out`; without one, plan and ask.")] = None,
    account: AccountOption = None,
    allow_deletions: Annotated[int | None, typer.Option(
        "--allow-deletions", help="Allow up to N deletions (overrides safety.max_deletions).")
    ] = None,
    auto_approve: Annotated[bool, typer.Option(
        "--auto-approve", help="Do not ask (without a plan file).")] = False,
    workers: Annotated[int, typer.Option(help="Changes applied at once within a phase.",
                                         min=1, max=64)] = 4,
) -> None:
    """Apply a saved plan (refused if stale), or plan, show and ask y/N."""
    try:
        if plan_file is not None:
            saved = workflow.read_plan_file(plan_file)
            with reading("live IAM state to check the plan is current"):
                planned = workflow.check_current(saved, Options.repo)
        else:
            with reading("live IAM state"):
                planned = workflow.plan_all(Options.repo, account)
            render.render_text([p.plan for p in planned], out)
            if not any(p.plan.changes for p in planned):
                return
            if not auto_approve and not _confirm():
                err.print("Not applied.")
                raise typer.Exit(1)
        if not any(p.plan.changes for p in planned):
            out.print("No changes to apply.")
            return
        with applying(planned) as on_done:
            reports = workflow.apply_planned(planned, Options.repo, allow_deletions,
                                             workers=workers, on_done=on_done)
    except IamStateError as error:
        raise fail(error) from None
    _applied(reports)


def _applied(reports: list[ApplyReport]) -> None:
    """The end of a successful apply: its notes (where one-time passwords went), a count."""
    for report in reports:
        for note in report.notes:
            out.print(f"  note: {note}")
    done = sum(len(r.done) for r in reports)
    out.print(f"Apply complete: {done} change(s) made.")


@app.command()
def audit(
    account: AccountOption = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, markdown or json.")] = (
        Format.text),
) -> None:
    """Report what the strategy forbids on live state: exit 0 clean, 3 findings, 1 error."""
    try:
        findings = workflow.audit_all(Options.repo, account)
    except IamStateError as error:
        raise fail(error) from None
    print(render_findings(findings, fmt.value))
    if any(findings.values()):
        raise typer.Exit(3)


def _progress(change: Change) -> None:
    out.print(f"  done: {render.headline(change)}", markup=False, highlight=False)


@contextmanager
def reading(what: str) -> Iterator[None]:
    """A spinner while AWS is read, on a terminal only: CI logs stay plain."""
    if out.is_terminal:
        with out.status(f"Reading {what}..."):
            yield
    else:
        yield


@contextmanager
def applying(planned: list[workflow.Planned]) -> Iterator[Callable[[Change], None]]:
    """A progress bar over every change on a terminal; one plain line per change in CI."""
    if not out.is_terminal:
        yield _progress
        return
    total = sum(len(p.plan.changes) for p in planned)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=out) as progress:
        task = progress.add_task("Applying", total=total)

        def advance(change: Change) -> None:
            _progress(change)  # printed above the bar: `out` is the bar's console
            progress.advance(task)

        yield advance


def _confirm() -> bool:
    if not sys.stdin.isatty():
        err.print("Not a terminal: refusing to apply without --auto-approve or a plan file.")
        return False
    answer = typer.prompt("Apply these changes? [y/N]", default="", show_default=False)
    return answer.strip().lower() in ("y", "yes")


@app.command("import")
def import_(
    account: Annotated[str, typer.Option("--account", "-a", help="The account folder to "
                                                                 "write.")],
    account_id: Annotated[str | None, typer.Option(help="Needed when accounts/A/account.yaml "
                                                        "does not exist yet.")] = None,
) -> None:
    """Write the YAML for what is live (bootstrap), so that `plan` right after shows no
    changes. Reports users that break the strategy; never writes a secret."""
    try:
        report = importer.import_account(Options.repo, account, account_id)
    except IamStateError as error:
        raise fail(error) from None
    out.print(f"Imported {report.users} user(s), {report.groups} group(s), "
              f"{report.policies} customer managed policy(ies) into:")
    for path in report.files:
        out.print(f"  {path}")
    if not (Options.repo / "schema" / schemas.RESOURCES).is_file():
        out.print("  editors: run `iamstate schema` to write schema/, which the files' "
                  "first line points at")
    for proposal in report.proposals:
        out.print(f"  proposed: {proposal} (commented out in account.yaml)")
    for breach in report.breaches:
        err.print(f"[yellow]breaks the strategy[/yellow] {breach}")


user_app = typer.Typer(no_args_is_help=True, help="Add or remove a user in the YAML (then "
                                                 "open a pull request).")
app.add_typer(user_app, name="user")


@user_app.command("add")
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
    try:
        path = edit.add_user(Options.repo, account, name, category, group or [], console,
                             public_key, file)
    except IamStateError as error:
        raise fail(error) from None
    out.print(f"Added user {name} to {path}. Next: iamstate plan, then open a pull request.")


@user_app.command("remove")
def user_remove(name: Annotated[str, typer.Argument(help="The IAM user name.")],
                account: AccountOption = None) -> None:
    """Remove a user's declaration (apply then tears the user down); validate, or undo."""
    try:
        path = edit.remove_user(Options.repo, account, name)
    except IamStateError as error:
        raise fail(error) from None
    out.print(f"Removed user {name} from {path}.")


@app.command("schema")
def write_schemas(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write to.")] = Path("schema"),
) -> None:
    """Write the JSON Schemas, so editors can check and complete the YAML: start a file
    with `# yaml-language-server: $schema=../../schema/resources.schema.json`."""
    target = Options.repo / out_dir
    target.mkdir(parents=True, exist_ok=True)
    for name in (schemas.ACCOUNT, schemas.RESOURCES):
        (target / name).write_text(json.dumps(schemas.load_schema(name), indent=2) + "\n")
        out.print(f"wrote {target / name}")


@app.command()
def fmt(check: Annotated[bool, typer.Option(help="Only report; exit 1 if a file would "
                                                 "change.")] = False) -> None:
    """Re-indent the YAML files consistently (comments and order kept)."""
    changed = edit.format_files(Options.repo, check)
    for path in changed:
        out.print(f"{'would reformat' if check else 'reformatted'} {path}")
    if check and changed:
        raise typer.Exit(1)


ci_app = typer.Typer(no_args_is_help=True, help="What the GitHub workflows call.")
app.add_typer(ci_app, name="ci")


def _pull_request_number(given: int | None) -> int:
    if given is not None:
        return given
    event = os.environ.get("GITHUB_EVENT_PATH")
    if event and Path(event).is_file():
        number = json.loads(Path(event).read_text()).get("pull_request", {}).get("number")
        if number:
            return int(number)
    raise typer.BadParameter("no --pr given and no pull_request in GITHUB_EVENT_PATH")


@ci_app.command("comment")
def ci_comment(
    plan_file: Annotated[Path, typer.Argument(help="A plan file from `iamstate plan --out`.")],
    pr: Annotated[int | None, typer.Option(help="Pull request number [default: from the "
                                                "GitHub event].")] = None,
    full_plan: Annotated[str, typer.Option(help="Where the full plan is, for long plans.")]
    = "the plan artifact of this workflow run",
) -> None:
    """Create or update the one sticky plan comment per account on the pull request."""
    try:
        saved = workflow.read_plan_file(plan_file)
        number = _pull_request_number(pr)
        hub = GitHub.from_environment()
        for entry in saved["accounts"]:
            plan = AccountPlan.from_dict(entry)
            body = render.render_markdown([plan], full_plan)
            what = hub.upsert_plan_comment(number, plan.config.name, plan.digest(), body)
            out.print(f"{what} the plan comment for {plan.config.name} on #{number}")
    except IamStateError as error:
        raise fail(error) from None


@ci_app.command("apply-reviewed")
def ci_apply_reviewed(
    account: Annotated[str, typer.Option("--account", "-a", help="The account to apply.")],
    commit: Annotated[str | None, typer.Option(help="The merge commit [default: "
                                                    "GITHUB_SHA].")] = None,
    allow_deletions: Annotated[int | None, typer.Option("--allow-deletions")] = None,
) -> None:
    """On merge: apply only if a fresh plan is exactly the one reviewed on the PR."""
    try:
        sha = commit or os.environ.get("GITHUB_SHA", "")
        digest = GitHub.from_environment().reviewed_digest(sha, account)
        planned = workflow.check_reviewed(Options.repo, account, digest)
        render.render_text([p.plan for p in planned], out)
        if not planned[0].plan.changes:
            out.print("No changes to apply.")
            return
        reports = workflow.apply_planned(planned, Options.repo, allow_deletions,
                                         on_done=_progress)
    except IamStateError as error:
        raise fail(error) from None
    _applied(reports)
    out.print("The reviewed plan is live.")


@ci_app.command("drift")
def ci_drift(account: AccountOption = None) -> None:
    """Plan every account; on drift, open or update one issue and exit 2."""
    try:
        planned = workflow.plan_all(Options.repo, account)
        drifted = [p.plan for p in planned if p.plan.changes]
        if not drifted:
            out.print("No drift: live state matches the repository.")
            return
        hub = GitHub.from_environment()
        for plan in drifted:
            body = render.render_markdown([plan], "the plan artifact of the drift workflow run")
            what = hub.upsert_drift_issue(
                plan.config.name,
                f"iamstate: live IAM of {plan.config.name} drifted from the repository", body)
            out.print(f"Drift in {plan.config.name}: {what}")
    except IamStateError as error:
        raise fail(error) from None
    raise typer.Exit(2)


@ci_app.command("accounts")
def ci_accounts(
    changed_since: Annotated[str | None, typer.Option(
        help="Only accounts touched since this git ref (a change under policies/ touches "
             "every account).")] = None,
) -> None:
    """Print the workflow matrix: [{"account": ..., "role_arn": ...}] as JSON."""
    try:
        accounts = load_repository(Options.repo)
        names = workflow.touched_accounts(Options.repo, [a.config.name for a in accounts],
                                          changed_since)
    except IamStateError as error:
        raise fail(error) from None
    print(json.dumps([{"account": a.config.name, "role_arn": a.config.role_arn or ""}
                      for a in accounts if a.config.name in names]))


PortOption = Annotated[int, typer.Option(help="Port on 127.0.0.1.")]


@sandbox_app.command("run")
def sandbox_run(port: PortOption = sandbox.DEFAULT_PORT) -> None:
    """Run the sandbox in this terminal until Ctrl-C."""
    out.print("Point iamstate at it from another shell with:\n" + sandbox.exports(port))
    raise typer.Exit(sandbox.run_foreground(port))


@sandbox_app.command("start")
def sandbox_start(port: PortOption = sandbox.DEFAULT_PORT) -> None:
    """Start the sandbox in the background and print the variables that point at it."""
    try:
        running = sandbox.start(Options.repo, port)
    except sandbox.SandboxError as error:
        err.print(f"[red]error[/red] {error}")
        raise typer.Exit(1) from None
    print(sandbox.exports(running))


@sandbox_app.command("stop")
def sandbox_stop() -> None:
    """Stop the background sandbox (its data goes with it)."""
    out.print("Stopped." if sandbox.stop(Options.repo) else "No sandbox was running.")


@sandbox_app.command("env")
def sandbox_env(port: PortOption = sandbox.DEFAULT_PORT) -> None:
    """Print the variables that point boto3 and iamstate at the sandbox."""
    print(sandbox.exports(port))


def main() -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        app()
    except KeyboardInterrupt:
        err.print("Interrupted.")
        sys.exit(130)
    except (BotoCoreError, ClientError, ResponseParserError) as error:
        # Whatever AWS answered that no step turned into a typed error: say it plainly.
        err.print(f"[red]error[/red] AWS: {error}")
        sys.exit(1)
