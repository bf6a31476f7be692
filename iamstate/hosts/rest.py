"""One JSON REST client for the CI hosts' APIs (GitHub's, GitLab's v4): retries that never
hang a job, and pages. Standard library only (urllib): CI installs nothing more for it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from iamstate.errors import HostError

RETRIES = 5  # per call, for 5xx and rate limits
MAX_WAIT = 120.0  # seconds of waiting per call, in all: a job never hangs on its host
PAGE = 100  # items per page (the most both hosts give)
MAX_PAGES = 100  # pages of one listing: beyond that it is refused, never cut short


def retry_after(status: int, headers: Mapping[str, str], message: str, attempt: int
                ) -> float | None:
    """Seconds to wait before trying a failed call again, or None: not worth retrying.
    `headers` with lower-case names. GitHub says X-RateLimit-*, GitLab RateLimit-*; both
    may say Retry-After."""
    remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
    limited = status == 429 or (status == 403 and (
        remaining == "0" or "rate limit" in message.lower()
        or headers.get("retry-after") is not None))
    if not limited and status < 500:
        return None
    if headers.get("retry-after", "").strip().isdigit():
        return float(headers["retry-after"])
    reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset", ""))
    if limited and remaining == "0" and reset.isdigit():
        return max(0.0, int(reset) - time.time()) + 1
    # no hint: back off (GitHub asks at least a minute for secondary limits)
    return 60.0 if limited else min(2.0 ** attempt, 30.0)


@dataclass
class Rest:
    """Calls to one host's API: `api` its base URL, `headers` the authentication and media
    type it wants, `error` the error type a refusal becomes (its message names `host`)."""

    api: str
    headers: Mapping[str, str]
    host: str
    error: type[HostError] = HostError
    sleep: Any = field(default=time.sleep, repr=False)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call. 5xx answers and rate limits (429, or 403 with no requests left or
        saying so, or with Retry-After) are retried, waiting what the host asks
        (Retry-After, the reset time) or backing off, at most RETRIES times and MAX_WAIT
        seconds in all; then the job fails, saying why."""
        url = path if path.startswith("http") else f"{self.api}{path}"
        data = json.dumps(body).encode() if body is not None else None
        waited = 0.0
        for attempt in range(RETRIES + 1):
            request = urllib.request.Request(url, data=data, method=method, headers={
                **self.headers, "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    text = response.read().decode()
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as failed:
                message = failed.read().decode()[:300]
                wait = retry_after(failed.code, {k.lower(): v for k, v in
                                                 failed.headers.items()}, message, attempt)
                if wait is None or attempt == RETRIES or waited + wait > MAX_WAIT:
                    raise self.error(f"{self.host} {method} {path}: HTTP {failed.code} "
                                     f"{message}" + (f" (after {attempt} retries)"
                                                     if attempt else "")) from None
            except urllib.error.URLError as failed:
                raise self.error(f"{self.host} {method} {path}: {failed.reason}") from None
            waited += wait
            self.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def paged(self, path: str) -> list[Any]:
        """Every item of a listing, page after page (both hosts take page and per_page).
        A listing longer than MAX_PAGES pages is an error, never a silently shorter list
        (a note or an issue left out could be the one that counts)."""
        items: list[Any] = []
        separator = "&" if "?" in path else "?"
        for page in range(1, MAX_PAGES + 2):
            batch = self.request("GET", f"{path}{separator}per_page={PAGE}&page={page}") or []
            if page > MAX_PAGES and batch:
                break
            items.extend(batch)
            if len(batch) < PAGE:
                return items
        raise self.error(f"{self.host} GET {path}: more than {MAX_PAGES * PAGE:,} items "
                         f"({MAX_PAGES} pages of {PAGE}): refused rather than read in part")
