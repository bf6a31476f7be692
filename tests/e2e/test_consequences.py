"""The plan says what it means for people, and the escalation gate is reviewed in git:
refused, accepted in account.yaml (shown with its file:line), then applied."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cli

OPS = """
groups:
  Ops:
    inline_policies:
      Helpdesk:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: iam:AddUserToGroup
            Resource: "*"
users:
  HeadlessUser-oncall:
    groups: [Ops]
"""


def test_the_gate_refuses_then_accepts_what_git_accepts(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    (cli.repo / "accounts/sandbox/ops.yaml").write_text(OPS)
    plan = cli("plan", "--out", "p.json")
    assert plan.code == 0, plan.both
    assert "new       ESC-ADD-USER-TO-GROUP group/Ops (high)" in plan.out
    as_json = json.loads((cli.repo / "p.json").read_text())
    findings = as_json["accounts"][0]["consequences"]["findings"]
    assert {"id": "ESC-ADD-USER-TO-GROUP", "principal": "group/Ops",
            "status": "new"}.items() <= findings[0].items()
    gains = as_json["accounts"][0]["consequences"]["users"]["HeadlessUser-oncall"]["gains"]
    assert any(g["actions"] == ["iam:AddUserToGroup"] and g["resources"] == ["*"]
               and g["via"] == ["group/Ops inline Helpdesk"] for g in gains)
    before = cli.snapshot()
    refused = cli("apply", "p.json")
    assert refused.code == 1, refused.both
    assert "introduces 1 privilege-escalation finding the repository" in refused.err
    entry = ('- {id: ESC-ADD-USER-TO-GROUP, principal: group/Ops, reach: [{"action": '
             '"iam:AddUserToGroup", "resources": ["*"]}], reason: ...}')
    assert entry in refused.err
    assert f"to accept, under accepted_risks: {entry}" in plan.out  # printed by the plan
    assert cli.snapshot() == before
    markdown = cli("plan", "--format", "markdown").out
    assert "**What this plan means for people**" in markdown
    assert "new       ESC-ADD-USER-TO-GROUP group/Ops" in markdown

    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text() + (
        "accepted_risks:\n  - id: ESC-ADD-USER-TO-GROUP\n    principal: group/Ops\n"
        "    reason: on-call adds responders to Incident\n"))
    accepted = cli("plan", "--out", "p.json")
    line = len(account.read_text().splitlines()) - 2
    assert "accepted  ESC-ADD-USER-TO-GROUP group/Ops (high)" in accepted.out
    assert f"[accepted at {account}:{line}]" in accepted.out
    applied = cli("apply", "p.json")
    assert applied.code == 0, applied.both
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_new_administrator_is_flagged_first_and_gated(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    groups = cli.repo / "accounts/sandbox/groups.yaml"
    groups.write_text(groups.read_text().replace(
        "  BackupWriters:\n",
        "  BackupWriters:\n    managed_policies: [arn:aws:iam::aws:policy/AdministratorAccess]\n"))
    plan = cli("plan")
    meaning = plan.out.split("What this plan means for people:", 1)[1]
    assert meaning.splitlines()[1].strip() == \
        "! HeadlessUser-backup becomes administrator-equivalent"
    assert "new       ADMIN-EQUIVALENT group/BackupWriters (critical)" in plan.out
    assert cli("apply", "--auto-approve").code == 1
