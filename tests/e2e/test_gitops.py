"""The GitOps day, end to end: the installed CLI, a moto server, a local fake of GitHub's
REST API (and of its OIDC token endpoint).

- Two PRs planned against the same main, merged one after the other: the first applies, the
  second is refused (its plan no longer describes what would happen), its fresh plan is
  posted on it for review, and applied after review; no change is applied that was not
  shown in a comment first.
- An Organization: a change under policies/ touches every account; they are planned in 20
  jobs (GitHub's matrix holds 256), and the PR gets one comment within GitHub's limit.
  ORGANIZATION accounts, five a job: enough that a section per account no longer fits
  (so identical plans share one); the rest (every account in one job, each planned
  through its own role, one comment naming every digest) holds for any count. The
  comment's size for 1,000 accounts is tests/unit/test_render.py's; time and calls per
  account at that scale are benchmarks/organization.py's.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from ruamel.yaml import YAML

from iamstate.aws.sandbox import free_port, server_command, wait_until_up
from iamstate.hosts.comment import sections_of
from iamstate.outputs.markdown import GITHUB_COMMENT_LIMIT
from tests.e2e.conftest import Cli
from tests.e2e.fake_github import FakeGitHub
from tests.helpers import ROOT


def branch(cli: Cli, name: str, files: dict[str, str]) -> Cli:
    """A checkout of main with a PR's files on top."""
    repo = cli.repo.parent / name
    shutil.copytree(cli.repo, repo, ignore=shutil.ignore_patterns(".iamstate", "p.json"))
    for relative, text in files.items():
        (repo / relative).write_text(text)
    return dataclasses.replace(cli, repo=repo)


PR_A = {"accounts/sandbox/a.yaml": "users:\n  HeadlessUser-a: {tags: {pr: a}}\n"}
PR_B = {"accounts/sandbox/b.yaml": "users:\n  HeadlessUser-b: {tags: {pr: b}}\n"}


def applied_calls(cli: Cli) -> set[str]:
    return {u["UserName"] for u in cli.iam.list_users()["Users"]}


def test_the_two_pr_day(cli: Cli, github: FakeGitHub) -> None:
    assert cli("apply", "--auto-approve").code == 0  # main is live
    pr_a, pr_b = branch(cli, "pr-a", PR_A), branch(cli, "pr-b", PR_B)
    for number, checkout in ((1, pr_a), (2, pr_b)):  # both planned against the same main
        assert checkout("plan", "--out", "p.json").code == 0
        assert checkout("ci", "comment", "p.json", "--pr", str(number)).code == 0

    merged_a = branch(cli, "main-a", PR_A)  # merge A: applied
    github.merge(1, "sha-a")
    done = merged_a("ci", "apply-reviewed", "--account", "sandbox", "--commit", "sha-a")
    assert done.code == 0, done.both
    assert "HeadlessUser-a" in applied_calls(cli)

    merged_b = branch(cli, "main-b", {**PR_A, **PR_B})  # merge B on top of A: refused
    github.merge(2, "sha-b")
    before = cli.snapshot()
    refused = merged_b("ci", "apply-reviewed", "--account", "sandbox", "--commit", "sha-b")
    assert refused.code == 1
    assert "is not the plan reviewed on the pull request" in refused.out
    assert "posted the fresh plan on #2 for review" in refused.out
    assert cli.snapshot() == before
    follow_up = github.comments[2][-1]["body"]
    assert follow_up.startswith("<!-- iamstate-plan follow-up -->")
    assert "run the **iamstate apply** workflow by hand" in follow_up and "`pr` = 2" in \
        follow_up
    assert "+ create user HeadlessUser-b" in follow_up
    assert "HeadlessUser-a" not in follow_up  # only what is left to do is shown

    # the follow-up copied (by any job holding GITHUB_TOKEN) onto other PRs counts nowhere
    merged_b.env["GITHUB_SHA"] = "sha-b"
    github.open_pull(3, "head-3")
    github.merge(4, "sha-4")
    github.main.remove("sha-4")  # merged into another branch
    github.post(5, "<!-- iamstate-plan -->")  # a PR merged after the copy was posted
    for number, why in ((3, "#3 is not merged"), (4, "which is not on the branch"),
                        (5, "no follow-up plan comment posted after its merge"),
                        (6, "no iamstate plan comment from before its merge")):
        if number == 6:  # merged (never planned), then a follow-up appears on it
            github.merge(6, "sha-6")
            merged_b.env["GITHUB_SHA"] = "sha-6"
        github.post(number, follow_up.replace("`pr` = 2", f"`pr` = {number}"))
        if number == 5:
            github.merge(5, "sha-5")
            merged_b.env["GITHUB_SHA"] = "sha-5"
        copied = merged_b("ci", "apply-reviewed", "--account", "sandbox", "--pr", str(number))
        assert copied.code == 1 and why in copied.err, (number, copied.both)
        assert cli.snapshot() == before
    # after review, the team runs apply by hand with pr=2 on main: exactly the follow-up
    later = merged_b("ci", "apply-reviewed", "--account", "sandbox", "--pr", "2")
    assert later.code == 0, later.both
    assert "HeadlessUser-b" in applied_calls(cli)
    assert merged_b("plan", "--detailed-exitcode").code == 0


def test_the_merge_queue_checks_the_reviewed_plan(cli: Cli, github: FakeGitHub,
                                                  tmp_path: Path) -> None:
    assert cli("apply", "--auto-approve").code == 0
    pr = branch(cli, "pr-q", PR_B)
    assert pr("plan", "--out", "p.json").code == 0
    assert pr("ci", "comment", "p.json", "--pr", "5").code == 0
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"merge_group": {
        "head_ref": "refs/heads/gh-readonly-queue/main/pr-5-0a1b2c", "base_ref": "main"}}))
    pr.env["GITHUB_EVENT_PATH"] = str(event)
    ok = pr("ci", "check-reviewed", "--account", "sandbox")
    assert ok.code == 0 and "is the reviewed plan" in ok.out, ok.both
    cli.iam.create_user(UserName="someone-else")  # main moved on: the queue refuses
    moved = pr("ci", "check-reviewed", "--account", "sandbox")
    assert moved.code == 1


@pytest.fixture
def oidc(cli: Cli) -> Iterator[list[str]]:
    """GitHub's OIDC token endpoint, as a job with `id-token: write` sees it."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            if self.headers.get("Authorization") != "bearer request-token":
                self.send_response(401)
                self.end_headers()
                return
            data = json.dumps({"value": "eyJ.oidc.token"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cli.env.update({"ACTIONS_ID_TOKEN_REQUEST_URL":
                    f"http://127.0.0.1:{server.server_address[1]}/token?x=1",
                    "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "request-token"})
    yield asked
    server.shutdown()


SHARED: dict[str, Any] = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::shared/*"}]}


def seed_accounts(cli: Cli, count: int) -> None:
    """Every account live as the repository declares it (each in its own AWS account on
    the one moto server, reached by assuming a role there)."""
    def one(i: int) -> None:
        account_id = f"{200000000000 + i}"
        creds = cli.sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/seed",
                                    RoleSessionName="seed")["Credentials"]
        iam = boto3.client("iam", endpoint_url=cli.env["AWS_ENDPOINT_URL"],
                           region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                           aws_secret_access_key=creds["SecretAccessKey"],
                           aws_session_token=creds["SessionToken"])
        iam.create_group(GroupName="AllUsers")
        iam.put_group_policy(GroupName="AllUsers", PolicyName="Shared",
                             PolicyDocument=json.dumps(SHARED))
        iam.create_user(UserName=f"svc-{i:03d}")
        iam.add_user_to_group(UserName=f"svc-{i:03d}", GroupName="AllUsers")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(count)))


def organization(root: Path, count: int) -> list[str]:
    """`count` accounts, each its own AWS account with its plan and apply roles, sharing
    one policy document."""
    shutil.rmtree(root / "accounts")
    (root / "policies" / "shared.json").write_text(json.dumps(SHARED))
    names = []
    for i in range(count):
        name, account_id = f"team-{i:03d}", f"{200000000000 + i}"
        folder = root / "accounts" / name
        folder.mkdir(parents=True)
        (folder / "account.yaml").write_text(
            f'account_id: "{account_id}"\n'
            f"plan_role_arn: arn:aws:iam::{account_id}:role/iamstate-plan\n"
            f"apply_role_arn: arn:aws:iam::{account_id}:role/iamstate-apply\n"
            "common_groups: [AllUsers]\n")
        (folder / "iam.yaml").write_text(
            "groups:\n  AllUsers: {inline_policies: {Shared: shared}}\n"
            f"users:\n  svc-{i:03d}: {{}}\n")
        names.append(name)
    return names


@pytest.fixture
def bare_endpoint(cli: Cli) -> Iterator[None]:
    """A moto server of its own, without AWS's managed policies: moto loads all 1,582 of
    them into every new account, which for many accounts would take minutes."""
    port = free_port()
    process = subprocess.Popen(server_command(port), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               env={k: v for k, v in os.environ.items()
                                    if k != "MOTO_IAM_LOAD_MANAGED_POLICIES"})
    wait_until_up(port)
    endpoint = f"http://127.0.0.1:{port}"
    cli.env["AWS_ENDPOINT_URL"] = endpoint
    cli.sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
    yield
    process.kill()
    process.wait(timeout=10)


ORGANIZATION = 100


def test_an_organization_in_twenty_batches_and_one_comment(
    cli: Cli, github: FakeGitHub, oidc: list[str], bare_endpoint: None
) -> None:
    names = organization(cli.repo, ORGANIZATION)
    seed_accounts(cli, ORGANIZATION)
    # the pull request: one line more in the shared policy, so every account changes
    changed = {**SHARED, "Statement": [{**SHARED["Statement"][0],
                                        "Action": ["s3:GetObject", "s3:ListBucket"]}]}
    (cli.repo / "policies" / "shared.json").write_text(json.dumps(changed))
    matrix = json.loads(cli("ci", "accounts", "--batches", "20").out)
    assert len(matrix) == 20 <= 256
    assert sorted(n for job in matrix for n in job["accounts"].split()) == names
    files = []
    for job in matrix:  # each job: its accounts, each in its own role, concurrently
        out = f"plan-{job['batch']}.json"
        result = cli("plan", "--account", job["accounts"], "--out", out)
        assert result.code == 0, result.both[-2000:]
        files.append(out)
    assert oidc, "each account's plan role was assumed with GitHub's OIDC token"
    commented = cli("ci", "comment", *files, "--pr", "42")
    assert commented.code == 0, commented.both
    [comment] = github.comments[42]
    body = comment["body"]
    assert len(body) < GITHUB_COMMENT_LIMIT
    assert f"{ORGANIZATION} account(s) planned, {ORGANIZATION} with changes" in body
    sections = sections_of(body)
    assert sorted(n for s in sections for n in s.digests) == names
    assert all(s.reviewable for s in sections)
    assert len(sections) == 1  # the same change everywhere: one section, every digest
    assert "`update group inline policy AllUsers/Shared`" in sections[0].text
    assert '"s3:ListBucket"' in sections[0].text
    # the section of any account applies, in that account only, through its apply role
    github.merge(42, "merge-42")
    first = matrix[0]["accounts"].split()[:2]
    applied = cli("ci", "apply-reviewed", "--account", " ".join(first), "--commit", "merge-42")
    assert applied.code == 0, applied.both[-3000:]
    assert applied.out.count("the reviewed plan is live") == 2


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A", "accounts", "policies")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def checkout_at(cli: Cli, sha: str) -> Path:
    """The repository as an apply run for `sha` checks it out."""
    repo = cli.repo.parent / f"at-{sha[:8]}"
    git(cli.repo, "worktree", "add", "-q", "--detach", str(repo), sha)
    return repo


def live_organization(cli: Cli, github: FakeGitHub, count: int) -> str:
    """`count` accounts, live as declared, committed on main and applied once: the base."""
    organization(cli.repo, count)
    seed_accounts(cli, count)
    git(cli.repo, "init", "-q", "-b", "main")
    base = commit_all(cli.repo, "main, live")
    github.main.append(base)
    github.run(base, "success")
    return base


def apply_run(cli: Cli, github: FakeGitHub, sha: str) -> list[str]:
    """One run of apply.yml on a push of `sha`, step by step as the workflow says: the
    accounts job's matrix (touched since the last successful apply run), then each batch's
    `ci apply-reviewed`; GitHub records the run's conclusion."""
    workflow = YAML(typ="safe").load((ROOT / ".github/workflows/apply.yml").read_text())
    assert workflow["concurrency"]["queue"] == "max"  # GitHub keeps every pending run
    script = json.dumps(workflow["jobs"])
    assert "ci accounts --since-last-apply" in script and "--since" in script
    cli.env.update({"GITHUB_SHA": sha, "GITHUB_REF_NAME": "main"})
    matrix = json.loads(cli("ci", "accounts", "--since-last-apply", "--batches", "20").out)
    outputs, ok = [], True
    for job in matrix:
        done = cli("ci", "apply-reviewed", "--account", job["accounts"], "--commit", sha,
                   "--since", job["since"])
        outputs.append(done.both)
        ok = ok and done.code == 0
    github.run(sha, "success" if ok else "failure")
    return outputs


def test_three_merges_in_a_row_none_is_dropped(
    cli: Cli, github: FakeGitHub, oidc: list[str], bare_endpoint: None
) -> None:
    """Three PRs, each touching its own account, merged while the first apply runs: the
    second's run is dropped (as GitHub dropped pending runs without `queue: max`, or as a
    cancelled or failed run). The third's run applies every account touched since the last
    successful apply, each with the plan reviewed on its own PR: nothing is lost."""
    live_organization(cli, github, 3)
    for i in range(3):  # three PRs planned against the same main
        pr = branch(cli, f"pr-{i}", {f"accounts/team-00{i}/new.yaml":
                                     f"users:\n  svc-new-{i}: {{}}\n"})
        assert pr("plan", "--account", f"team-00{i}", "--out", "p.json").code == 0
        assert pr("ci", "comment", "p.json", "--pr", str(20 + i)).code == 0
    merges = []
    for i in range(3):
        (cli.repo / f"accounts/team-00{i}/new.yaml").write_text(
            f"users:\n  svc-new-{i}: {{}}\n")
        merges.append(commit_all(cli.repo, f"merge #{20 + i}"))
        github.merge(20 + i, merges[-1])
    first = apply_run(dataclasses.replace(cli, repo=checkout_at(cli, merges[0])), github,
                      merges[0])
    assert all("the reviewed plan is live" in out for out in first), first
    github.run(merges[1], "cancelled")  # the second merge's run never ran
    third = apply_run(cli, github, merges[2])
    assert sum(out.count("the reviewed plan is live") for out in third) == 2, third
    for i in range(3):
        assert cli("plan", "--account", f"team-00{i}", "--detailed-exitcode").code == 0, i
    assert github.runs[-1]["conclusion"] == "success"


def test_an_older_apply_run_again_never_undoes_a_newer_one(
    cli: Cli, github: FakeGitHub, oidc: list[str], bare_endpoint: None
) -> None:
    """#30 adds a user and is applied; #31 removes it and is applied. Someone then re-runs
    #30's apply job: its plan (create the user) still matches its own review word for word,
    but applying it would undo #31's reviewed removal. Refused, nothing changes."""
    base = live_organization(cli, github, 1)
    extra = {"accounts/team-000/new.yaml": "users:\n  svc-new: {}\n"}
    add = branch(cli, "pr-30", extra)
    assert add("plan", "--account", "team-000", "--out", "p.json").code == 0
    assert add("ci", "comment", "p.json", "--pr", "30").code == 0
    (cli.repo / "accounts/team-000/new.yaml").write_text(extra["accounts/team-000/new.yaml"])
    first = commit_all(cli.repo, "merge #30")
    github.merge(30, first)
    assert all("the reviewed plan is live" in out for out in apply_run(
        dataclasses.replace(cli, repo=checkout_at(cli, first)), github, first))
    (cli.repo / "accounts/team-000/new.yaml").unlink()
    remove = branch(cli, "pr-31", {})
    assert remove("plan", "--account", "team-000", "--out", "p.json").code == 0
    assert remove("ci", "comment", "p.json", "--pr", "31").code == 0
    second = commit_all(cli.repo, "merge #31")
    github.merge(31, second)
    assert all("the reviewed plan is live" in out for out in apply_run(cli, github, second))
    assert cli("plan", "--account", "team-000", "--detailed-exitcode").code == 0
    old = dataclasses.replace(cli, repo=cli.repo.parent / f"at-{first[:8]}")
    old.env.update({"GITHUB_SHA": first, "GITHUB_REF_NAME": "main"})
    # "Re-run all jobs": the accounts job is asked again, and refuses
    matrix = old("ci", "accounts", "--since-last-apply", "--batches", "20")
    # "Re-run failed jobs": the apply job alone, with the matrix its run had then
    apply = old("ci", "apply-reviewed", "--account", "team-000", "--commit", first,
                "--since", base)
    for done in (matrix, apply):
        assert done.code == 1 and f"comes before {second}" in done.err, done.both
        assert "nothing was changed" in done.err
    assert cli("plan", "--account", "team-000", "--detailed-exitcode").code == 0  # still gone


def test_import_and_sandbox_leave_nothing_for_git_add_to_pick_up(
    cli: Cli, tmp_path: Path
) -> None:
    """After `import` (or `sandbox start`) and a plan, `git add -A` stages the YAML and the
    .gitignore, never .iamstate/ (plans, one-time passwords, the sandbox's state)."""
    cli.iam.create_user(UserName="ana")
    for existing in (None, "node_modules/", ".iamstate/\n"):
        repo = tmp_path / f"fresh-{len(existing or '')}"
        (repo / "accounts").mkdir(parents=True)
        if existing is not None:
            (repo / ".gitignore").write_text(existing)
        importer = dataclasses.replace(cli, repo=repo)
        done = importer("import", "--account", "prod", "--account-id", "123456789012")
        assert done.code == 0, done.both
        lines = (repo / ".gitignore").read_text().splitlines()
        assert lines.count(".iamstate/") == 1 and (existing is None or existing.strip() in
                                                   lines)
        assert importer("plan", "--out", ".iamstate/plan.json").code == 0
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        staged = git(repo, "diff", "--cached", "--name-only").split()
        assert ".gitignore" in staged and not any(".iamstate" in p for p in staged), staged
    sandboxed = tmp_path / "sandboxed"
    sandboxed.mkdir()
    started = dataclasses.replace(cli, repo=sandboxed)("sandbox", "start", "--port", "0")
    try:
        assert started.code == 0, started.both
        assert (sandboxed / ".gitignore").read_text() == ".iamstate/\n"
    finally:
        dataclasses.replace(cli, repo=sandboxed)("sandbox", "stop")


def test_the_sandbox_says_how_to_install_moto_when_it_is_missing(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from iamstate.aws import sandbox
    from iamstate.errors import SandboxError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "moto" else real(name, *a))
    with pytest.raises(SandboxError, match=r"pip install 'iamstate\[sandbox\]'"):
        sandbox.server_command(5055)
