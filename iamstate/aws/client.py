"""IAM calls with the retries no botocore retry mode makes.

botocore's adaptive mode (see aws.py) retries throttling and 5xx. What it does not retry,
and IAM answers for a while after a change: ConcurrentModification,
EntityTemporarilyUnmodifiable, and NoSuchEntity for something this run just created (IAM is
eventually consistent). Every call also checks the action against what the calling kind
declared, so a kind cannot quietly call an API the bootstrap role does not grant.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iamstate.aws.answers import error_code

TRANSIENT = frozenset({"ConcurrentModification", "EntityTemporarilyUnmodifiable"})


@dataclass
class RetryPolicy:
    """How long to keep retrying what IAM's eventual consistency makes fail for a while."""

    seconds: float = 120.0  # Terraform's provider waits up to 2 minutes, for the same reason
    first_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep


def iam_action(operation: str) -> str:
    """`create_login_profile` -> `iam:CreateLoginProfile` (what an IAM policy grants)."""
    words = operation.split("_")
    name = "".join(w.upper() if w in ("mfa", "ssh") else w.capitalize() for w in words)
    name = name.replace("Ssh", "SSH").replace("Mfa", "MFA")
    return f"iam:{name}"


class UndeclaredAction(Exception):
    """A kind called an IAM action it does not declare: a bug, never a user error."""


class Iam:
    """One account's IAM client for an apply: retries, `gone` deletes, created names.
    `scoped(actions)` gives a view that may call only those actions."""

    def __init__(self, client: Any, retry: RetryPolicy | None = None,
                 allowed: frozenset[str] | None = None, shared: Iam | None = None) -> None:
        self.client = client
        self.retry = retry or RetryPolicy()
        self.allowed = allowed
        base = shared or self
        self.created: set[str] = base.created if shared else set()
        self.lock: threading.Lock = base.lock if shared else threading.Lock()
        self.notes: list[str] = base.notes if shared else []

    def scoped(self, actions: frozenset[str]) -> Iam:
        return Iam(self.client, self.retry, actions, shared=self)

    def call(self, operation: str, fresh: Iterable[str] = (), **params: Any) -> Any:
        """Call IAM, retrying transient conflicts, and NoSuchEntity on just-created names."""
        if self.allowed is not None and iam_action(operation) not in self.allowed:
            raise UndeclaredAction(f"{iam_action(operation)} is not declared by this kind")
        method = getattr(self.client, operation)
        deadline = time.monotonic() + self.retry.seconds
        delay = self.retry.first_delay
        with self.lock:
            lagging = bool(set(fresh) & self.created)
        while True:
            try:
                return method(**params)
            except ClientError as error:
                code = error_code(error)
                retry = code in TRANSIENT or (code == "NoSuchEntity" and lagging)
                if not retry or time.monotonic() + delay > deadline:
                    raise
            self.retry.sleep(delay)
            delay = min(delay * 2, self.retry.max_delay)

    def gone(self, operation: str, **params: Any) -> None:
        """A delete for which NoSuchEntity means the work is already done."""
        try:
            self.call(operation, **params)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":
                raise
            self.note(f"{operation} {_brief(params)}: already gone")

    def created_now(self, name: str) -> None:
        with self.lock:
            self.created.add(name)

    def note(self, text: str) -> None:
        with self.lock:
            self.notes.append(text)


def _brief(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items() if not re.search("Document", k))
