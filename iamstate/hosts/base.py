"""What `iamstate ci` needs from a CI host (GitHub, GitLab, ...), and what every host does
the same way on top of it.

A host answers a few questions about its change requests (pull requests, merge requests):
which one a commit merged, into which branch, whether it is on the branch being applied,
its bot's comments
(notes) with their times; it writes the plan comment, follow-ups and the drift issue; it
says which change request and commit a job runs for, and gives the job's OIDC token for
AWS. What a comment must say, and when it counts as reviewed, is decided here, once, for
every host: only the bot's comments count, the plan comment as it was when the change
merged, follow-ups posted after the merge and never edited; and only a change request
merged into the branch being applied (a review of a merge into another branch is no review
of this one, even when its merge commit later reaches this branch).

A new host is one module: a subclass of `Host` implementing the abstract methods, listed
in `iamstate.hosts.HOSTS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from iamstate.errors import HostError, NotReviewed
from iamstate.hosts.comment import FOLLOWUP_MARKER, SUMMARY_MARKER

DRIFT_MARKER = "<!-- iamstate-drift account={account} -->"


@dataclass(frozen=True)
class Note:
    """A comment (GitHub) or note (GitLab) on a change request, as its host reports it."""

    id: int
    body: str
    by_bot: bool  # written by the token's own user: only those count
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ChangeRequest:
    """A pull request (GitHub) or merge request (GitLab)."""

    number: int
    merged_at: datetime | None  # None: not merged
    commits: frozenset[str]  # the commits that are its merge on the target branch
    target: str  # the branch it merges (or merged) into


@dataclass(frozen=True)
class Issue:
    number: int
    body: str


class Host(ABC):
    """The seam between iamstate's CI commands and a code host."""

    name: ClassVar[str]  # "GitHub"
    change_noun: ClassVar[str]  # "pull request"
    comment_noun: ClassVar[str]  # "comment"
    change_sigil: ClassVar[str] = "#"  # how the host links a change request: #7, !7
    bot: str  # who the bot is, for messages

    # -- where the host is, and the run ------------------------------------------------

    @classmethod
    @abstractmethod
    def detected(cls, environ: Mapping[str, str]) -> bool:
        """Whether this process runs in this host's CI (or is set up as if it did)."""

    @classmethod
    @abstractmethod
    def from_environment(cls) -> Host:
        """The host's API as its CI job sees it; HostError naming what is missing."""

    @staticmethod
    @abstractmethod
    def web_identity_token() -> str | None:
        """The job's OIDC token for AWS STS (AssumeRoleWithWebIdentity), or None outside a
        job that may have one."""

    @abstractmethod
    def change_request(self, given: int | None) -> int:
        """The change request this run is for: `given`, or the CI event's."""

    @abstractmethod
    def head_commit(self) -> str:
        """The commit this run checked out ("" when the host does not say)."""

    @abstractmethod
    def applied_branch(self) -> str:
        """The branch this run applies (its last apply, and the merges that count as
        reviewed, are of this branch only); HostError when the run is not on a branch."""

    @abstractmethod
    def follow_up_help(self, number: int) -> str:
        """The fixed words atop a follow-up: how to apply it after review on this host."""

    # -- what the host's API answers -------------------------------------------------------

    @abstractmethod
    def notes(self, number: int) -> list[Note]:
        """Every comment on change request `number`, oldest first."""

    @abstractmethod
    def create_note(self, number: int, body: str) -> None: ...

    @abstractmethod
    def update_note(self, number: int, note: Note, body: str) -> None: ...

    @abstractmethod
    def change(self, number: int) -> ChangeRequest: ...

    @abstractmethod
    def changes_of_commit(self, commit: str) -> list[ChangeRequest]:
        """Every change request the host lists for a commit (open ones too)."""

    @abstractmethod
    def follows(self, base: str, head: str) -> bool:
        """Whether `head` is `base` or comes after it on the same history."""

    @abstractmethod
    def commits_between(self, base: str, head: str) -> list[str]:
        """The commits after `base` up to `head` (included), oldest first."""

    @abstractmethod
    def last_applied(self) -> str | None:
        """The commit of the last apply run that succeeded on this branch (the host's own
        record, nothing a change request can forge), or None."""

    @abstractmethod
    def bot_issues(self) -> list[Issue]:
        """The open issues the bot opened."""

    @abstractmethod
    def create_issue(self, title: str, body: str) -> int: ...

    @abstractmethod
    def update_issue(self, number: int, title: str, body: str) -> None: ...

    # -- the same on every host ------------------------------------------------------------

    def label(self, number: int) -> str:
        return f"{self.change_sigil}{number}"

    def _bot_notes(self, number: int, marker: str) -> list[Note]:
        """The bot's comments on `number` that start with `marker`, oldest first. Anyone can
        write a comment with the marker; only the bot's count, and what they say is checked
        against a fresh plan before anything applies."""
        return [n for n in self.notes(number) if n.by_bot and n.body.startswith(marker)]

    def plan_comment_frozen(self) -> str | None:
        """Why this run must leave the plan comment as it was reviewed (a run between the
        approval and the merge, such as a merge train's), or None: it may write it."""
        return None

    def plan_comment(self, number: int) -> str | None:
        """The bot's plan comment on `number` as it reads now, or None."""
        existing = self._bot_notes(number, SUMMARY_MARKER)
        return existing[-1].body if existing else None

    def upsert_plan_comment(self, number: int, body: str) -> str:
        """Create or update the one plan comment on `number`: "created" or "updated"."""
        existing = self._bot_notes(number, SUMMARY_MARKER)
        if existing:
            self.update_note(number, existing[-1], body)
            return "updated"
        self.create_note(number, body)
        return "created"

    def add_comment(self, number: int, body: str) -> None:
        self.create_note(number, body)

    def merged_change(self, commit: str) -> tuple[int, datetime]:
        """The change request that `commit` merged into the branch being applied, and when
        (refused when there is none or several: nothing reviewed, or nothing clear, is
        applied). A host lists every change request that holds a commit, open ones too:
        only the one whose merge it is counts. One merged as that commit into another
        branch is refused outright, naming it: its review was of a merge elsewhere, and an
        earlier change request's comment must not stand in for it."""
        merged = [c for c in self.changes_of_commit(commit)
                  if c.merged_at is not None and commit in c.commits]
        branch = self.applied_branch()
        elsewhere = sorted({(c.number, c.target) for c in merged if c.target != branch})
        if elsewhere:
            named = ", ".join(f"{self.label(n)} (into {_branch(t)})" for n, t in elsewhere)
            raise NotReviewed(f"commit {commit} is the merge of {self.change_noun} {named}, not "
                            f"of one into {branch!r}, the branch being applied: a review of a "
                            "merge into another branch is no review of this one; nothing is "
                            "applied")
        found = sorted({(c.number, c.merged_at) for c in merged})
        if not found:
            raise NotReviewed(f"commit {commit} belongs to no {self.change_noun} merged as that "
                            "commit: nothing was reviewed, so nothing is applied")
        if len(found) > 1:
            raise NotReviewed(f"commit {commit} belongs to several {self.change_noun}s "
                            f"{[n for n, _ in found]}: nothing is applied")
        number, merged_at = found[0]
        assert merged_at is not None
        return number, merged_at

    def merged_into(self, number: int, head: str) -> tuple[int, datetime]:
        """Change request `number`, if it is merged into the branch being applied and its
        merge is on that branch's history up to `head`: only then can a follow-up posted
        on it be applied."""
        change = self.change(number)
        if change.merged_at is None or not change.commits:
            raise HostError(f"{self.change_noun} {self.label(number)} is not merged: only the "
                            f"follow-up on a merged {self.change_noun} whose apply was "
                            "refused can be applied")
        branch = self.applied_branch()
        if change.target != branch:
            raise HostError(f"{self.change_noun} {self.label(number)} was merged into "
                            f"{_branch(change.target)}, not into {branch!r}, "
                            "the branch being applied: its follow-up was no review of this "
                            "branch; nothing is applied")
        if not head:
            raise HostError("the commit being applied is not known: cannot tell which "
                            "branch is applied")
        if not any(self._follows(commit, head) for commit in sorted(change.commits)):
            raise HostError(f"{self.change_noun} {self.label(number)} was merged as "
                            f"{', '.join(sorted(change.commits))}, which is not on the branch "
                            f"being applied ({head}): nothing is applied")
        return number, change.merged_at

    def _follows(self, base: str, head: str) -> bool:
        try:
            return self.follows(base, head)
        except HostError:
            return False

    def merged_changes_between(self, base: str, head: str) -> list[tuple[int, datetime]]:
        """The change requests merged into the branch being applied as the commits after
        `base` up to `head` (excluded), oldest first. A commit no change request merged
        into this branch is skipped: a commit of a change's branch, one pushed without a
        change request, or the merge of one into another branch (stacked change requests):
        none is a review of this branch, so an account only it changed is refused, not
        applied."""
        if not self.follows(base, head):
            raise HostError(f"{head} does not follow {base}: cannot tell which merges "
                            "were not applied yet; nothing is applied")
        found = []
        for commit in self.commits_between(base, head):
            if commit == head:
                continue
            try:
                found.append(self.merged_change(commit))
            except NotReviewed:  # the host's own failures are not passed over
                continue  # a commit of a change's branch, or pushed without one
        return found

    def reviewed_comments(self, number: int, merged_at: datetime | None = None,
                          follow_up: bool = False) -> list[str]:
        """The bodies of the plan comments reviewed on `number`, oldest first: the plan
        comment as it was when the change merged (one changed after the merge was not what
        was reviewed), or (`follow_up`) the follow-ups posted after the merge, never
        edited."""
        marker = FOLLOWUP_MARKER if follow_up else SUMMARY_MARKER
        found = [n for n in self._bot_notes(number, marker) if merged_at is None or (
            n.created_at > merged_at and n.updated_at == n.created_at
            if follow_up else n.updated_at <= merged_at)]
        if not found:
            what = (f"follow-up plan {self.comment_noun} posted after its merge" if follow_up
                    else f"iamstate plan {self.comment_noun} from before its merge")
            raise NotReviewed(f"{self.change_noun} {self.label(number)} has no {what} by "
                            f"{self.bot}: its plan was never reviewed, so nothing is applied")
        return [n.body for n in found]

    def upsert_drift_issue(self, account: str, title: str, body: str) -> str:
        """One open issue per drifted account, updated while the drift lasts. Only an issue
        the bot opened is ever updated: a person's issue holding the marker is left alone
        (its author could edit or close it and hide the drift)."""
        marker = DRIFT_MARKER.format(account=account)
        text = f"{marker}\n{body}"
        for issue in self.bot_issues():
            if issue.body.startswith(marker):
                self.update_issue(issue.number, title, text)
                return f"updated #{issue.number}"
        return f"created #{self.create_issue(title, text)}"


def _branch(name: str) -> str:
    return repr(name) if name else "an unnamed branch"


def when(stamp: str) -> datetime:
    """ISO 8601 times as both hosts write them (`2026-12-01T09:00:00Z`,
    `2026-12-01T09:00:00.123+00:00`)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
