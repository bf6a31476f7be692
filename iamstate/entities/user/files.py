"""Users in the repository: a declaration -> `User` (every error at file:line), and a live
`User` -> its YAML (`iamstate import`)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from typing import Any

from iamstate.entities.base import Exporting, Loading
from iamstate.entities.group.model import Group
from iamstate.entities.io import Flow
from iamstate.entities.user.model import User
from iamstate.errors import shown
from iamstate.model.quotas import MAX_GROUPS_PER_USER
from iamstate.plan.secrets import check_public_key
from iamstate.repository.declared import Declared, tag_character_problem
from iamstate.repository.expiry import parse_date


def load_users(ctx: Loading) -> Mapping[str, User]:
    # Groups declared but broken still count as known: no second, misleading error.
    known_groups = set(ctx.loaded(Group)) | set(ctx.declared(Group))
    return {name: user for name, entry in ctx.declared(User).items()
            if entry is not None and (user := load_user(ctx, entry, known_groups)) is not None}


def load_user(ctx: Loading, entry: Declared, known_groups: set[str]) -> User | None:
    data = entry.data
    file = entry.location.file
    ok = True

    def fail(line: int, message: str) -> None:
        nonlocal ok
        ok = False
        ctx.problems.add(file, line, f"user {entry.name}: {message}")

    strategy = ctx.config.strategy
    category, error = strategy.infer_category(entry.name, data.get("category"))
    if error:
        fail(entry.line("category") if "category" in data else entry.location.line, error)
    names, expiring = _memberships(entry, fail)
    expires = _expires(entry, fail)
    for index, group in enumerate(names):
        if group in {e[0] for e in expiring} and group in strategy.implicit_groups():
            fail(entry.line("groups", index), (
                f"group {shown(group)} is a common or category group, part of every such user: "
                "its membership cannot expire; put expires: on the user instead"))
        if group not in known_groups:
            close = difflib.get_close_matches(group, sorted(known_groups), n=1)
            hint = f"did you mean {shown(close[0])}? " if close else ""
            fail(entry.line("groups", index), (
                f"group {shown(group)} is not declared: {hint}declare it under groups:"))
        elif strategy.misplaced_category(group, category):
            fail(entry.line("groups", index), (
                f"group {shown(group)} is a category group; a user is in exactly one category: "
                "use category: instead"))
    groups = strategy.groups_of(category, names)
    if len(groups) > MAX_GROUPS_PER_USER:
        fail(entry.line("groups") if "groups" in data else entry.location.line, (
            f"would be in {len(groups)} groups (common and category groups included), "
            f"over IAM's limit of {MAX_GROUPS_PER_USER}: merge groups"))
    public_key = data.get("public_key")
    console = bool(data.get("console_access", False))
    key_problem = check_public_key(public_key) if public_key is not None else None
    if key_problem is not None:
        fail(entry.line("public_key"), (
            "public_key is not an age (age1...), ssh-ed25519 or ssh-rsa public key "
            f"({key_problem})"))
    if console and public_key is None:
        # Fine while the login profile exists (e.g. after `iamstate import`); planning a
        # new one without a key is an error (plan.py), before anything changes.
        ctx.warnings.add(file, entry.line("console_access"), (
            f"user {entry.name}: console_access without public_key: iamstate keeps an "
            "existing login profile but cannot create one"))
    tags = data.get("tags") or {}
    folded = [k.lower() for k in tags]
    if len(set(folded)) != len(folded):
        fail(entry.line("tags"), "tag keys differ only by case; IAM treats them as one")
    for key, value in tags.items():
        for what, text in (("key", str(key)), ("value", str(value))):
            bad = tag_character_problem(text)
            if bad:
                fail(entry.line("tags", key), f"tag {what} {shown(text)}: {bad}")
    if not ok:
        return None
    return User(entry.name, data.get("path", "/"), groups,
                tuple(sorted((str(k), str(v)) for k, v in tags.items())),
                console_access=console, public_key=public_key, source=entry.location,
                expires=expires, expiring=expiring)


def _expires(entry: Declared, fail: Callable[[int, str], None]) -> str | None:
    """The user's `expires:` as YYYY-MM-DD, or None (a bad value is an error)."""
    if "expires" not in entry.data:
        return None
    day = parse_date(entry.data["expires"])
    if day is None:
        fail(entry.line("expires"), f"expires: {shown(str(entry.data['expires']))} is "
             "not a date: write YYYY-MM-DD (e.g. expires: 2027-01-31)")
        return None
    return day.isoformat()


def _memberships(entry: Declared, fail: Callable[[int, str], None]
                 ) -> tuple[list[str], tuple[tuple[str, str, int], ...]]:
    """Group names in `groups:` (plain, or {group, expires}), and the ones that end."""
    names: list[str] = []
    expiring: list[tuple[str, str, int]] = []
    for index, item in enumerate(entry.data.get("groups") or ()):
        name = item.get("group") if isinstance(item, dict) else item
        if not isinstance(name, str):
            continue  # the schema has said what is wrong
        if name in names:  # twice as plain names: the schema says so already
            if isinstance(item, dict) or name in {e[0] for e in expiring}:
                fail(entry.line("groups", index), f"group {shown(name)} is listed twice: "
                     "keep one (with expires: if the membership ends)")
            continue
        names.append(name)
        if isinstance(item, dict):
            day = parse_date(item.get("expires"))
            if day is None:
                fail(entry.line("groups", index, "expires"), (
                    f"expires: {shown(str(item.get('expires')))} is not a date: write "
                    f"YYYY-MM-DD (e.g. {{group: {name}, expires: 2026-12-20}})"))
            else:
                expiring.append((name, day.isoformat(), entry.line("groups", index)))
    return names, tuple(expiring)


def user_yaml(user: User, ctx: Exporting) -> dict[str, Any]:
    """A live user as `iamstate import` writes it; what breaks the strategy is said."""
    spec: dict[str, Any] = {}
    if user.path != "/":
        spec["path"] = user.path
    if user.groups:
        spec["groups"] = Flow(sorted(user.groups))
    if user.tags:
        spec["tags"] = dict(user.tags)
    if user.console_access:
        spec["console_access"] = True  # kept as is; add public_key to reset it
    own = [n for n, _ in user.inline_policies] + sorted(user.attached_policies)
    if own:
        ctx.breaches.append(f"user {user.name} has user policies {own}: the strategy bans "
                            "them, so the next plan removes them; grant them through a group "
                            "first")
    if not user.groups:
        ctx.breaches.append(f"user {user.name} is in no group")
    return spec
