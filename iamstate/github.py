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
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from iamstate.errors import GitHubError
from iamstate.render import FOLLOWUP_MARKER, SUMMARY_MARKER

BOT = "github-actions[bot]"  # who writes comments with the workflow's GITHUB_TOKEN
DRIFT_MARKER = "<!-- iamstate-drift account={account} -->"



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
        url = path if path.startswith("http") else f"{self.api}{path}"
        data = json.dumps(body).encode() if body is not None else None
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
            raise GitHubError(f"GitHub {method} {path}: HTTP {error.code} "
                              f"{error.read().decode()[:300]}") from None
        except urllib.error.URLError as error:
            raise GitHubError(f"GitHub {method} {path}: {error.reason}") from None

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
                if (c.get("user") or {}).get("login") == self.bot
                and (c.get("body") or "").startswith(marker)]

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

    def merged_pull_request(self, commit: str) -> int:
        """The pull request that `commit` merged (refused when there is none or several:
        nothing reviewed, or nothing clear, is applied)."""
        pulls = self.request("GET", f"/repos/{self.repository}/commits/{commit}/pulls")
        if not pulls:
            raise GitHubError(f"commit {commit} belongs to no pull request: nothing was "
                              "reviewed, so nothing is applied")
        numbers = sorted({int(p["number"]) for p in pulls})
        if len(numbers) > 1:
            raise GitHubError(f"commit {commit} belongs to several pull requests {numbers}: "
                              "nothing is applied")
        return numbers[0]

    def reviewed_comments(self, number: int, follow_up: bool = False) -> list[str]:
        """The bodies of the plan comments reviewed on PR `number`, oldest first: the plan
        comment, or (`follow_up`) the follow-ups posted when a merge could not apply."""
        marker = FOLLOWUP_MARKER if follow_up else SUMMARY_MARKER
        found = self._bot_comments(number, marker)
        if not found:
            what = "follow-up plan comment" if follow_up else "iamstate plan comment"
            raise GitHubError(f"pull request #{number} has no {what} by {self.bot}: its plan "
                              "was never reviewed, so nothing is applied")
        return [str(c["body"]) for c in found]

    # -- the drift issue -----------------------------------------------------------------

    def upsert_drift_issue(self, account: str, title: str, body: str) -> str:
        """One open issue per drifted account, updated while the drift lasts."""
        marker = DRIFT_MARKER.format(account=account)
        text = f"{marker}\n{body}"
        for issue in self.paged(f"/repos/{self.repository}/issues?state=open"):
            if marker in (issue.get("body") or ""):
                self.request("PATCH", f"/repos/{self.repository}/issues/{issue['number']}",
                             {"body": text, "title": title})
                return f"updated #{issue['number']}"
        created = self.request("POST", f"/repos/{self.repository}/issues",
                               {"title": title, "body": text})
        return f"created #{created['number']}"
