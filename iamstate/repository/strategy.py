"""The seed strategy (NCC Group's IAM user management), in one place: every user in the
common groups and in exactly one category group, inferred from naming conventions or
declared; permissions from groups only (user policies are banned and removed); humans and
headless users told apart by their category's kind.

The loader, the planner, audit and import all ask this module; none of them knows the
rules by itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from iamstate.errors import shown, shown_list

# Permissions come from groups only: a user policy hides privileges (removing a user from
# the admin group must be enough). The loader refuses them, the planner removes live ones.
USER_POLICIES_BANNED = True
USER_POLICY_KEYS = frozenset({"inline_policies", "managed_policies", "policies", "policy"})
USER_POLICY_MESSAGE = (
    "user policies are banned (they hide privileges): put the policy on a group and add "
    "the user to that group"
)
# Naming conventions of the seed articles, proposed by `import` as categories.
KNOWN_PATTERNS = {"^HeadlessUser-": "AllHeadlessUsers",
                  "^MisconfiguredUser-": "AllMisconfiguredUsers"}
PROPOSED_COMMON_GROUP = "AllUsers"
PROPOSED_HUMAN_CATEGORY = "AllHumans"


@dataclass(frozen=True)
class Category:
    group: str
    match: str | None = None
    kind: str = ""  # human | headless | other; "" = human without match, else headless

    @property
    def resolved_kind(self) -> str:
        return self.kind or ("headless" if self.match else "human")

    @property
    def is_human(self) -> bool:
        return self.resolved_kind == "human"

    @property
    def is_headless(self) -> bool:
        return self.resolved_kind == "headless"


@dataclass(frozen=True)
class Standing:
    """Where a live user stands against the strategy (for audit)."""

    missing_common: tuple[str, ...]
    categories: tuple[str, ...]
    human: bool
    headless: bool


@dataclass(frozen=True)
class Strategy:
    common_groups: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()

    def implicit_groups(self) -> tuple[str, ...]:
        """Groups that exist even if `groups:` does not declare them."""
        return (*self.common_groups, *(c.group for c in self.categories))

    def category_groups(self) -> frozenset[str]:
        return frozenset(c.group for c in self.categories)

    def conflicts(self) -> list[str]:
        """Groups both common and a category: every user would get that category's rules
        (headless users denied without MFA, say)."""
        return sorted(set(self.common_groups) & self.category_groups())

    def infer_category(self, user: str, explicit: str | None) -> tuple[str | None, str | None]:
        """The user's category group, or an error sentence saying what to write instead."""
        return infer_category(user, explicit, self.categories)

    def groups_of(self, category: str | None, declared: Iterable[str]) -> frozenset[str]:
        """Every group a managed user is in: those declared, the common ones, its category."""
        return frozenset({*declared, *self.common_groups, *([category] if category else [])})

    def misplaced_category(self, group: str, category: str | None) -> bool:
        """A category group named under `groups:` that is not the user's own category."""
        return group in self.category_groups() and group != category

    def standing(self, groups: frozenset[str]) -> Standing:
        by_group = {c.group: c for c in self.categories}
        inside = tuple(sorted(groups & set(by_group)))
        return Standing(tuple(sorted(set(self.common_groups) - groups)), inside,
                        any(by_group[c].is_human for c in inside),
                        any(by_group[c].is_headless for c in inside))

    @staticmethod
    def proposals(users: Iterable[str]) -> Mapping[str, list[str]]:
        """For `import`: category group -> the live users a known naming pattern puts in it."""
        names = list(users)
        return {group: [u for u in names if re.search(pattern, u)]
                for pattern, group in KNOWN_PATTERNS.items()}


def infer_category(
    user: str, explicit: str | None, categories: Sequence[Category]
) -> tuple[str | None, str | None]:
    """The user's category group, or an error sentence saying what to write instead."""
    if not categories:
        if explicit is not None:
            return None, (
                f"category {shown(explicit)} is set but account.yaml declares no categories: "
                "declare it under categories: or remove it"
            )
        return None, None
    by_name = {c.group: c for c in categories}
    matching = [c.group for c in categories if c.match and re.search(c.match, user)]
    if len(matching) > 1:
        return None, (
            f"user {shown(user)} matches the patterns of several categories, "
            f"{shown_list(matching)}: rename the user or narrow the patterns"
        )
    if explicit is not None:
        if explicit not in by_name:
            return None, (
                f"category {shown(explicit)} is not one of {shown_list(sorted(by_name), 'or')}: "
                "use one of those or declare it in account.yaml"
            )
        if matching and matching[0] != explicit:
            return None, (
                f"user {shown(user)} matches the pattern of category {shown(matching[0])} but "
                f"says category: {explicit}: remove the category line or rename the user"
            )
        return explicit, None
    if matching:
        return matching[0], None
    return None, (
        f"user {shown(user)} matches no category pattern: add category: with one of "
        f"{shown_list(sorted(by_name), 'or')}"
    )
