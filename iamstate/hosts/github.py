"""The few GitHub REST calls the workflows need, so the workflows only call iamstate.

- one plan comment per pull request (every account planned), found again by a hidden marker
  and updated in place (never a new comment per push); only the bot's comments count;
- on merge, that comment read back (apply re-renders each account's section from a fresh
  plan and applies only if it is what the comment says);
- a follow-up comment when a merged plan could not be applied (stale), for review;
- a drift issue, opened once and updated while drift lasts.

Standard library only (urllib): the token is the workflow's GITHUB_TOKEN.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from iamstate.errors import GitHubError
from iamstate.hosts.comment import FOLLOWUP_MARKER, SUMMARY_MARKER

BOT = "github-actions[bot]"  # who writes comments with the workflow's GITHUB_TOKEN
DRIFT_MARKER = "<!-- iamstate-drift account={account} -->"
RETRIES = 5  # per call, for 5xx and rate limits
MAX_WAIT = 120.0  # seconds of waiting per call, in all: a job never hangs on GitHub


def retry_after(status: int, headers: Mapping[str, str], message: str, attempt: int
                ) -> float | None:
    """Seconds to wait before trying a failed call again, or None: not worth retrying.
    `headers` with lower-case names."""
    limited = status == 429 or (status == 403 and (
        headers.get("x-ratelimit-remaining") == "0" or "rate limit" in message.lower()
        or headers.get("retry-after") is not None))
    if not limited and status < 500:
        return None
    if headers.get("retry-after", "").strip().isdigit():
        return float(headers["retry-after"])
    reset = headers.get("x-ratelimit-reset", "")
    if limited and headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(0.0, int(reset) - time.time()) + 1
    # no hint: back off (GitHub asks at least a minute for secondary limits)
    return 60.0 if limited else min(2.0 ** attempt, 30.0)


@dataclass
class GitHub:
    repository: str  # owner/name
    token: str
    api: str = "https://api.github.com"
    bot: str = BOT

    @classmethod
    def from_environment(cls) -> GitHub:
        try:
            return cls(os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_TOKEN"],
                       os.environ.get("GITHUB_API_URL", "https://api.github.com"),
                       os.environ.get("IAMSTATE_BOT_LOGIN", BOT))
        except KeyError as missing:
            raise GitHubError(f"{missing.args[0]} is not set: run this in GitHub Actions "
                              "with permissions for pull requests and issues") from None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call. 5xx answers and rate limits (primary: 429 or 403 with no requests
        left; secondary: 403/429 saying so, or with Retry-After) are retried, waiting what
        GitHub asks (Retry-After, X-RateLimit-Reset) or backing off, at most RETRIES times
        and MAX_WAIT seconds in all; then the job fails, saying why."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        data = json.dumps(body).encode() if body is not None else None
        waited = 0.0
        for attempt in range(RETRIES + 1):
            request = urllib.request.Request(url, data=data, method=method, headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    text = response.read().decode()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as error:
                message = error.read().decode()[:300]
                wait = retry_after(error.code, {k.lower(): v for k, v in error.headers.items()},
                                   message, attempt)
                if wait is None or attempt == RETRIES or waited + wait > MAX_WAIT:
                    raise GitHubError(f"GitHub {method} {path}: HTTP {error.code} {message}"
                                      + (f" (after {attempt} retries)" if attempt else "")
                                      ) from None
            except urllib.error.URLError as error:
                raise GitHubError(f"GitHub {method} {path}: {error.reason}") from None
            waited += wait
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def paged(self, path: str) -> list[Any]:
        items: list[Any] = []
        separator = "&" if "?" in path else "?"
        for page in range(1, 100):
            batch = self.request("GET", f"{path}{separator}per_page=100&page={page}")
            items.extend(batch)
            if len(batch) < 100:
                break
        return items

    # -- the plan comment ---------------------------------------------------------------

    def _bot_comments(self, number: int, marker: str) -> list[dict[str, Any]]:
        """The comments on PR `number` that iamstate's bot wrote and that start with
        `marker`, oldest first. Anyone can write a comment with the marker; only the bot's
        count, and what they say is checked against a fresh plan before anything applies."""
        return [c for c in self.paged(f"/repos/{self.repository}/issues/{number}/comments")
                if self._by_bot(c) and (c.get("body") or "").startswith(marker)]

    def _by_bot(self, item: Mapping[str, Any]) -> bool:
        return bool((item.get("user") or {}).get("login") == self.bot)

    def upsert_plan_comment(self, number: int, body: str) -> str:
        """Create or update the one plan comment on PR `number`: "created" or "updated"."""
        existing = self._bot_comments(number, SUMMARY_MARKER)
        if existing:
            self.request("PATCH", f"/repos/{self.repository}/issues/comments/"
                                  f"{existing[-1]['id']}", {"body": body})
            return "updated"
        self.request("POST", f"/repos/{self.repository}/issues/{number}/comments",
                     {"body": body})
        return "created"

    def add_comment(self, number: int, body: str) -> None:
        self.request("POST", f"/repos/{self.repository}/issues/{number}/comments",
                     {"body": body})

    def _pull(self, number: int) -> dict[str, Any]:
        pull: dict[str, Any] = self.request("GET", f"/repos/{self.repository}/pulls/{number}")
        return pull

    def merged_pull_request(self, commit: str) -> tuple[int, datetime]:
        """The pull request that `commit` merged, and when (refused when there is none or
        several: nothing reviewed, or nothing clear, is applied). GitHub lists every PR
        that holds a commit, open ones too: only the PR whose merge commit it is counts."""
        pulls = self.request("GET", f"/repos/{self.repository}/commits/{commit}/pulls")
        numbers = sorted({int(p["number"]) for p in pulls or ()})
        merged = [(n, pull) for n in numbers
                  if (pull := self._pull(n)).get("merged") and
                  pull.get("merge_commit_sha") == commit]
        if not merged:
            raise GitHubError(f"commit {commit} belongs to no pull request merged as that "
                              "commit: nothing was reviewed, so nothing is applied")
        if len(merged) > 1:
            raise GitHubError(f"commit {commit} belongs to several pull requests "
                              f"{[n for n, _ in merged]}: nothing is applied")
        number, pull = merged[0]
        return number, _when(pull["merged_at"])

    def merged_into(self, number: int, head: str) -> tuple[int, datetime]:
        """PR `number`, if it is merged and its merge commit is on the branch being applied
        (`head`, GITHUB_SHA): only then can a follow-up posted on it be applied."""
        pull = self._pull(number)
        if not pull.get("merged") or not pull.get("merge_commit_sha"):
            raise GitHubError(f"pull request #{number} is not merged: only the follow-up on "
                              "a merged pull request whose apply was refused can be applied")
        if not head:
            raise GitHubError("GITHUB_SHA is not set: cannot tell which branch is applied")
        sha = pull["merge_commit_sha"]
        try:
            compared = self.request("GET", f"/repos/{self.repository}/compare/{sha}...{head}")
        except GitHubError:
            compared = None
        if not compared or compared.get("status") not in ("ahead", "identical"):
            raise GitHubError(f"pull request #{number} was merged as {sha}, which is not on "
                              f"the branch being applied ({head}): nothing is applied")
        return number, _when(pull["merged_at"])

    def last_successful_run(self, workflow: str, branch: str) -> str | None:
        """The commit of the newest run of `workflow` on `branch`, started by a push, that
        succeeded (GitHub's record: nothing iamstate writes, nothing a PR can forge)."""
        runs = self.request("GET", f"/repos/{self.repository}/actions/workflows/{workflow}"
                                   f"/runs?branch={branch}&event=push&status=success"
                                   "&per_page=1")
        found = (runs or {}).get("workflow_runs") or []
        return str(found[0]["head_sha"]) if found else None

    def merged_pulls_between(self, base: str, head: str) -> list[tuple[int, datetime]]:
        """The PRs merged as the commits after `base` up to `head` (excluded), oldest
        first (GitHub's comparison lists at most 250 commits: enough between two applies)."""
        compared = self.request("GET", f"/repos/{self.repository}/compare/{base}...{head}")
        if (compared or {}).get("status") not in ("ahead", "identical"):
            raise GitHubError(f"{head} does not follow {base}: cannot tell which merges "
                              "were not applied yet; nothing is applied")
        found = []
        for commit in compared.get("commits") or ():
            if commit["sha"] == head:
                continue
            try:
                found.append(self.merged_pull_request(str(commit["sha"])))
            except GitHubError:
                continue  # a commit of a PR's branch, or pushed without a PR
        return found

    def reviewed_comments(self, number: int, merged_at: datetime | None = None,
                          follow_up: bool = False) -> list[str]:
        """The bodies of the plan comments reviewed on PR `number`, oldest first: the plan
        comment as it was when the PR merged (one changed after the merge was not what was
        reviewed), or (`follow_up`) the follow-ups posted after the merge, never edited."""
        marker = FOLLOWUP_MARKER if follow_up else SUMMARY_MARKER
        found = [c for c in self._bot_comments(number, marker) if merged_at is None or (
            _when(c["created_at"]) > merged_at and c["updated_at"] == c["created_at"]
            if follow_up else _when(c["updated_at"]) <= merged_at)]
        if not found:
            what = ("follow-up plan comment posted after its merge" if follow_up else
                    "iamstate plan comment from before its merge")
            raise GitHubError(f"pull request #{number} has no {what} by {self.bot}: its plan "
                              "was never reviewed, so nothing is applied")
        return [str(c["body"]) for c in found]

    # -- the drift issue -----------------------------------------------------------------

    def upsert_drift_issue(self, account: str, title: str, body: str) -> str:
        """One open issue per drifted account, updated while the drift lasts. Only an issue
        the bot opened is ever updated: a person's issue holding the marker is left alone
        (its author could edit or close it and hide the drift)."""
        marker = DRIFT_MARKER.format(account=account)
        text = f"{marker}\n{body}"
        for issue in self.paged(f"/repos/{self.repository}/issues?state=open"):
            if self._by_bot(issue) and "pull_request" not in issue and \
                    (issue.get("body") or "").startswith(marker):
                self.request("PATCH", f"/repos/{self.repository}/issues/{issue['number']}",
                             {"body": text, "title": title})
                return f"updated #{issue['number']}"
        created = self.request("POST", f"/repos/{self.repository}/issues",
                               {"title": title, "body": text})
        return f"created #{created['number']}"


def _when(stamp: str) -> datetime:
    """GitHub's ISO 8601 times (`2026-12-01T09:00:00Z`)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
