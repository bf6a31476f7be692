"""The few GitHub REST calls the workflows need, so the workflows only call iamstate.

- a sticky plan comment per account on the pull request, found again by a hidden marker
  and updated in place (never a new comment per push);
- on merge, the reviewed plan's digest, read back from that comment;
- a drift issue, opened once and updated while drift lasts.

Standard library only (urllib): the token is the workflow's GITHUB_TOKEN.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from iamstate.errors import GitHubError

MARKER = "<!-- iamstate-plan account={account} digest={digest} -->"
MARKER_RE = re.compile(r"<!-- iamstate-plan account=(?P<account>\S+) digest=(?P<digest>\S+) -->")
DRIFT_MARKER = "<!-- iamstate-drift account={account} -->"



@dataclass
class GitHub:
    repository: str  # owner/name
    token: str
    api: str = "https://api.github.com"

    @classmethod
    def from_environment(cls) -> GitHub:
        try:
            return cls(os.environ["GITHUB_REPOSITORY"], os.environ["GITHUB_TOKEN"],
                       os.environ.get("GITHUB_API_URL", "https://api.github.com"))
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

    # -- the sticky plan comment --------------------------------------------------------

    def plan_comment(self, number: int, account: str) -> tuple[int, str] | None:
        """(comment id, reviewed digest) of `account`'s plan comment on PR `number`."""
        for comment in self.paged(f"/repos/{self.repository}/issues/{number}/comments"):
            found = MARKER_RE.search(comment.get("body") or "")
            if found and found["account"] == account:
                return comment["id"], found["digest"]
        return None

    def upsert_plan_comment(self, number: int, account: str, digest: str, body: str) -> str:
        """Create or update the one comment for `account` on PR `number`. Returns
        "created" or "updated"."""
        text = f"{MARKER.format(account=account, digest=digest)}\n{body}"
        existing = self.plan_comment(number, account)
        if existing is not None:
            self.request("PATCH", f"/repos/{self.repository}/issues/comments/{existing[0]}",
                         {"body": text})
            return "updated"
        self.request("POST", f"/repos/{self.repository}/issues/{number}/comments",
                     {"body": text})
        return "created"

    def reviewed_digest(self, commit: str, account: str) -> str:
        """The plan digest reviewed on the pull request that `commit` merged."""
        pulls = self.request("GET", f"/repos/{self.repository}/commits/{commit}/pulls")
        if not pulls:
            raise GitHubError(f"commit {commit} belongs to no pull request: nothing was "
                              "reviewed, so nothing is applied")
        number = pulls[0]["number"]
        existing = self.plan_comment(number, account)
        if existing is not None:
            return existing[1]
        raise GitHubError(f"pull request #{number} has no iamstate plan comment for "
                          f"account {account}: its plan was never reviewed")

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
