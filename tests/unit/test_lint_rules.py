"""Every lint rule through `load_repository`, as validate runs it: the mistake is found at its
file:line with the rule's id and default severity, the correct form is not flagged, the
Deny-side idiom is not flagged, and the rule's setting turns it off or into an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iamstate.analysis.lint import RULES, check, schema_block
from iamstate.errors import Problem, RepoError
from iamstate.outputs.lines import one_line
from iamstate.repository.loader import load_repository
from iamstate.repository.schema import load_schema
from tests.helpers import ACCOUNT_ID, minimal_repo
from tests.simulator import needs_node, simulate

Statement = dict[str, Any]
BUCKET = "arn:aws:s3:::team-data"
USERS = f"arn:aws:iam::{ACCOUNT_ID}:user/"


def allow(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None,
          effect: str = "Allow") -> Statement:
    statement: Statement = {"Effect": effect, "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None
         ) -> Statement:
    return allow(action, resource, condition, "Deny")


def load(tmp_path: Path, statements: list[Statement], lint: str = "",
         version: str = "2012-10-17") -> tuple[str, list[Problem], list[Problem]]:
    """(the document's text, warnings, errors) of a repository whose group Ops uses the
    document from policies/P.json, written one JSON element per line."""
    text = json.dumps({"Version": version, "Statement": statements}, indent=2,
                      ensure_ascii=False)
    root = minimal_repo(tmp_path, f'account_id: "{ACCOUNT_ID}"\n{lint}', {
        "accounts/acme/groups.yaml": "groups:\n  Ops:\n    inline_policies:\n      P: P\n",
        "policies/P.json": text})
    try:
        [account] = load_repository(root)
    except RepoError as error:
        return text, [], list(error.problems)
    return text, list(account.warnings), []


def line_of(text: str, marker: str, nth: int = 0) -> int:
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if marker in line]
    return lines[nth]


def found(problems: list[Problem], rule: str) -> list[Problem]:
    return [p for p in problems if rule in p.message]


# setting -> (statements with one mistake, a marker on the line it must be reported at,
#             text the message must hold)
MISTAKES: dict[str, tuple[list[Statement], str, str]] = {
    "condition_types": ([allow("s3:GetObject", f"{BUCKET}/*",
                               {"StringEquals": {"aws:SourceIp": "203.0.113.7"}})],
                        '"aws:SourceIp"', "write IpAddress"),
    "condition_values": ([allow("s3:GetObject", f"{BUCKET}/*",
                                {"Bool": {"aws:MultiFactorAuthPresent": "yes"}})],
                         '"yes"', "write true or false"),
    "condition_types_usable": ([allow("sns:Publish", "*",
                                      {"StringEquals": {"aws:SourceArn": "arn:aws:s3:::b"}})],
                               '"aws:SourceArn"', "ArnEquals"),
    "unsupported_condition_keys": ([allow("s3:GetObject", f"{BUCKET}/*",
                                          {"StringEquals": {"ec2:InstanceType": "t3.micro"}})],
                                   '"ec2:InstanceType"', "no action of this statement"),
    "resource_types": ([allow("s3:GetObject", BUCKET)], '"s3:GetObject"',
                       "${BucketName}/${ObjectName}"),
    "variables_in_old_version": ([], '"Resource"', 'write Version: "2012-10-17"'),
    "ifexists_in_allow": ([allow("s3:GetObject", f"{BUCKET}/*",
                                 {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}})],
                          '"aws:MultiFactorAuthPresent"', "write Bool without IfExists"),
    "equals_with_wildcard": ([allow("s3:ListBucket", BUCKET,
                                    {"StringEquals": {"s3:prefix": "home/*"}})],
                             '"home/*"', "write StringLike"),
    "wildcard_operators": ([allow("s3:ListBucket", BUCKET,
                                  {"StringLike": {"s3:prefix": "home/"}})],
                           '"s3:prefix"', "write StringEquals"),
    "passrole_on_all": ([allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT_ID}:role/*")],
                        ':role/*"', "name the roles"),
    "allow_with_not_action": ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
                              '"NotAction"', "list the actions"),
    "allow_with_not_resource": ([{"Effect": "Allow", "Action": "s3:GetObject",
                                  "NotResource": f"{BUCKET}/secret/*"}],
                                '"NotResource"', "list the resources"),
    "deprecated_actions": ([allow("aws-portal:ViewBilling")], '"aws-portal:ViewBilling"',
                           "billing:Get*"),
    "redundant_statements": ([allow("s3:Get*", f"{BUCKET}/*"),
                              allow("s3:GetObject", f"{BUCKET}/reports/*")],
                             "    {", "wholly covered by statement 1"),
    "non_ascii": ([deny("iam:DeleteUser", f"{USERS}br\u0435ak-glass-*")], "ak-glass",
                  "\\u0435"),
    "unknown_actions": ([allow("s3:GetObjekt", f"{BUCKET}/*")], '"s3:GetObjekt"',
                        "did you mean s3:GetObject"),
    "unknown_condition_keys": ([deny("*", "*", {"BoolIfExists": {
        "aws:MultiFactorAuthPresnt": "false"}})], "MultiFactorAuthPresnt", "did you mean"),
}
OLD = [allow("s3:GetObject", f"{BUCKET}/home/${{aws:username}}/*")]


def mistake(setting: str) -> tuple[list[Statement], str]:
    statements, _, _ = MISTAKES[setting]
    version = "2008-10-17" if setting == "variables_in_old_version" else "2012-10-17"
    return statements or OLD, version


def test_every_rule_has_a_mistake_here() -> None:
    assert set(MISTAKES) == set(RULES)


@pytest.mark.parametrize("setting", sorted(MISTAKES))
def test_each_mistake_is_found_at_its_line_with_its_default_severity(
        tmp_path: Path, setting: str) -> None:
    rule = RULES[setting]
    statements, version = mistake(setting)
    _, marker, hint = MISTAKES[setting]
    text, warnings, errors = load(tmp_path, statements, version=version)
    nth = 1 if setting == "redundant_statements" else 0
    if rule.severity == "error":
        [problem] = found(errors, rule.id)
        assert "lint: {" + setting + ": warn}" in problem.message
    else:
        assert not errors
        [problem] = found(warnings, rule.id)
        assert f"{rule.severity} {rule.id}" in problem.message
    assert problem.file.name == "P.json"
    assert problem.line == line_of(text, marker, nth), (problem, text)
    assert hint in problem.message


@pytest.mark.parametrize("setting", sorted(MISTAKES))
def test_each_rule_can_be_turned_off_or_made_an_error(tmp_path: Path, setting: str) -> None:
    rule = RULES[setting]
    statements, version = mistake(setting)
    _, warnings, errors = load(tmp_path / "off", statements, f"lint: {{{setting}: off}}\n",
                               version)
    assert not found(warnings + errors, rule.id)
    _, warnings, errors = load(tmp_path / "error", statements,
                               f"lint: {{{setting}: error}}\n", version)
    assert found(errors, rule.id)
    _, warnings, errors = load(tmp_path / "warn", statements, f"lint: {{{setting}: warn}}\n",
                               version)
    assert not found(errors, rule.id) and found(warnings, rule.id)


# Correct forms and Deny-side idioms: nothing at all is reported on them.
CLEAN: dict[str, list[Statement]] = {
    "IpAddress on an IP key": [allow("s3:GetObject", f"{BUCKET}/*",
                                     {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "::1"]}})],
    "Deny outside the office": [deny("*", "*", {"NotIpAddress": {
        "aws:SourceIp": "203.0.113.0/24"}, "Bool": {"aws:ViaAWSService": "false"}})],
    "dates, numbers, Null": [allow("s3:GetObject", f"{BUCKET}/*", {
        "DateLessThan": {"aws:CurrentTime": "2027-01-31T00:00:00Z"},
        "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
        "Null": {"aws:TokenIssueTime": False}})],
    "require MFA (the Deny idiom)": [{
        "Effect": "Deny", "NotAction": ["iam:ChangePassword", "iam:ListMFADevices"],
        "Resource": "*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": False}}}],
    "MFA in an Allow without IfExists": [allow("ec2:StopInstances", "*", {
        "Bool": {"aws:MultiFactorAuthPresent": True}})],
    "a key the action carries": [allow("s3:ListBucket", BUCKET,
                                       {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}})],
    "the Deny side of a prefix": [deny("s3:ListBucket", BUCKET,
                                       {"StringNotLike": {"s3:prefix": "public/*"}})],
    "objects and buckets": [allow("s3:GetObject", "arn:${partition}:s3:::b-${account_id}/*"),
                            allow("s3:ListBucket", BUCKET),
                            allow("s3:ListAllMyBuckets")],
    "a Deny of objects": [deny(["s3:DeleteObject", "s3:PutObject"], f"{BUCKET}/*")],
    "variables under 2012-10-17": [allow("s3:GetObject",
                                         f"{BUCKET}/home/${{aws:username}}/*")],
    "literal * in StringEquals": [allow("s3:ListBucket", BUCKET,
                                        {"StringEquals": {"s3:prefix": "a${*}b"}})],
    "PassRole on named roles": [allow("iam:PassRole", [
        f"arn:aws:iam::{ACCOUNT_ID}:role/app", f"arn:aws:iam::{ACCOUNT_ID}:role/service/*"],
        {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})],
    "Deny PassRole on every role": [deny("iam:PassRole", "*")],
    "Deny retired billing actions": [deny("aws-portal:*")],
    "fine-grained billing": [allow(["billing:GetBillingData", "account:GetAccountInformation"])],
    "Allow and Deny of the same": [allow("s3:*", f"{BUCKET}/*"), deny("s3:DeleteObject",
                                                                      f"{BUCKET}/*")],
    # AWS's own documentation examples (IAM User Guide, "Example IAM identity-based policies")
    "S3 home folder": [
        allow("s3:ListAllMyBuckets"),
        allow("s3:ListBucket", BUCKET, {"StringEquals": {
            "s3:prefix": ["", "home/", "home/${aws:username}/"], "s3:delimiter": ["/"]}}),
        allow("s3:ListBucket", BUCKET, {"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}}),
        allow("s3:*", [f"{BUCKET}/home/${{aws:username}}", f"{BUCKET}/home/${{aws:username}}/*"])],
    "EC2 start and stop by tag": [allow(["ec2:StartInstances", "ec2:StopInstances"],
                                        "arn:aws:ec2:*:*:instance/*", {"StringEquals": {
                                            "aws:ResourceTag/Owner": "${aws:username}"}}),
                                  allow("ec2:DescribeInstances")],
    "DynamoDB leading keys": [allow(["dynamodb:GetItem", "dynamodb:Query"],
                                    f"arn:aws:dynamodb:*:{ACCOUNT_ID}:table/Scores", {
                                        "ForAllValues:StringEquals": {
                                            "dynamodb:LeadingKeys": ["${aws:userid}"]}})],
    "a date range": [allow("ec2:DescribeInstances", "*", {
        "DateGreaterThan": {"aws:CurrentTime": "2027-04-01T00:00:00Z"},
        "DateLessThan": {"aws:CurrentTime": "2027-06-30T23:59:59Z"}})],
    "regions allowed": [{"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*",
                         "Condition": {"StringNotEquals": {
                             "aws:RequestedRegion": ["eu-central-1", "eu-west-1"]}}}],
    "same actions, other conditions": [
        allow("s3:GetObject", f"{BUCKET}/*", {"Bool": {"aws:SecureTransport": True}}),
        allow("s3:GetObject", f"{BUCKET}/*", {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})],
}


@pytest.mark.parametrize("statements", CLEAN.values(), ids=list(CLEAN))
def test_correct_forms_and_deny_idioms_are_not_flagged(tmp_path: Path,
                                                       statements: list[Statement]) -> None:
    _, warnings, errors = load(tmp_path, statements)
    assert not warnings and not errors, warnings + errors


OTHER_MISTAKES = {
    "numeric operator on a text key": ("condition_types", allow(
        "s3:ListBucket", BUCKET, {"NumericLessThan": {"s3:prefix": "3"}})),
    "Bool on a text key": ("condition_types", allow("*", "*", {"Bool": {"aws:username": "x"}})),
    "Null yes": ("condition_values", allow("*", "*", {"Null": {"aws:TokenIssueTime": "yes"}})),
    "bad CIDR": ("condition_values", allow("*", "*", {"IpAddress": {
        "aws:SourceIp": "10.0.0.300/8"}})),
    "not ISO 8601": ("condition_values", allow("*", "*", {"DateLessThan": {
        "aws:CurrentTime": "31/01/2027"}})),
    "a bad number on a key the catalogue does not type": ("condition_values", allow(
        "aws-marketplace:StartChangeSet", "*", {"NumericLessThan": {"catalog:ChangeType": "x"}})),
    "ListBucket on objects": ("resource_types", allow("s3:ListBucket", f"{BUCKET}/*")),
    "ListAllMyBuckets on a bucket": ("resource_types", allow("s3:ListAllMyBuckets", BUCKET)),
    "a Deny that denies nothing": ("resource_types", deny("s3:DeleteObject", BUCKET)),
    "ArnEquals with a wildcard": ("wildcard_operators", allow("sns:Publish", "*", {
        "ArnEquals": {"aws:SourceArn": "arn:aws:s3:::*"}})),
    "PassRole on *": ("passrole_on_all", allow(["iam:PassRole", "ec2:RunInstances"])),
    "iam:Pass* on the account's roles": ("passrole_on_all", allow(
        "iam:Pass*", "arn:${partition}:iam::${account_id}:role/*")),
    "PassRole on role*": ("passrole_on_all", allow("iam:PassRole",
                                                   f"arn:aws:iam::{ACCOUNT_ID}:role*")),
    "PassRole on every account's roles": ("passrole_on_all", allow(
        "iam:PassRole", "arn:aws:iam::*:*")),
    "aws-portal:*": ("deprecated_actions", allow("aws-portal:*")),
    "a deprecated es action": ("deprecated_actions", allow("es:CreateElasticsearchDomain")),
    "a retired service": ("deprecated_actions", allow("codestar:CreateProject")),
    "non-ASCII in a condition value": ("non_ascii", deny("*", "*", {
        "StringLike": {"aws:username": "br\u0435ak-glass-*"}})),
    "the same statement twice": ("redundant_statements", allow("s3:GetObject",
                                                               f"{BUCKET}/*")),
    "a Deny no Allow could need": ("redundant_statements", deny(
        ["s3:DeleteObject", "codestar:DeleteProject"], BUCKET)),
}


@pytest.mark.parametrize("setting,statement", OTHER_MISTAKES.values(),
                         ids=list(OTHER_MISTAKES))
def test_more_variants_of_each_mistake(tmp_path: Path, setting: str,
                                       statement: Statement) -> None:
    twice = setting == "redundant_statements" and statement["Effect"] == "Allow"
    statements = [statement, statement] if twice else [statement]
    _, warnings, errors = load(tmp_path, statements)
    assert found(warnings + errors, RULES[setting].id), warnings + errors


def test_partial_support_names_the_actions_that_ignore_the_key(tmp_path: Path) -> None:
    _, warnings, _ = load(tmp_path, [allow(["s3:ListBucket", "s3:GetBucketLocation"], BUCKET,
                                           {"StringLike": {"s3:prefix": "home/*"}})])
    [problem] = found(warnings, "LINT-CONDITION-KEY-UNSUPPORTED")
    assert "s3:GetBucketLocation never carry s3:prefix" in problem.message
    assert "s3:ListBucket" not in problem.message


def test_retired_billing_actions_name_their_replacements(tmp_path: Path) -> None:
    _, warnings, _ = load(tmp_path, [allow(["aws-portal:ModifyAccount",
                                            "es:CreateElasticsearchDomain"])])
    messages = [p.message for p in found(warnings, "LINT-DEPRECATED-ACTION")]
    assert any("account:PutContactInformation" in m for m in messages)
    assert any("write es:CreateDomain" in m for m in messages)


def test_the_schema_lint_block_is_the_rules() -> None:
    """account.schema.json is generated from RULES: a rule added without the schema (or the
    other way round) fails here. Regenerate with `python -m iamstate.analysis.lint`."""
    assert load_schema("account.schema.json")["properties"]["lint"] == schema_block()


def test_renderings_escape_look_alike_letters() -> None:
    assert one_line(f"{USERS}br\u0435ak-glass-*").endswith("br\\u0435ak-glass-*")
    assert one_line("caf\u00e9 \U0001d5ba") == "caf\\u00e9 \\U0001d5ba"
    assert one_line("plain ascii: user/break-glass-*") == "plain ascii: user/break-glass-*"


@needs_node
def test_the_simulator_agrees_a_mismatched_resource_grants_nothing() -> None:
    """LINT-RESOURCE-MISMATCH's verdicts refereed: where lint says an action accepts none of
    the statement's resources, the IAM simulator refuses the request on a real ARN of the
    action's type; where lint is quiet, it allows it. IAM compares an ARN field by field
    (a `*` in the account never reaches into the resource part), and so does lint."""
    account = ACCOUNT_ID
    alarm = f"arn:aws:cloudwatch:us-east-1:{account}:alarm:fleet-1"
    cases = [  # (action, written resource, a real resource of the action's type)
        ("s3:GetObject", BUCKET, f"{BUCKET}/k"),
        ("s3:GetObject", f"{BUCKET}/*", f"{BUCKET}/k"),
        ("s3:ListBucket", f"{BUCKET}/*", BUCKET),
        ("s3:ListBucket", BUCKET, BUCKET),
        ("cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:*:*:fleet*", alarm),
        ("cloudwatch:DeleteAlarms", "arn:aws:cloudwatch:*:*:alarm:fleet*", alarm),
    ]
    flagged = [bool(found_in([allow(a, written)], "LINT-RESOURCE-MISMATCH"))
               for a, written, _ in cases]
    decisions = simulate([{
        "principal": f"arn:aws:iam::{account}:user/u", "action": a, "resource": real,
        "account": account, "context": {}, "policies": [{"name": "p", "policy": {
            "Version": "2012-10-17", "Statement": [allow(a, written)]}}]}
        for a, written, real in cases])
    assert flagged == [True, False, True, False, True, False]
    assert [d == "Allowed" for d in decisions] == [not f for f in flagged]


def found_in(statements: list[Statement], rule: str) -> list[str]:
    return [f.message for f in check({"Version": "2012-10-17", "Statement": statements})
            if f.rule.id == rule]


def test_the_readme_table_lists_every_rule_with_its_setting_and_default() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for rule in RULES.values():
        assert f"| `{rule.setting}` | {rule.id} | {rule.severity} |" in readme, rule


def test_messages_show_look_alike_letters_as_escapes(tmp_path: Path) -> None:
    """A grammar error quotes the value with its escapes (errors.shown), like lint does."""
    _, _, errors = load(tmp_path, [deny("iam:DeleteUser", "us\u0435r/break-glass-*")])
    assert any('"us\\u0435r/break-glass-*"' in p.message for p in errors), errors
