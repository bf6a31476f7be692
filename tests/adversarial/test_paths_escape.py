"""Class: paths that escape the repository. A pull request can add symbolic links (git
stores them) pointing anywhere on the CI machine; iamstate must never read through them,
and no error may echo a file's contents (CI logs are public to the PR's author)."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
import pytest

from iamstate.errors import RepoError, shown
from iamstate.repository.loader import load_repository
from tests.helpers import minimal_repo

SECRET = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n" \
         "-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A secret outside the repository, and a folder of them."""
    secrets = tmp_path / "home" / ".ssh"
    secrets.mkdir(parents=True)
    (secrets / "id_ed25519").write_text(SECRET)
    (secrets / "config.yaml").write_text(SECRET)
    (secrets / "stolen.json").write_text('{"Version": "2012-10-17", "Statement": []}')
    return secrets


def problems(root: Path, only: str | None = None) -> list[str]:
    with pytest.raises(RepoError) as caught:
        load_repository(root, only)
    text = [str(p) for p in caught.value.problems]
    assert not any("BEGIN OPENSSH" in p or "b3BlbnNza" in p for p in text), text
    return text


LINKS = {
    "a resource file": ("accounts/acme/users.yaml", "id_ed25519"),
    "a nested resource file": ("accounts/acme/team/more.yml", "config.yaml"),
    "a folder of resource files": ("accounts/acme/linked", "."),
    "a policy document": ("policies/read.json", "stolen.json"),
    "a YAML policy document": ("policies/read.yaml", "id_ed25519"),
}


@pytest.mark.parametrize("link,target", LINKS.values(), ids=list(LINKS))
def test_a_link_out_of_the_repository_is_refused_unread(
    tmp_path: Path, outside: Path, link: str, target: str
) -> None:
    root = minimal_repo(tmp_path / "repo")
    path = root / link
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(outside / target, path)
    found = problems(root)
    assert any(link.split("/")[-1] in p and "leads outside the repository" in p
               for p in found), found


def test_linked_account_yaml_policies_folder_and_account_folder(
    tmp_path: Path, outside: Path
) -> None:
    root = minimal_repo(tmp_path / "repo")
    (root / "accounts/acme/account.yaml").unlink()
    os.symlink(outside / "config.yaml", root / "accounts/acme/account.yaml")
    os.symlink(outside, root / "policies")
    os.symlink(outside, root / "accounts/evil")
    found = problems(root)
    for name in ("account.yaml", "policies", "evil"):
        assert any(f"{name}:1: is a link that leads outside" in p for p in found), found


def test_links_inside_the_repository_are_followed_and_loops_end(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path, files={
        "shared/humans.yaml": "users:\n  jdoe: {category: AllHumans}\n"})
    os.symlink(root / "shared", root / "accounts/acme/shared")
    os.symlink(root / "accounts/acme", root / "accounts/acme/shared/loop")
    [account] = load_repository(root)
    assert "jdoe" in account.desired.users


def test_errors_never_echo_long_or_multi_line_values(tmp_path: Path) -> None:
    root = minimal_repo(tmp_path, files={
        "accounts/acme/users.yaml": "users:\n  jdoe:\n    category: AllHumans\n"
                                    f"    groups: {'x' * 300}\n",
        "policies/p.json": '{"Version": "2012-10-17", "Statement": [{"Effect": "'
                           + "A" * 200 + '", "Action": "s3:GetObject", "Resource": "*"}]}'})
    found = problems(root)
    assert not any("x" * 65 in p or "A" * 65 in p for p in found), found
    assert shown("short") == "short"  # issue 21: as people write it, no repr quotes
    assert shown("two words") == '"two words"' and shown("e\u0435") == '"e\\u0435"'
    assert shown(SECRET) == f"a text of {len(SECRET)} characters"
    assert shown("a" * 65) == "a text of 65 characters"


def test_nothing_is_written_through_a_link_planted_in_the_repository(
    tmp_path: Path, outside: Path
) -> None:
    from iamstate.errors import PlanFileError
    from iamstate.plan.planfile import write
    from iamstate.plan.secrets import write_encrypted
    from iamstate.repository.files import UnsafePath

    root = minimal_repo(tmp_path / "repo")
    victim = outside / "authorized_keys"
    victim.write_text("ssh-ed25519 AAAA mine\n")
    listing = sorted(p.name for p in outside.iterdir())
    (root / ".iamstate").mkdir()
    os.symlink(victim, root / ".iamstate/plan.json")
    with pytest.raises(PlanFileError, match="symbolic link"):
        write(root / ".iamstate/plan.json", {"format_version": 2, "accounts": []}, root)
    os.symlink(outside, root / ".iamstate/out")  # `.iamstate/out -> ~/.ssh` (or ../.git)
    age = str(pyrage.x25519.Identity.generate().to_public())
    with pytest.raises(UnsafePath, match="symbolic link"):
        write_encrypted("secret", age, root / ".iamstate/out/acme/kim.age", root)
    assert victim.read_text() == "ssh-ed25519 AAAA mine\n"
    assert sorted(p.name for p in outside.iterdir()) == listing  # nothing made there


def test_fmt_and_user_add_stay_inside_the_repository(tmp_path: Path, outside: Path) -> None:
    from iamstate.errors import EditError
    from iamstate.repository.edit import add_user, format_files

    root = minimal_repo(tmp_path / "repo", files={
        "accounts/acme/users.yaml": "users:\n  jdoe: {category: AllHumans}\n"})
    before = (outside / "config.yaml").read_text()
    os.symlink(outside / "config.yaml", root / "accounts/acme/creds.yaml")
    with pytest.raises(RepoError) as caught:
        format_files(root, check=False)
    assert "leads outside the repository" in str(caught.value)
    assert "BEGIN OPENSSH" not in str(caught.value)
    assert (outside / "config.yaml").read_text() == before
    (root / "accounts/acme/creds.yaml").unlink()
    (root / "accounts/acme/broken.yaml").write_text("users: [\n  secret-value\n")
    with pytest.raises(EditError) as broken:
        format_files(root, check=True)
    assert "broken.yaml:" in str(broken.value) and "secret-value" not in str(broken.value)
    (root / "accounts/acme/broken.yaml").unlink()
    with pytest.raises(EditError, match="must be a file in"):
        add_user(root, "acme", "kim", "AllHumans", [], False, None, outside / "x.yaml")
    assert not (outside / "x.yaml").exists()


def test_a_plan_file_naming_an_account_twice_is_refused(tmp_path: Path) -> None:
    import json as json_module

    from iamstate.errors import PlanFileError
    from iamstate.plan.planfile import read

    entry = {"account": "acme", "account_id": "123456789012", "changes": []}
    path = tmp_path / "p.json"
    path.write_text(json_module.dumps({"format_version": 2, "accounts": [entry, entry]}))
    with pytest.raises(PlanFileError, match="in the plan twice"):
        read(path)
