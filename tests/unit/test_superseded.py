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


def shallow(tmp_path: Path, history: dict[str, str], head: str, depth: int,
            every_branch: bool = False) -> Path:
    """A clone of `history` at `head` with only `depth` commits of history, as a CI checkout
    makes by default (actions/checkout `fetch-depth: 1`, GitLab's `GIT_DEPTH`)."""
    git(tmp_path, "branch", "-f", "at-head", history[head])
    clone = tmp_path.parent / f"{tmp_path.name}-shallow-{head}-{depth}"
    git(tmp_path.parent, "clone", "-q", f"--depth={depth}", "--branch", "at-head",
        *(["--no-single-branch"] if every_branch else []), tmp_path.as_uri(), str(clone))
    return clone


@pytest.mark.parametrize(("head", "last", "depth", "every_branch"), [
    ("one", "three", 1, False),   # the newer applied commit is not in the checkout at all
    ("two", "three", 1, False),
    ("one", "two", 1, False),
    ("one", "three", 1, True),    # it is (main's tip), but the history between is cut off
    ("two", "three", 1, True),
    ("three", "two", 1, False),   # newer, in fact: too little history to tell is refused too
])
def test_a_shallow_checkout_cannot_say_an_older_commit_is_newer(
    tmp_path: Path, history: dict[str, str], head: str, last: str, depth: int,
    every_branch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job re-run for an older commit in a shallow checkout: git cannot relate it to the
    last applied commit (unknown to it, or beyond the cut), which is no proof that it is not
    older. Refused, saying to fetch the whole history, not applied as if it were newer."""
    clone = shallow(tmp_path, history, head, depth, every_branch)
    monkeypatch.setattr(hosts, "current", lambda: Host(history[last]))
    with pytest.raises(IamStateError, match=r"shallow.*nothing was changed"):
        ci.last_applied(clone)


def test_a_shallow_checkout_deep_enough_goes_on(
    tmp_path: Path, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last apply within the fetched history: git says it comes before, as in full."""
    clone = shallow(tmp_path, history, "three", 2)
    monkeypatch.setattr(hosts, "current", lambda: Host(history["two"]))
    assert ci.last_applied(clone) == history["two"]


def test_a_commit_unknown_to_a_full_checkout_is_another_history(
    tmp_path: Path, history: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not shallow: a commit git does not know is of a rewritten history (every account)."""
    at(tmp_path, history["three"])
    monkeypatch.setattr(hosts, "current", lambda: Host("f" * 40))
    assert ci.last_applied(tmp_path) is None
