"""Adopting iamstate on an account that already has administrators (issue 19): import it,
write the first strategy pull request (everyone into the common group and a category, MFA
now required), and the plan shows no new finding, so apply goes ahead. Status is about a
principal's power, not the route to it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.conftest import Cli
from tests.helpers import ROOT

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def test_importing_an_account_with_administrators_then_the_first_strategy_pr_applies(
        cli: Cli, tmp_path: Path) -> None:
    iam = cli.iam
    iam.create_group(GroupName="Admins")
    iam.attach_group_policy(GroupName="Admins", PolicyArn=ADMIN)
    for name in ("alice", "bob"):
        iam.create_user(UserName=name)
        iam.add_user_to_group(UserName=name, GroupName="Admins")
    iam.create_user(UserName="carol")
    repo = tmp_path / "adopting"
    (repo / "accounts").mkdir(parents=True)
    adopting = Cli(repo, cli.env, iam)
    done = adopting("import", "--account", "prod", "--account-id", "123456789012")
    assert done.code == 0, done.both
    assert adopting("plan", "--detailed-exitcode").code == 0  # imported: nothing to do

    # The first strategy pull request: a common group, a human category requiring MFA.
    shutil.copytree(ROOT / "policies", repo / "policies")
    account = repo / "accounts/prod/account.yaml"
    account.write_text(account.read_text() + (
        "common_groups: [AllUsers]\ncategories:\n  AllHumans: {}\n"))
    (repo / "accounts/prod/strategy.yaml").write_text(
        "groups:\n  AllUsers:\n    inline_policies:\n"
        "      SelfManageCredentials: self-manage-credentials\n"
        "  AllHumans:\n    inline_policies:\n      RequireMFA: require-mfa\n")
    imported = repo / "accounts/prod/imported.yaml"
    text = imported.read_text().replace("  carol: {}\n", "  carol:\n")
    for name in ("alice", "bob", "carol"):
        text = text.replace(f"  {name}:\n", f"  {name}:\n    category: AllHumans\n")
    imported.write_text(text)
    assert adopting("validate").code == 0, adopting("validate").both
    plan = adopting("plan", "--format", "json", "--out", "p.json")
    assert plan.code == 0, plan.both
    meaning = json.loads((repo / "p.json").read_text())["accounts"][0]["consequences"]
    assert [f for f in meaning["findings"] if f["status"] == "new"] == []
    assert not any(u["admin"] and not u.get("admin_before", True) for u in
                   meaning["users"].values())
    applied = adopting("apply", "p.json")
    assert applied.code == 0, applied.both
    assert adopting("plan", "--detailed-exitcode").code == 0

    # the control: carol joining Admins in the next pull request is new power, refused
    imported.write_text(imported.read_text().replace(
        "  carol:\n    category: AllHumans\n",
        "  carol:\n    category: AllHumans\n    groups: [Admins]\n"))
    gated = adopting("plan", "--out", "p.json")
    assert "new       ADMIN-EQUIVALENT user/carol (critical)" in gated.out, gated.out
    assert adopting("apply", "p.json").code == 1
