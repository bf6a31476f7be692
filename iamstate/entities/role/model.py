"""A role as the analysis reads it (iamstate never plans one)."""

from __future__ import annotations

from dataclasses import dataclass

from iamstate.repository.policy import PolicyDocument


@dataclass(frozen=True)
class Role:
    """A live role, read for analysis only (iamstate never changes one): who may assume it
    (`trust`) and what it may do, so that assuming or passing it carries its power."""

    name: str
    path: str = "/"
    trust: PolicyDocument | None = None
    inline_policies: tuple[tuple[str, PolicyDocument], ...] = ()
    attached_policies: frozenset[str] = frozenset()
