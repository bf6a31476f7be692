"""`validate --format sarif`: SARIF 2.1.0 valid against OASIS's schema, lint findings and
validation errors at `file:line` relative to the repository root, rule metadata from the
catalogues; the exit code stays validate's. (audit and plan: tests/e2e/test_sarif.py.)"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from typer.testing import CliRunner

from iamstate.analysis.findings import Finding
from iamstate.analysis.lint import RULES
from iamstate.cli import app
from iamstate.model.location import Location
from iamstate.outputs.sarif import sarif_log
from tests.helpers import copy_example
from tests.sarif_schema import line_of, results, valid_sarif

NOT_RESOURCE = {"Effect": "Allow", "Action": "s3:GetObject",
                "NotResource": "arn:aws:s3:::private/*"}


def validate(repo: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--repo", str(repo), "validate", "--format", "sarif"])
    return result.exit_code, result.stdout


def _add_statement(path: Path, statement: Mapping[str, object]) -> None:
    document = json.loads(path.read_text())
    document["Statement"].append(statement)
    path.write_text(json.dumps(document, indent=2) + "\n")


def test_a_valid_repository_gives_its_lint_warnings_at_file_and_line(tmp_path: Path) -> None:
    repo = copy_example(tmp_path)
    policy = repo / "policies/require-mfa.json"
    _add_statement(policy, NOT_RESOURCE)
    code, out = validate(repo)
    assert code == 0, out
    log = valid_sarif(out, repo)
    assert ("LINT-ALLOW-NOT-RESOURCE", "warning", "policies/require-mfa.json",
            line_of(policy, '"NotResource"')) in results(log)
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("iamstate", __import__("iamstate").__version__)
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) >= {r.id for r in RULES.values()}  # the whole catalogue, with help
    rule = rules["LINT-ALLOW-NOT-RESOURCE"]
    assert rule["shortDescription"]["text"] == RULES["allow_with_not_resource"].why
    assert "allow_with_not_resource" in rule["help"]["text"]
    assert rule["defaultConfiguration"]["level"] == "warning"


def test_errors_are_results_and_validate_still_exits_1(tmp_path: Path) -> None:
    repo = copy_example(tmp_path)
    policy = repo / "policies/self-manage-credentials.json"
    _add_statement(policy, {"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"})
    users = repo / "accounts/sandbox/users.yaml"
    users.write_text(users.read_text().replace("groups: [BackupWriters]",
                                               "groups: [BackupWritters]"))
    code, out = validate(repo)
    assert code == 1
    found = results(valid_sarif(out, repo))
    assert ("LINT-UNKNOWN-ACTION", "error", "policies/self-manage-credentials.json",
            line_of(policy, '"Action": "s3:GetObjekt"')) in found
    assert ("REPO-INVALID", "error", "accounts/sandbox/users.yaml",
            line_of(users, "groups: [BackupWritters]")) in found


def test_a_security_warning_and_a_suggestion_keep_their_levels(tmp_path: Path) -> None:
    repo = copy_example(tmp_path)
    policy = repo / "policies/require-mfa.json"
    _add_statement(policy, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    _add_statement(policy, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"})
    code, out = validate(repo)
    assert code == 0, out
    log = valid_sarif(out, repo)
    by_rule = {r[0]: r for r in results(log)}
    assert by_rule["LINT-PASSROLE-ON-ALL"][1:3] == ("warning", "policies/require-mfa.json")
    assert by_rule["LINT-REDUNDANT-STATEMENT"][1] == "note"
    rules = {r["id"]: r for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert rules["LINT-PASSROLE-ON-ALL"]["properties"]["security-severity"] == "7.0"


def test_a_file_outside_the_repository_is_never_named(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    outside = Finding("LINT-NON-ASCII", "policy x", "security warning", "a look-alike",
                      location=Location(tmp_path / "elsewhere.json", 3))
    inside = Finding("IAM-004", "user/jdoe", "high", "no MFA",
                     location=Location(repo / "accounts/a/users.yaml", 7))
    (repo / "accounts/a").mkdir(parents=True)
    (repo / "accounts/a/users.yaml").write_text("users: {}\n")
    text = json.dumps(sarif_log([outside, inside], (), repo, "iamstate/test"))
    log = valid_sarif(text, repo)
    assert results(log) == [("LINT-NON-ASCII", "warning", "", 0),
                            ("IAM-004", "error", "accounts/a/users.yaml", 7)]
    assert "elsewhere" not in text


def test_audit_findings_point_at_the_declaration_or_account_yaml(tmp_path: Path) -> None:
    """In process, no AWS: the live model and credential report as the audit reads them."""
    import datetime

    from iamstate.analysis.audit import audit_account
    from iamstate.analysis.findings import located
    from iamstate.entities.user.model import User
    from iamstate.model.state import State
    from iamstate.outputs.sarif import audit_log
    from iamstate.repository.loader import load_repository

    repo = copy_example(tmp_path)
    [account] = load_repository(repo)
    live = State(users={
        "jdoe": User("jdoe", groups=frozenset({"AllUsers", "AllHumans", "Developers"})),
        "intruder": User("intruder", attached_policies=frozenset(
            {"arn:aws:iam::aws:policy/AdministratorAccess"}))})
    report = [{"user": "jdoe", "mfa_active": "false"}, {"user": "intruder"}]
    now = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)
    found = located(audit_account(account.config, live, report, None, now), account)
    log = valid_sarif(json.dumps(audit_log(repo, {"sandbox": found})), repo)
    users = repo / "accounts/sandbox/users.yaml"
    assert ("IAM-004", "error", "accounts/sandbox/users.yaml", line_of(users, "jdoe:")) in (
        results(log))
    assert ("IAM-003", "warning", "accounts/sandbox/account.yaml", 1) in results(log)
    rules = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {"IAM-001", "IAM-013", "IAM-024", "ESC-PASSROLE-EC2", "ADMIN-EQUIVALENT"} <= rules
