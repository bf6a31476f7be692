"""Expiring access through the installed CLI against a moto server: the plan says why, the
scheduled `ci expire` applies only the expiry, `expire --write` edits the YAML, and a plan
with anything else is refused. The day is IAMSTATE_TODAY, never the clock."""

from __future__ import annotations

from tests.e2e.conftest import Cli


def groups_of(cli: Cli, user: str) -> set[str]:
    return {g["GroupName"] for g in cli.iam.list_groups_for_user(UserName=user)["Groups"]}


def expiring(cli: Cli) -> None:
    """asmith joins BackupWriters until 2026-12-20 (a reviewed change), applied on the 19th."""
    users = cli.repo / "accounts/sandbox/users.yaml"
    text = users.read_text()
    users.write_text(text.replace(
        "    groups: [Developers]\n    path: /engineering/",
        "    groups: [Developers, {group: BackupWriters, expires: 2026-12-20}]  # INC-1\n"
        "    path: /engineering/"))
    cli.env["IAMSTATE_TODAY"] = "2026-12-19"
    assert cli("apply", "--auto-approve").code == 0
    assert "BackupWriters" in groups_of(cli, "asmith")


def test_expired_membership_is_planned_applied_on_schedule_and_written_away(cli: Cli) -> None:
    expiring(cli)
    cli.env["IAMSTATE_TODAY"] = "2026-12-21"
    plan = cli("plan", "--detailed-exitcode")
    assert plan.code == 2, plan.both
    assert "- destroy group membership asmith BackupWriters (expired 2026-12-20)" in plan.out
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in plan.out
    applied = cli("ci", "expire")
    assert applied.code == 2, applied.both
    assert groups_of(cli, "asmith") == {"AllUsers", "AllHumans", "Developers"}
    assert "Developers" in groups_of(cli, "jdoe")
    listed = cli("expire")
    assert listed.code == 2 and "group membership asmith BackupWriters" in listed.out
    assert cli("expire", "--write").code == 2
    text = (cli.repo / "accounts/sandbox/users.yaml").read_text()
    assert "BackupWriters, expires" not in text and "# INC-1" in text
    assert "# parked here until someone fixes its permissions" in text
    assert cli("plan", "--detailed-exitcode").code == 0
    assert cli("expire").code == 0


def test_scheduled_run_with_any_other_change_is_refused(cli: Cli) -> None:
    expiring(cli)
    cli.iam.remove_user_from_group(UserName="jdoe", GroupName="Developers")  # drift
    cli.env["IAMSTATE_TODAY"] = "2026-12-21"
    refused = cli("ci", "expire")
    assert refused.code == 1, refused.both
    assert "+ create group membership jdoe Developers is not an expiry" in refused.out
    assert "BackupWriters" in groups_of(cli, "asmith")  # nothing applied at all
    assert "Developers" not in groups_of(cli, "jdoe")


def test_an_expired_user_is_torn_down_with_the_reason(cli: Cli) -> None:
    users = cli.repo / "accounts/sandbox/users.yaml"
    users.write_text(users.read_text().replace(
        "  HeadlessUser-ci:\n", "  HeadlessUser-ci:\n    expires: 2026-12-20\n"))
    cli.env["IAMSTATE_TODAY"] = "2026-12-20"
    cli.iam.create_user(UserName="HeadlessUser-ci")  # made before, with a key since
    key = cli.iam.create_access_key(UserName="HeadlessUser-ci")["AccessKey"]["AccessKeyId"]
    plan = cli("plan")
    assert plan.code == 0, plan.both
    assert "- destroy user HeadlessUser-ci (expired 2026-12-20)" in plan.out
    assert f"teardown removes: access key {key}" in plan.out
    assert "+ create user HeadlessUser-ci" not in plan.out
    assert cli("apply", "--auto-approve").code == 0
    assert "HeadlessUser-ci" not in {u["UserName"] for u in cli.iam.list_users()["Users"]}
    assert cli("expire", "--write").code == 2
    assert "HeadlessUser-ci" not in users.read_text()
    assert cli("validate").code == 0
