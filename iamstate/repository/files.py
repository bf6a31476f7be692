"""Writing files without being steered by links planted in the repository.

A pull request can add symbolic links (git stores them): `.iamstate -> ~/.ssh`, or
`.iamstate/plan.json -> ~/.bashrc`. Anything iamstate writes under the repository therefore
refuses a path with a link in it, and never follows a link at the last step either.
"""

from __future__ import annotations

import os
from pathlib import Path


class UnsafePath(OSError):
    """A write that a link would send somewhere else."""


def _links_between(root: Path, path: Path) -> Path | None:
    """The first symbolic link on the way from `root` down to `path` (both absolute)."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return None
    current = root
    for part in relative.parts:
        current = current / part
        if current.is_symlink():
            return current
    return None


def write_safely(path: Path, data: bytes, root: Path | None = None, mode: int = 0o644) -> Path:
    """Write `path` (its folders made as needed). Under `root` (the repository), no folder
    on the way may be a link; anywhere, the file itself may not be one."""
    target = Path(os.path.abspath(path))
    if root is not None:
        link = _links_between(Path(os.path.abspath(root)), target)
        if link is not None:
            raise UnsafePath(f"{link} is a symbolic link: refusing to write {path} through it "
                             "(remove the link)")
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, mode)
    except OSError as error:
        if target.is_symlink():
            raise UnsafePath(f"{path} is a symbolic link: refusing to write through it "
                             "(remove the link)") from None
        raise error
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def write_text_safely(path: Path, text: str, root: Path | None = None) -> Path:
    return write_safely(path, text.encode("utf-8"), root)


STATE_FOLDER = ".iamstate/"  # plans, one-time passwords, the sandbox's state: never in git


def ignore_state_folder(repo: Path) -> bool:
    """Write or extend the repository's .gitignore with `.iamstate/`, so that a `git add -A`
    after `import` or `sandbox` never commits a plan or an encrypted password by mistake.
    True when it was added."""
    path = repo / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if any(line.strip() in (STATE_FOLDER, STATE_FOLDER.rstrip("/"), "/" + STATE_FOLDER)
           for line in text.splitlines()):
        return False
    separator = "" if not text or text.endswith("\n") else "\n"
    write_text_safely(path, f"{text}{separator}{STATE_FOLDER}\n", repo)
    return True
