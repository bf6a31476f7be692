"""Class: input AWS would refuse (or silently misread), caught by `validate` before any AWS
call, each at file:line. moto accepts most of these; AWS refuses them halfway through an
apply. Also: references that dangle or point at the wrong account, and account folders
that would fight over one AWS account."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from iamstate.repository.policy import PolicyDocument
from tests.helpers import ACCOUNT_ID, minimal_repo, write


def problems_of(root: Path, only: str | None = None) -> list[str]:
    with pytest.raises(RepoError) as caught:
        load_repository(root, only)
    return [str(p) for p in caught.value.problems]


def group_with(policy_lines: str) -> dict[str, str]:
    return {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    inline_policies:\n"
                                         "      P:\n" + policy_lines}


def statement(extra: str) -> str:
    return ('        Version: "2012-10-17"\n        Statement:\n          - Effect: Allow\n'
            '            Action: s3:GetObject\n' + extra)


CASES = {
    "tag value with &": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                     "    tags:\n      dept: R&D\n"},
        "users.yaml:5", 'AWS refuses the character "&"'),
    "tag key with !": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                     "    tags: {'cost!': x}\n"},
        "users.yaml:4", 'AWS refuses the character "!"'),
    "misspelt condition operator": (
        group_with(statement('            Resource: "*"\n            Condition:\n'
                             '              StringEqualz: {aws:username: x}\n')),
        "groups.yaml:11", "unknown condition operator StringEqualz ("),
    "operator with a bad set prefix": (
        group_with(statement('            Resource: "*"\n            Condition:\n'
                             '              ForEachValue:StringLike: {aws:TagKeys: x}\n')),
        "groups.yaml:11", "unknown condition operator"),
    "condition key without a service": (
        group_with(statement('            Resource: "*"\n            Condition:\n'
                             '              Bool: {MultiFactorAuthPresent: "true"}\n')),
        "groups.yaml:11", "has no service prefix"),
    "condition value that is a mapping": (
        group_with(statement('            Resource: "*"\n            Condition:\n'
                             '              StringEquals: {aws:username: {a: b}}\n')),
        "groups.yaml:11", "values must be strings"),
    "truncated resource ARN": (
        group_with(statement("            Resource: arn:aws:s3\n")),
        "groups.yaml:9", "is not a complete ARN"),
    "ARN with an empty resource": (
        group_with(statement('            Resource: ["arn:aws:s3:::"]\n')),
        "groups.yaml:9", "is not a complete ARN"),
    "managed policy that is not an ARN": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies: [arn:nonsense]\n"},
        "groups.yaml:3", "not a managed policy ARN"),
    "managed policy of another account": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies:\n"
                                      "      - arn:aws:iam::999999999999:policy/x\n"},
        "groups.yaml:4", "belongs to account 999999999999"),
    "own-account ARN of an undeclared policy": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies:\n"
                                      f"      - arn:aws:iam::{ACCOUNT_ID}:policy/Sneaky\n"},
        "groups.yaml:4", "would attach it and delete it in the same apply"),
    "own-account ARN through ${account_id}, undeclared": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies:\n"
                                      "      - arn:aws:iam::${account_id}:policy/Sneaky\n"},
        "groups.yaml:4", "would attach it and delete it in the same apply"),
    "own-account ARN with the wrong path": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies:\n"
                                      f"      - arn:aws:iam::{ACCOUNT_ID}:policy/Read\n"
                                      "policies:\n  Read:\n    path: /team/\n"
                                      "    document: {Version: '2012-10-17', Statement: "
                                      "[{Effect: Allow, Action: 's3:GetObject', "
                                      "Resource: '*'}]}\n"},
        "groups.yaml:4", "declared with path /team/,"),
    "unknown variable in a managed ARN": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies:\n"
                                      "      - arn:aws:iam::${acount_id}:policy/x\n"},
        "groups.yaml:4", "unknown variable ${acount_id}"),
    "wrong partition": (
        {"accounts/acme/groups.yaml": "groups:\n  Ops:\n    managed_policies:\n"
                                      "      - arn:aws-cn:iam::aws:policy/ReadOnlyAccess\n"},
        "groups.yaml:4", "partition aws-cn is"),
    "policy description AWS refuses": (
        {"accounts/acme/groups.yaml": "policies:\n  Read:\n    description: \"emoji \U0001F600\"\n"
                                      "    document: {Version: '2012-10-17', Statement: "
                                      "[{Effect: Allow, Action: 's3:GetObject', "
                                      "Resource: '*'}]}\n"},
        "groups.yaml:3", "description has characters AWS refuses"),
    "a group both common and a category": (
        {"accounts/acme/account.yaml": f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\n'
                                       "categories:\n  AllUsers: {}\n  AllHeadless: "
                                       '{match: "^H-"}\n'},
        "account.yaml:4", "both a common group and a category"),
    "a common group that is ignored": (
        {"accounts/acme/account.yaml": f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\n'
                                       "ignore:\n  groups: ['all*']\n"},
        "account.yaml:4", "matches ignore glob all*:"),
}


@pytest.mark.parametrize("files,where,what", CASES.values(), ids=list(CASES))
def test_refused_offline_at_file_line(
    tmp_path: Path, files: dict[str, str], where: str, what: str
) -> None:
    files = dict(files)
    account = files.pop("accounts/acme/account.yaml", None)
    minimal_repo(tmp_path, account, files)
    found = problems_of(tmp_path)
    assert any(where in p and what in p for p in found), found


ACCEPTED = {
    "AWS managed ARN": "arn:aws:iam::aws:policy/ReadOnlyAccess",
    "AWS managed ARN through ${partition}": "arn:${partition}:iam::aws:policy/job-function/"
                                            "ViewOnlyAccess",
    "own ARN of a declared policy": f"arn:aws:iam::{ACCOUNT_ID}:policy/team/Read",
    "own ARN of a declared policy through ${account_id}": "arn:aws:iam::${account_id}:policy/"
                                                          "team/Read",
    "own ARN of an ignored policy": f"arn:aws:iam::{ACCOUNT_ID}:policy/legacy-thing",
}


@pytest.mark.parametrize("arn", ACCEPTED.values(), ids=list(ACCEPTED))
def test_valid_managed_policy_references(tmp_path: Path, arn: str) -> None:
    minimal_repo(tmp_path, f'account_id: "{ACCOUNT_ID}"\nignore: {{policies: ["legacy-*"]}}\n',
                 {"accounts/acme/groups.yaml": f"groups:\n  Ops:\n    managed_policies: ['{arn}']\n"
                  "policies:\n  Read:\n    path: /team/\n    document: {Version: '2012-10-17', "
                  "Statement: [{Effect: Allow, Action: 's3:GetObject', Resource: '*'}]}\n"})
    [account] = load_repository(tmp_path)
    [loaded] = account.desired.groups["Ops"].managed_policies
    assert "${" not in loaded and loaded.endswith(arn.rsplit("/", 1)[-1])


def test_two_folders_for_one_account_name_both_account_files(tmp_path: Path) -> None:
    minimal_repo(tmp_path)
    write(tmp_path, "accounts/copy/account.yaml", f'account_id: "{ACCOUNT_ID}"\n')
    write(tmp_path, "accounts/other/account.yaml", 'account_id: "111122223333"\n')
    for only in (None, "acme", "copy"):
        found = problems_of(tmp_path, only)
        assert any("copy/account.yaml:1" in p and "acme/account.yaml" in p
                   and "one folder per AWS account" in p for p in found), (only, found)
    load_repository(tmp_path, "other")  # an account that is not involved still loads


def test_ignore_globs_match_names_case_insensitively(tmp_path: Path) -> None:
    minimal_repo(tmp_path, f'account_id: "{ACCOUNT_ID}"\nignore: {{users: ["break-glass-*"]}}\n',
                 {"accounts/acme/users.yaml": "users:\n  Break-Glass-1: {}\n"})
    found = problems_of(tmp_path)
    assert any("users.yaml:2" in p and "matches ignore glob break-glass-* in" in p
               for p in found), found


def doc(condition: dict[str, object]) -> PolicyDocument:
    return PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": condition}]})


EQUIVALENT = {
    "true and 'true'": ({"Bool": {"aws:SecureTransport": True}},
                        {"Bool": {"aws:SecureTransport": "true"}}),
    "false in a list": ({"BoolIfExists": {"aws:MultiFactorAuthPresent": [False]}},
                        {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}),
    "number and string": ({"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}},
                          {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
    "condition key case": ({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
                           {"IpAddress": {"aws:sourceip": ["10.0.0.0/8"]}}),
}


@pytest.mark.parametrize("one,two", EQUIVALENT.values(), ids=list(EQUIVALENT))
def test_equivalent_conditions_are_equal(one: dict[str, object], two: dict[str, object]) -> None:
    assert doc(one) == doc(two)


def test_operator_case_and_values_still_matter() -> None:
    assert doc({"Bool": {"aws:SecureTransport": "true"}}) != doc(
        {"Bool": {"aws:SecureTransport": "false"}})
    assert doc({"StringEquals": {"aws:username": "Alice"}}) != doc(
        {"StringEquals": {"aws:username": "alice"}})
    assert doc({"StringLike": {"aws:username": "a*"}}) != doc(
        {"StringEquals": {"aws:username": "a*"}})


NEWLINE_NAMES = {
    "user name": ("users:\n  \"evil\\n\": {category: AllHumans}\n", "users.yaml:2"),
    "group name": ("groups:\n  \"Ops\\n\": {}\n", "users.yaml:2"),
    "policy name": ("policies:\n  \"P\\n\": {document: {Version: '2012-10-17', Statement: "
                    "[{Effect: Allow, Action: 's3:GetObject', Resource: '*'}]}}\n",
                    "users.yaml:2"),
    "inline policy name": ("groups:\n  Ops:\n    inline_policies:\n      \"P\\n\": {Version: "
                           "'2012-10-17', Statement: [{Effect: Allow, Action: 's3:GetObject',"
                           " Resource: '*'}]}\n", "users.yaml:4"),
    "path": ("users:\n  kim: {category: AllHumans, path: \"/x/\\n\"}\n", "users.yaml:2"),
    "Sid": ("groups:\n  Ops:\n    inline_policies:\n      P: {Version: '2012-10-17', "
            "Statement: [{Sid: \"A\\n\", Effect: Allow, Action: 's3:GetObject', "
            "Resource: '*'}]}\n", "users.yaml:4"),
}


@pytest.mark.parametrize("text,where", NEWLINE_NAMES.values(), ids=list(NEWLINE_NAMES))
def test_a_trailing_newline_is_not_part_of_a_valid_name(tmp_path: Path, text: str,
                                                         where: str) -> None:
    """Python's `$` matches before a final newline; JSON Schema's (and AWS's) does not."""
    minimal_repo(tmp_path, files={"accounts/acme/users.yaml": text})
    found = problems_of(tmp_path)
    assert any(where in p for p in found), found


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_not_a_number_in_a_document_is_refused(tmp_path: Path, value: str) -> None:
    minimal_repo(tmp_path, files={"accounts/acme/groups.yaml": (
        "groups:\n  Ops:\n    inline_policies:\n      P:\n        Version: '2012-10-17'\n"
        "        Statement:\n          - Effect: Allow\n            Action: s3:ListBucket\n"
        "            Resource: '*'\n            Condition:\n"
        f"              NumericLessThan: {{s3:max-keys: {value}}}\n")})
    found = problems_of(tmp_path)
    assert any("groups.yaml:11" in p and "not a number JSON" in p for p in found), found


@pytest.mark.parametrize("name", ["a`b", "x<!--", "two words", "-lead"])
def test_account_folder_names_are_plain(tmp_path: Path, name: str) -> None:
    minimal_repo(tmp_path)
    write(tmp_path, f"accounts/{name}/account.yaml", 'account_id: "111122223333"\n')
    found = problems_of(tmp_path)
    assert any("account folder" in p and "letters, digits" in p for p in found), found


@pytest.mark.parametrize("statement,what", [
    ("Condition: {'ForAllValues:ForAnyValue:StringEquals': {aws:TagKeys: a}}",
     "unknown condition operator"),
    ("Condition: {StringEquals: {aws:TagKeys: a}}\n            Resource: 'arn:xyz:s3:::b'",
     "is not an AWS partition"),
])
def test_more_that_aws_refuses(tmp_path: Path, statement: str, what: str) -> None:
    resource = "" if "Resource" in statement else "            Resource: '*'\n"
    minimal_repo(tmp_path, files={"accounts/acme/groups.yaml": (
        "groups:\n  Ops:\n    inline_policies:\n      P:\n        Version: '2012-10-17'\n"
        "        Statement:\n          - Effect: Allow\n            Action: s3:ListBucket\n"
        f"{resource}            {statement}\n")})
    found = problems_of(tmp_path)
    assert any("groups.yaml:" in p and what in p for p in found), found
