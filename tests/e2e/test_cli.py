"""The installed `iamstate` CLI against a moto server, as a user runs it."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyrage

from tests.e2e.conftest import Cli
from tests.helpers import write
from tests.unit.test_repo import CASES

ADMIN = json.dumps({"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


def apply_example(cli: Cli) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    result = cli("apply", "p.json")
    assert result.code == 0, result.both


def test_first_apply_then_plan_shows_no_changes(cli: Cli) -> None:
    first = cli("plan", "--detailed-exitcode", "--out", str(cli.repo / "plan.json"))
    assert first.code == 2, first.both
    assert "+ create user jdoe" in first.out
    assert first.out.strip().splitlines()[-2].startswith("Plan: 32 to add, 0 to change")
    applied = cli("apply", str(cli.repo / "plan.json"))
    assert applied.code == 0, applied.both
    assert "Apply complete: 32 change(s) made." in applied.out
    again = cli("plan", "--detailed-exitcode")
    assert again.code == 0, again.both
    assert "Plan: 0 to add, 0 to change, 0 to destroy." in again.out
    users = [u["UserName"] for u in cli.iam.list_users()["Users"]]
    assert len(users) == 5
    for user in users:
        groups = {g["GroupName"] for g in cli.iam.list_groups_for_user(UserName=user)["Groups"]}
        assert "AllUsers" in groups
        assert len(groups & {"AllHumans", "AllHeadlessUsers", "AllMisconfiguredUsers"}) == 1


def test_drift_is_planned_away_and_ignored_users_are_untouched(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    iam = cli.iam
    iam.create_user(UserName="intruder")
    key = iam.create_access_key(UserName="intruder")["AccessKey"]["AccessKeyId"]
    iam.create_login_profile(UserName="intruder", Password="Aa1!aaaaaaaaaaaaaa")
    serial = iam.create_virtual_mfa_device(
        VirtualMFADeviceName="intruder")["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="intruder", SerialNumber=serial,
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
    iam.put_user_policy(UserName="intruder", PolicyName="admin", PolicyDocument=ADMIN)
    iam.attach_user_policy(UserName="jdoe",
                           PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_user(UserName="break-glass-1")
    iam.create_access_key(UserName="break-glass-1")
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2
    assert "- destroy user intruder" in plan.out
    assert (f"teardown removes: login profile, access key {key}, MFA device {serial}, "
            "inline policy admin") in plan.out
    assert "- destroy user policy attachment jdoe arn:aws:iam::aws:policy/AdministratorAccess" \
        in plan.out
    assert "break-glass" not in plan.out
    applied = cli("apply", ".iamstate/plan.json")
    assert applied.code == 0, applied.both
    assert cli("plan", "--detailed-exitcode").code == 0
    users = {u["UserName"] for u in iam.list_users()["Users"]}
    assert "intruder" not in users and "break-glass-1" in users
    assert len(iam.list_access_keys(UserName="break-glass-1")["AccessKeyMetadata"]) == 1


def test_a_stale_plan_is_refused_with_no_change(cli: Cli) -> None:
    assert cli("plan", "--out", "stale.json").code == 0
    cli.iam.create_group(GroupName="Developers")  # someone moved live state on
    before = cli.snapshot()
    result = cli("apply", "stale.json")
    assert result.code == 1
    assert "stale" in result.err and "live state changed" in result.err
    assert "Traceback" not in result.both
    assert cli.snapshot() == before


def test_a_plan_edited_by_hand_is_refused_with_no_change(cli: Cli) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    path = cli.repo / "p.json"
    data = json.loads(path.read_text())
    data["accounts"][0]["changes"][-1]["name"] = "mallory"
    path.write_text(json.dumps(data))
    before = cli.snapshot()
    result = cli("apply", "p.json")
    assert result.code == 1 and "edited by hand" in result.err
    assert cli.snapshot() == before


def test_mass_deletion_needs_allow_deletions(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    for i in range(6):
        cli.iam.create_user(UserName=f"stray{i}")
    assert cli("plan", "--out", "p.json").code == 0
    before = cli.snapshot()
    refused = cli("apply", "p.json")
    assert refused.code == 1
    assert "deletes 6 users, groups and policies, more than the 5 allowed" in refused.err
    assert "--allow-deletions 6" in refused.err
    assert cli.snapshot() == before
    assert cli("apply", "p.json", "--allow-deletions", "6").code == 0
    assert cli("plan", "--detailed-exitcode").code == 0


def test_the_wrong_account_is_refused_naming_both(cli: Cli) -> None:
    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text().replace("123456789012", "999999999999"))
    before = cli.snapshot()
    for args in (("plan",), ("apply", "--auto-approve")):
        result = cli(*args)
        assert result.code == 1
        assert "123456789012" in result.err and "999999999999" in result.err
        assert "Traceback" not in result.both
    assert cli.snapshot() == before


BAD_INPUTS = {
    "broken yaml": ("accounts/sandbox/users.yaml", "users:\n  jdoe: [\n", "users.yaml:"),
    "wrong type": ("accounts/sandbox/users.yaml",
                   "users:\n  jdoe:\n    category: AllHumans\n    groups: Developers\n",
                   "users.yaml:4"),
    "unknown key": ("accounts/sandbox/users.yaml", "users:\n  jdoe:\n    categry: AllHumans\n",
                    "users.yaml:3"),
    "duplicate name": ("accounts/sandbox/more.yaml", "users:\n  JDOE: {category: AllHumans}\n",
                       "more.yaml:2"),
    "bad regex": ("accounts/sandbox/account.yaml",
                  'account_id: "123456789012"\ncategories:\n  X: {match: "[a"}\n',
                  "account.yaml:3"),
    "bad policy json": ("policies/require-mfa.json", '{"Version": "2012-10-17",\n,}',
                        "require-mfa.json:2"),
    "unknown variable": ("policies/assume-readonly-role.json",
                         '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",\n'
                         '"Action": "sts:AssumeRole",\n"Resource": "${role}"}]}',
                         "assume-readonly-role.json:3"),
}


def each_broken_repository(
    cli: Cli, variants: dict[str, dict[str, str]]
) -> Iterator[str]:
    """Applied example plus a pending deletion; then, for each variant, the pristine
    repository with that variant's files written over it. Asserts nothing changed in AWS."""
    assert cli("apply", "--auto-approve").code == 0
    cli.iam.create_user(UserName="stray")  # a pending deletion that must not happen
    before = cli.snapshot()
    pristine = {p: p.read_bytes() for p in cli.repo.rglob("*") if p.is_file()}
    for name, files in variants.items():
        for path, content in pristine.items():
            path.write_bytes(content)
        for relative, text in files.items():
            write(cli.repo, relative, text)
        yield name
    assert cli.snapshot() == before


def test_bad_input_exits_1_with_file_line_and_changes_nothing(cli: Cli) -> None:
    variants = {name: {relative: text} for name, (relative, text, _) in BAD_INPUTS.items()}
    for name in each_broken_repository(cli, variants):
        where = BAD_INPUTS[name][2]
        for args in (("validate",), ("plan",), ("apply", "--auto-approve")):
            result = cli(*args)
            assert result.code == 1, (name, args, result.both)
            assert where in result.err, (name, args, result.err)
            assert "Traceback" not in result.both, (name, result.both)


def test_formats_and_the_prompt(cli: Cli) -> None:
    as_json = json.loads(cli("plan", "--format", "json").out)
    assert as_json["format_version"] == 2
    assert as_json["accounts"][0]["summary"]["create"] == 32
    markdown = cli("plan", "--format", "markdown").out
    assert markdown.startswith("**Plan: 32 to add") and "```diff" in markdown
    before = cli.snapshot()
    refused = cli("apply", stdin="y\n")  # not a terminal: never applies without approval
    assert refused.code == 1 and "--auto-approve" in refused.err
    assert cli.snapshot() == before


def test_console_password_never_reaches_output(cli: Cli) -> None:
    identity = pyrage.x25519.Identity.generate()
    write(cli.repo, "accounts/sandbox/console.yaml", f"""
        users:
          alice:
            category: AllHumans
            console_access: true
            public_key: {identity.to_public()}
        """)
    plan = cli("plan", "--out", "p.json")
    applied = cli("apply", "p.json")
    assert applied.code == 0, applied.both
    secret = (cli.repo / ".iamstate/out/sandbox/alice.age").read_bytes()
    password = pyrage.decrypt(secret, [identity]).decode()
    for text in (plan.both, applied.both, (cli.repo / "p.json").read_text()):
        assert password not in text
    assert re.search(r"encrypted to its public_key in .*alice\.age", applied.out)


def test_every_kind_of_bad_input_is_refused_by_apply_with_no_change(cli: Cli) -> None:
    """The loader's whole table of bad inputs, through the command that would mutate."""
    variants = {name: {relative.replace("accounts/acme/", "accounts/sandbox/"): text
                       for relative, text in files.items()}
                for name, (files, _, _) in CASES.items()}
    for name in each_broken_repository(cli, variants):
        _, where, what = CASES[name]
        result = cli("apply", "--auto-approve")
        assert result.code == 1, (name, result.both)
        assert where in result.err and what in result.err, (name, result.err)
        assert "Traceback" not in result.both, (name, result.both)


def test_audit_after_apply_reports_only_mfa_not_yet_enrolled(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    result = cli("audit", "--format", "json")
    assert result.code == 3, result.both
    findings = json.loads(result.out)["sandbox"]
    assert [(f["rule"], f["resource"], f["cis"]) for f in findings
            if f["resource"].startswith("user/")] == [
        ("IAM-004", "user/asmith", "CIS 1.10 / 2.10"), ("IAM-004", "user/jdoe", "CIS 1.10 / 2.10")]
    # the sandbox's account as moto makes it: root without MFA, no support role (CIS)
    assert [(f["rule"], f["resource"]) for f in findings
            if not f["resource"].startswith("user/")] == [
        ("IAM-013", "account/root"), ("IAM-020", "account/support-role")]
    cli.iam.put_user_policy(UserName="HeadlessUser-ci", PolicyName="x", PolicyDocument=ADMIN)
    text = cli("audit")
    assert text.code == 3, text.both
    assert "IAM-003 (CIS 1.15 / 2.13) user/HeadlessUser-ci: user policy x" in text.out


def test_user_add_then_plan_shows_exactly_the_new_user(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    users = cli.repo / "accounts/sandbox/users.yaml"
    comments = [line for line in users.read_text().splitlines() if "#" in line]
    added = cli("user", "add", "kim", "--category", "AllHumans", "--group", "Developers")
    assert added.code == 0, added.both
    assert [line for line in users.read_text().splitlines() if "#" in line] == comments
    plan = cli("plan")
    changes = [line.strip() for line in plan.out.splitlines()
               if line.strip()[:2] in ("+ ", "~ ", "- ")]
    assert changes == ["+ create user kim",
                       "+ create group membership kim AllHumans",
                       "+ create group membership kim AllUsers",
                       "+ create group membership kim Developers"]


def test_import_of_a_realistic_account_then_plan_shows_no_changes(
    cli: Cli, tmp_path: Path
) -> None:
    iam = cli.iam
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"]}]})
    arn = iam.create_policy(PolicyName="data-read", Path="/teams/", PolicyDocument=doc,
                            Description="read the data bucket")["Policy"]["Arn"]
    for action in ("s3:PutObject", "s3:DeleteObject"):  # several versions
        iam.create_policy_version(PolicyArn=arn, SetAsDefault=True, PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": action, "Resource": "*"}]}))
    iam.create_group(GroupName="Data", Path="/teams/")
    iam.attach_group_policy(GroupName="Data", PolicyArn=arn)
    iam.attach_group_policy(GroupName="Data",
                            PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.put_group_policy(GroupName="Data", PolicyName="inline", PolicyDocument=doc)
    iam.create_user(UserName="ana", Path="/eng/", Tags=[{"Key": "team", "Value": "data"}])
    iam.add_user_to_group(UserName="ana", GroupName="Data")
    iam.create_login_profile(UserName="ana", Password="Aa1!aaaaaaaaaaaaaaaa")
    iam.create_user(UserName="HeadlessUser-etl")
    iam.add_user_to_group(UserName="HeadlessUser-etl", GroupName="Data")
    repo = tmp_path / "imported"
    (repo / "accounts").mkdir(parents=True)
    importer = Cli(repo, cli.env, iam)
    done = importer("import", "--account", "prod", "--account-id", "123456789012")
    assert done.code == 0, done.both
    assert "Imported 2 users, 1 group, 1 customer managed policy" in done.out
    assert "proposed: category AllHeadlessUsers for 1 user matching" in done.out
    assert "run `iamstate schema`" in done.out
    written = (repo / "accounts/prod/imported.yaml").read_text()
    assert "Password" not in written and "Aa1!" not in written
    assert written.startswith(  # editors complete and check it once `iamstate schema` ran
        "# yaml-language-server: $schema=../../schema/resources.schema.json\n")
    assert (repo / "accounts/prod/account.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../../schema/account.schema.json\n")
    plan = importer("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.both
    assert "No changes" in plan.out


def _on_a_terminal(cli: Cli, answer: str, *args: str) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, answer its prompt, return (exit code, screen)."""
    master, slave = pty.openpty()
    env = {**cli.env, "COLUMNS": "120", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(cli.command(*args), stdin=slave,
                               stdout=slave, stderr=slave, env=env, cwd=cli.repo)
    os.close(slave)
    screen, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        if not answered and b"Apply these changes?" in screen:
            os.write(master, answer.encode() + b"\r")
            answered = True
        if process.poll() is not None and not ready:
            break
    os.close(master)
    return process.wait(timeout=30), screen.decode(errors="replace")


def test_apply_asks_on_a_terminal_and_shows_progress(cli: Cli) -> None:
    before = cli.snapshot()
    code, screen = _on_a_terminal(cli, "n", "apply")
    assert code == 1 and "Not applied." in screen
    assert cli.snapshot() == before
    code, screen = _on_a_terminal(cli, "y", "apply")
    assert code == 0, screen
    assert "Applying" in screen and "32/32" in screen
    assert "Apply complete: 32 change(s) made." in screen
    assert cli("plan", "--detailed-exitcode").code == 0
