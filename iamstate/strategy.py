"""The seed strategy: every user in the common groups and in exactly one category group."""

from __future__ import annotations

import re
from collections.abc import Sequence

from iamstate.model import Category

USER_POLICY_KEYS = frozenset({"inline_policies", "managed_policies", "policies", "policy"})
USER_POLICY_MESSAGE = (
    "user policies are banned (they hide privileges): put the policy on a group and add "
    "the user to that group"
)


def infer_category(
    user: str, explicit: str | None, categories: Sequence[Category]
) -> tuple[str | None, str | None]:
    """The user's category group, or an error sentence saying what to write instead."""
    if not categories:
        if explicit is not None:
            return None, (
                f"category {explicit!r} is set but account.yaml declares no categories: "
                "declare it under categories: or remove it"
            )
        return None, None
    by_name = {c.group: c for c in categories}
    matching = [c.group for c in categories if c.match and re.search(c.match, user)]
    if len(matching) > 1:
        return None, (
            f"user {user!r} matches the patterns of several categories {matching}: "
            "rename the user or narrow the patterns"
        )
    if explicit is not None:
        if explicit not in by_name:
            return None, (
                f"category {explicit!r} is not one of {sorted(by_name)}: use one of those or "
                "declare it in account.yaml"
            )
        if matching and matching[0] != explicit:
            return None, (
                f"user {user!r} matches the pattern of category {matching[0]!r} but says "
                f"category: {explicit}: remove the category line or rename the user"
            )
        return explicit, None
    if matching:
        return matching[0], None
    return None, (
        f"user {user!r} matches no category pattern: add category: with one of "
        f"{sorted(by_name)}"
    )
