"""`audit --format sarif` and `plan --format sarif` through the installed CLI against a moto
server: SARIF 2.1.0 valid against OASIS's schema, live findings at the declaration of their
principal (or the account's account.yaml when the repository does not declare it), rule
metadata with CIS and pathfinding.cloud references, and the commands' own exit codes."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Cli
from tests.sarif_schema import line_of, results, valid_sarif

ADMIN = json.dumps({"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
JOINERS = """
  Joiners:
    inline_policies:
      Join:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: iam:AddUserToGroup
            Resource: "*"
"""


def _rules(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}


def test_audit_sarif_points_at_the_principal_or_account_yaml(cli: Cli) -> None:
    assert cli("apply", "--auto-approve").code == 0
    cli.iam.create_user(UserName="intruder")  # made by hand: declared nowhere
    cli.iam.put_user_policy(UserName="intruder", PolicyName="admin", PolicyDocument=ADMIN)
    result = cli("audit", "--format", "sarif")
    assert result.code == 3, result.both  # findings: the command's own exit code
    log = valid_sarif(result.out, cli.repo)
    found = results(log)
    users = cli.repo / "accounts/sandbox/users.yaml"
    account = "accounts/sandbox/account.yaml"
    assert ("IAM-004", "error", "accounts/sandbox/users.yaml", line_of(users, "jdoe:")) in found
    assert ("IAM-004", "error", "accounts/sandbox/users.yaml",
            line_of(users, "asmith:")) in found
    assert ("IAM-003", "warning", account, 1) in found  # intruder's own policy
    assert ("ADMIN-EQUIVALENT", "error", account, 1) in found
    assert ("IAM-013", "error", account, 1) in found  # root without MFA
    rules = _rules(log)
    assert "CIS v4.0.1 1.10" in rules["IAM-004"]["properties"]["tags"]
    assert "CIS v7.0 2.10" in rules["IAM-004"]["help"]["text"]
    assert rules["ESC-ADD-USER-TO-GROUP"]["properties"]["tags"][-1] == (
        "pathfinding.cloud/iam-013")
    assert rules["IAM-013"]["properties"]["security-severity"] == "9.5"
    assert log["runs"][0]["automationDetails"]["id"] == "iamstate/audit/"
    intruder = [r for r in log["runs"][0]["results"]
                if r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
                == "user/intruder"]
    assert {r["ruleId"] for r in intruder} >= {"IAM-003", "ADMIN-EQUIVALENT"}


def test_plan_sarif_has_the_new_escalation_finding_at_the_group(cli: Cli) -> None:
    groups = cli.repo / "accounts/sandbox/groups.yaml"
    text = groups.read_text()
    groups.write_text(text.replace("\npolicies:", JOINERS + "\npolicies:", 1))
    result = cli("plan", "--format", "sarif", "--detailed-exitcode")
    assert result.code == 2, result.both  # changes: plan's own exit code
    log = valid_sarif(result.out, cli.repo)
    assert ("ESC-ADD-USER-TO-GROUP", "error", "accounts/sandbox/groups.yaml",
            line_of(groups, "Joiners:")) in results(log)
    [joiners] = [r for r in log["runs"][0]["results"] if r["ruleId"] == "ESC-ADD-USER-TO-GROUP"]
    assert "suppressions" not in joiners
    assert (cli.repo / ".iamstate/plan.json").is_file()  # the plan file is still written

    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text() + "accepted_risks:\n  - {id: ESC-ADD-USER-TO-GROUP,"
                       " principal: group/Joiners, reason: the on-call team adds members}\n")
    accepted = cli("plan", "--format", "sarif")
    assert accepted.code == 0, accepted.both
    [joiners] = [r for r in valid_sarif(accepted.out, cli.repo)["runs"][0]["results"]
                 if r["ruleId"] == "ESC-ADD-USER-TO-GROUP"]
    [suppression] = joiners["suppressions"]
    assert suppression["justification"] == (
        f"accepted at accounts/sandbox/account.yaml:{line_of(account, '- {id: ESC-ADD')}")
