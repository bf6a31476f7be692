"""`ci.last_applied` (the matrix job's and every apply's first question): an apply never
runs for a commit older than the branch's last apply (a job re-run or
retried after newer merges were applied would put back what they changed). Against a real
git history, every relation of HEAD to the last applied commit."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from iamstate import hosts
from iamstate.errors import IamStateError
from iamstate.hosts import ci


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> dict[str, str]:
    """main: one -> two -> three; `side` branches off at one (another history)."""
    git(tmp_path, "init", "-q", "-b", "main")
    shas = {}
    for name in ("one", "two", "three"):
        (tmp_path / "f").write_text(name)
        git(tmp_path, "add", "f")
        git(tmp_path, "commit", "-q", "-m", name)
        shas[name] = git(tmp_path, "rev-parse", "HEAD")
    git(tmp_path, "checkout", "-q", "-b", "side", shas["one"])
    (tmp_path / "f").write_text("side")
    git(tmp_path, "commit", "-q", "-am", "side")
    shas["side"] = git(tmp_path, "rev-parse", "HEAD")
    return shas


class Host:
    def __init__(self, last: str | None) -> None:
        self.last = last

    def last_applied(self) -> str | None:
        return self.last


def at(repo: Path, sha: str) -> None:
    git(repo, "checkout", "-q", "--detach", sha)


@pytest.mark.parametrize(("head", "last"), [
    ("three", "two"),     # the usual: the last apply came before
    ("three", "three"),   # this commit's own run, again: its plan is checked afresh
    ("three", None),      # no apply yet
    ("three", "side"),    # another history: every account is applied, none skipped
    ("side", "three"),    # likewise the other way round
    ("three", "not-a-commit"),
])
def test_an_apply_goes_on(tmp_path: Path, history: dict[str, str], head: str,
                          last: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    at(tmp_path, history[head])
    monkeypatch.setattr(hosts, "current", lambda: Host(history.get(last or "", last)))
    found = ci.last_applied(tmp_path)
    # the last apply counts only when it comes before (every account is applied otherwise)
    assert found == (history[last] if head == "three" and last in ("two", "three") else None)


@pytest.mark.parametrize(("head", "last"), [("one", "three"), ("two", "three"),
                                            ("one", "two")])
def test_an_older_commit_is_refused(tmp_path: Path, history: dict[str, str], head: str,
                                    last: str, monkeypatch: pytest.MonkeyPatch) -> None:
    at(tmp_path, history[head])
    monkeypatch.setattr(hosts, "current", lambda: Host(history[last]))
    with pytest.raises(IamStateError, match=f"comes before {history[last]}.*nothing was "
                                            "changed"):
        ci.last_applied(tmp_path)
