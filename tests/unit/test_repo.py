"""The loader: every kind of bad input is an error at file:line that says what to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from iamstate.errors import RepoError
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, minimal_repo, write

GOOD_POLICY = """
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    """


def problems_of(root: Path) -> list[str]:
    with pytest.raises(RepoError) as caught:
        load_repository(root)
    return [str(p) for p in caught.value.problems]


def test_example_repository_loads_with_common_and_category_groups(example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    users = account.desired.users
    assert account.config.account_id == ACCOUNT_ID
    assert users["jdoe"].groups == {"AllUsers", "AllHumans", "Developers"}
    assert users["HeadlessUser-backup"].groups == {"AllUsers", "AllHeadlessUsers",
                                                   "BackupWriters"}
    backup = dict(account.desired.groups["BackupWriters"].inline_policies)["WriteBackups"]
    assert backup.document["Statement"][0]["Resource"] == (
        f"arn:aws:s3:::backups-{ACCOUNT_ID}/*")
    own = dict(account.desired.groups["AllUsers"].inline_policies)["SelfManageCredentials"]
    assert "${aws:username}" in own.to_json()  # IAM variables pass through untouched


CASES = {
    "broken yaml": (
        {"accounts/acme/users.yaml": "users:\n  jdoe: {category: AllHumans\n"},
        "users.yaml:", "invalid YAML"),
    "wrong type": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                       "    groups: Developers\n"},
        "users.yaml:4", "must be a list"),
    "unknown key with suggestion": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                       "    grups: [AllUsers]\n"},
        "users.yaml:4", "did you mean groups?"),
    "duplicate name in one file": (
        {"accounts/acme/users.yaml": "users:\n  jdoe: {category: AllHumans}\n"
                                       "  jdoe: {category: AllHumans}\n"},
        "users.yaml:3", "duplicate key"),
    "bad regex": (
        {"accounts/acme/account.yaml": f'account_id: "{ACCOUNT_ID}"\ncategories:\n'
                                         '  Bots: {match: "^(Bot"}\n'},
        "account.yaml:3", "not a valid regular expression"),
    "bad policy json": (
        {"policies/broken.json": '{"Version": "2012-10-17",\n  "Statement": [}\n'},
        "broken.json:2", "invalid JSON"),
    "policy grammar": (
        {"policies/nogrant.json": '{"Version": "2012-10-17", "Statement": '
                                   '[{"Effect": "Permit", "Action": "s3:GetObject"}]}'},
        "nogrant.json:1", "Effect must be Allow or Deny"),
    "unknown variable": (
        {"policies/vars.json": '{"Version": "2012-10-17",\n "Statement": [{"Effect": '
                               '"Allow",\n "Action": "s3:GetObject",\n '
                               '"Resource": "arn:aws:s3:::${bucket}"}]}',
         "accounts/acme/groups.yaml": "groups:\n  Readers:\n    inline_policies:\n"
                                        "      Read: vars\n"},
        "vars.json:4", "unknown variable ${bucket}"),
    "dangling group": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                       "    groups: [Developerz]\n"},
        "users.yaml:4", "group Developerz is not declared"),
    "dangling managed policy": (
        {"accounts/acme/groups.yaml": "groups:\n  Devs:\n    managed_policies:\n"
                                        "      - no-such-policy\n"},
        "groups.yaml:4", "is not declared under policies"),
    "missing document file": (
        {"accounts/acme/groups.yaml": "groups:\n  Devs:\n    inline_policies:\n"
                                        "      Read: no-such-file\n"},
        "groups.yaml:4", "create policies/no-such-file.json"),
    "category contradicts pattern": (
        {"accounts/acme/users.yaml": "users:\n  HeadlessUser-x:\n    category: AllHumans\n"},
        "users.yaml:3", "matches the pattern of category AllHeadlessUsers"),
    "no category": (
        {"accounts/acme/users.yaml": "users:\n  jdoe: {}\n"},
        "users.yaml:2", "matches no category pattern"),
    "user policy in yaml": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                       "    inline_policies: {x: y}\n"},
        "users.yaml:4", "user policies are banned"),
    "bad public key": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                     "    console_access: true\n"
                                     "    public_key: ssh-ed25519 notakey\n"},
        "users.yaml:5", "is not an age"),
    "unquoted version date": (
        {"accounts/acme/groups.yaml": "groups:\n  Devs:\n    inline_policies:\n"
                                        "      Read:\n        Version: 2012-10-17\n"
                                        "        Statement: [{Effect: Allow, Action: '*', "
                                        "Resource: '*'}]\n"},
        "groups.yaml:5", "with quotes"),
    "account id not quoted": (
        {"accounts/acme/account.yaml": "account_id: 123456789012\n"},
        "account.yaml:1", 'account_id must be a string'),
    "declared but ignored": (
        {"accounts/acme/account.yaml": f'account_id: "{ACCOUNT_ID}"\n'
                                         'ignore: {users: ["break-glass-*"]}\n',
         "accounts/acme/users.yaml": "users:\n  break-glass-1: {}\n"},
        "users.yaml:2", "matches ignore glob"),
    "too many groups": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                       "    groups: [G1, G2, G3, G4, G5, G6, G7, G8, G9]\n",
         "accounts/acme/groups.yaml": "groups:\n" + "".join(
             f"  G{i}: {{}}\n" for i in range(1, 10))},
        "users.yaml:4", "over IAM's limit of 10"),
    "bad user name": (
        {"accounts/acme/users.yaml": "users:\n  'j doe': {category: AllHumans}\n"},
        "users.yaml:2", "is not valid"),
    "bad path": (
        {"accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                       "    path: eng\n"},
        "users.yaml:4", "starts and ends with /"),
    "policy sid twice": (
        {"policies/twice.json": '{"Version": "2012-10-17", "Statement": ['
                                 '{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", '
                                 '"Resource": "*"},\n{"Sid": "A", "Effect": "Allow", '
                                 '"Action": "s3:PutObject", "Resource": "*"}]}'},
        "twice.json:2", "used twice"),
    "principal in identity policy": (
        {"policies/principal.json": '{"Version": "2012-10-17", "Statement": [{"Effect": '
                                     '"Allow", "Principal": "*", "Action": "s3:GetObject", '
                                     '"Resource": "*"}]}'},
        "principal.json:1", "no Principal"),
    "unknown action": (
        {"policies/typo.json": '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",\n'
                               '  "Action": ["s3:GetObject",\n  "s3:GetObjekt"],\n'
                               '  "Resource": "*"}]}',
         "accounts/acme/groups.yaml": "groups:\n  Readers:\n    inline_policies:\n"
                                      "      Read: typo\n"},
        "typo.json:3", "did you mean s3:GetObject?"),
}


@pytest.mark.parametrize("files,where,what", CASES.values(), ids=list(CASES))
def test_bad_input_is_an_error_at_file_line(
    tmp_path: Path, files: dict[str, str], where: str, what: str
) -> None:
    files = dict(files)
    account = files.pop("accounts/acme/account.yaml", None)
    minimal_repo(tmp_path, account, files)
    problems = problems_of(tmp_path)
    assert any(where in p and what in p for p in problems), problems


def test_duplicates_across_files_name_both_places(tmp_path: Path) -> None:
    minimal_repo(tmp_path, files={
        "accounts/acme/a.yaml": "users:\n  jdoe: {category: AllHumans}\n",
        "accounts/acme/team/b.yaml": "# team b\nusers:\n  JDoe: {category: AllHumans}\n"})
    [problem] = problems_of(tmp_path)
    assert "b.yaml:3" in problem and "a.yaml:2" in problem and "declared twice" in problem


def test_every_error_of_a_run_is_reported_together(tmp_path: Path) -> None:
    minimal_repo(tmp_path, files={
        "accounts/acme/users.yaml": "users:\n  jdoe: {}\n  bob: {groups: [Nope]}\n",
        "policies/bad.json": "{nope"})
    problems = problems_of(tmp_path)
    assert len(problems) >= 3, problems


def test_inline_policy_total_over_the_group_quota(tmp_path: Path) -> None:
    actions = ", ".join(f'"s3:GetObject{i:04d}"' for i in range(400))
    write(tmp_path, "policies/big.json", '{"Version": "2012-10-17", "Statement": [{"Effect": '
                                         f'"Allow", "Action": [{actions}], "Resource": "*"}}]}}')
    minimal_repo(tmp_path)
    write(tmp_path, "accounts/acme/groups.yaml",
          "groups:\n  Devs:\n    inline_policies:\n      Big: big\n")
    problems = problems_of(tmp_path)
    assert any("groups.yaml:3" in p and "over IAM's 5,120" in p for p in problems), problems


def test_yaml_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},*a{i-1},"
              f"*a{i-1},*a{i-1},*a{i-1}]" for i in range(1, 9)]
    minimal_repo(tmp_path)
    write(tmp_path, "accounts/acme/bomb.yaml", "\n".join(lines) + "\n")
    problems = problems_of(tmp_path)
    assert any("bomb.yaml:1" in p and "anchors" in p for p in problems), problems


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    minimal_repo(tmp_path)
    write(tmp_path, "accounts/acme/huge.yaml", "# x\n" * 700_000)
    problems = problems_of(tmp_path)
    assert any("huge.yaml:1" in p and "split it" in p for p in problems), problems


def test_unknown_account_is_named(tmp_path: Path) -> None:
    minimal_repo(tmp_path)
    with pytest.raises(RepoError, match="no account nope here"):
        load_repository(tmp_path, "nope")


def test_policy_document_in_place_and_by_name_give_the_same_model(tmp_path: Path) -> None:
    minimal_repo(tmp_path)
    write(tmp_path, "policies/read.json", GOOD_POLICY)
    write(tmp_path, "accounts/acme/groups.yaml", """
        groups:
          ByName: {inline_policies: {Read: read}}
          InPlace:
            inline_policies:
              Read:
                Statement:
                  Effect: Allow
                  Action: [s3:GetObject]
                  Resource: "*"
                Version: "2012-10-17"
        """)
    [account] = load_repository(tmp_path)
    groups = account.desired.groups
    assert groups["ByName"].inline_policies == groups["InPlace"].inline_policies


def test_unknown_actions_can_be_softened_to_warnings(tmp_path: Path) -> None:
    minimal_repo(tmp_path, f'account_id: "{ACCOUNT_ID}"\nlint: {{unknown_actions: warn}}\n',
                 {"accounts/acme/groups.yaml": """
                     groups:
                       Readers:
                         inline_policies:
                           Read:
                             Version: "2012-10-17"
                             Statement: [{Effect: Allow, Action: "s4:Get*", Resource: "*"}]
                     """})
    [account] = load_repository(tmp_path)
    [warning] = account.warnings
    assert "groups.yaml:6" in str(warning) and "unknown service s4 in" in str(warning)
    assert "Readers" in account.desired.groups


def test_console_access_without_a_key_warns_and_cannot_create_a_password(
    tmp_path: Path,
) -> None:
    from iamstate.model.state import State
    from iamstate.plan.planner import plan_account

    minimal_repo(tmp_path, files={"accounts/acme/users.yaml":
                                  "users:\n  jdoe:\n    category: AllHumans\n"
                                  "    console_access: true\n"})
    [account] = load_repository(tmp_path)
    [warning] = account.warnings
    assert "users.yaml:4" in str(warning) and "cannot create one" in str(warning)
    with pytest.raises(RepoError, match=r"users\.yaml:2: user jdoe: console_access needs"):
        plan_account(account.config, account.desired, State())
