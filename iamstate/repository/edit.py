"""Edit the repository like a human would: ruamel.yaml round trip keeps comments, key order
and the file a team put each user in. Every edit is validated; an invalid result is rolled
back, so the repository is never left broken."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from iamstate.errors import EditError, RepoError, shown
from iamstate.repository.expiry import Expiry
from iamstate.repository.files import write_text_safely
from iamstate.repository.loader import ACCOUNT_FILE, YAML_SUFFIXES, Problems, Tree, load_repository
from iamstate.repository.schema import RESOURCES, editor_comment


def _yaml() -> YAML:
    """ruamel.yaml round trip, in the layout every file iamstate writes or formats uses."""
    yaml = YAML(typ="rt")
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.preserve_quotes = True
    yaml.width = 100
    return yaml


def dump(data: Any) -> str:
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def _load(path: Path) -> Any:
    """A file read round-trip; invalid YAML is an EditError at file:line (never its text)."""
    try:
        return _yaml().load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise EditError(f"{path}:{line}: invalid YAML: fix it first (`iamstate validate` "
                        "says what is wrong)") from None
    except (YAMLError, UnicodeDecodeError):
        raise EditError(f"{path}: invalid YAML: fix it first (`iamstate validate` says what "
                        "is wrong)") from None


def _files(repo: Path, folder: Path) -> list[Path]:
    """The YAML files under `folder`, only those inside the repository (a link out of it
    is an error, never read or written)."""
    problems = Problems()
    found = Tree(repo, repo.resolve(), problems).files(folder, YAML_SUFFIXES, deep=True)
    if problems.items:
        raise RepoError(problems.items)
    return found


def _write(repo: Path, path: Path, text: str) -> None:
    """Write an edited file: where a link inside the repository leads, never out of it."""
    real = path.resolve() if path.is_symlink() else path
    write_text_safely(real, text, repo.resolve() if real != path else repo)


def flow_list(items: list[str]) -> CommentedSeq:
    """A list written on one line: `groups: [AllUsers, Developers]`."""
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _resource_files(account_dir: Path) -> list[Path]:
    repo = account_dir.parent.parent
    return [p for p in _files(repo, account_dir) if p.name != ACCOUNT_FILE]


def _account_dir(repo: Path, account: str | None) -> Path:
    folders = sorted(p for p in (repo / "accounts").iterdir() if p.is_dir())
    if account is not None:
        folder = repo / "accounts" / account
        if folder not in folders:
            raise EditError(f"no account {shown(account)} under {repo / 'accounts'}")
        return folder
    if len(folders) != 1:
        raise EditError("several accounts here: say which with --account")
    return folders[0]


@contextmanager
def _validated(repo: Path, path: Path) -> Iterator[None]:
    """Restore `path` as it was if the repository does not validate after the edit."""
    before = path.read_text(encoding="utf-8") if path.exists() else None
    yield
    try:
        load_repository(repo)
    except RepoError:
        if before is None:
            path.unlink()
        else:
            _write(repo, path, before)
        raise


def _where_declared(account_dir: Path, kind: str, name: str) -> Path | None:
    for path in _resource_files(account_dir):
        data = _load(path) or {}
        if isinstance(data, dict) and name in (data.get(kind) or {}):
            return path
    return None


def add_user(repo: Path, account: str | None, name: str, category: str | None,
             groups: list[str], console: bool, public_key: str | None,
             file: Path | None = None) -> Path:
    """Declare a new user in the account's users file (or `file`); return that file."""
    account_dir = _account_dir(repo, account)
    if _where_declared(account_dir, "users", name) is not None:
        raise EditError(f"user {shown(name)} is already declared")
    target = file or _users_file(account_dir)
    try:
        Path(os.path.abspath(target)).relative_to(os.path.abspath(account_dir))
    except ValueError:
        raise EditError(f"--file {target}: must be a file in {account_dir}") from None
    if target.suffix not in YAML_SUFFIXES:
        raise EditError(f"--file {target}: must end in .yaml or .yml")
    spec = CommentedMap()
    if category:
        spec["category"] = category
    if groups:
        spec["groups"] = flow_list(groups)
    if console:
        spec["console_access"] = True
    if public_key:
        spec["public_key"] = public_key
    with _validated(repo, target):
        data = _load_or_new(target, account_dir)
        users = data.get("users")
        if users is None:
            users = data["users"] = CommentedMap()
        users[name] = spec if spec else None
        _write(repo, target, dump(data))
    return target


def remove_user(repo: Path, account: str | None, name: str) -> Path:
    account_dir = _account_dir(repo, account)
    path = _where_declared(account_dir, "users", name)
    if path is None:
        raise EditError(f"user {shown(name)} is not declared in {account_dir}")
    with _validated(repo, path):
        data = _load(path)
        del data["users"][name]
        _write(repo, path, dump(data))
    return path


def _users_file(account_dir: Path) -> Path:
    """Where new users go: the file that already declares the most users."""
    best, most = account_dir / "users.yaml", -1
    for path in _resource_files(account_dir):
        data = _load(path) or {}
        count = len(data.get("users") or {}) if isinstance(data, dict) else 0
        if count > most:
            best, most = path, count
    return best


def _load_or_new(path: Path, account_dir: Path) -> Any:
    if path.exists():
        data = _load(path)
        if data is not None:
            return data
    data = CommentedMap()
    repo = account_dir.parent.parent
    data.yaml_set_start_comment(editor_comment(repo, path, RESOURCES).removeprefix("# "))
    return data


def format_files(repo: Path, check: bool) -> list[Path]:
    """Re-indent every YAML file consistently (comments and order kept). Returns the files
    that changed (or, with `check`, would change)."""
    changed = []
    for path in _files(repo, repo / "accounts"):
        text = path.read_text(encoding="utf-8")
        data = _load(path)
        if data is None:
            continue
        formatted = dump(data)
        if formatted != text:
            changed.append(path)
            if not check:
                _write(repo, path, formatted)
    return changed


def remove_expired(repo: Path, ended: list[Expiry]) -> list[Path]:
    """Delete the lines of expired users and memberships from the files that declare them
    (comments and the rest of each file kept); return the files changed. Each file is
    validated after its edit, and restored if the repository would not validate."""
    by_file: dict[Path, list[Expiry]] = {}
    for entry in ended:
        if entry.source is not None:
            by_file.setdefault(entry.source.file, []).append(entry)
    for path, entries in sorted(by_file.items()):
        with _validated(repo, path):
            data = _load(path)
            users = data["users"]
            for entry in entries:
                if entry.group is None:
                    users.pop(entry.user, None)
                elif entry.user in users:
                    _drop_membership(users[entry.user], entry.group)
            _write(repo, path, dump(data))
    return sorted(by_file)


def _drop_membership(user: Any, group: str) -> None:
    groups = user.get("groups") if isinstance(user, dict) else None
    if not isinstance(groups, list):
        return
    for index, item in enumerate(groups):
        if isinstance(item, dict) and item.get("group") == group:
            del groups[index]
            return
