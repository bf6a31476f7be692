"""Access that ends by itself: `expires: YYYY-MM-DD` on a user or on a group membership.

The repository keeps the entry until someone (or the scheduled flow, `iamstate expire
--write`) deletes its line; from its day on, the plan treats it as absent and says why. The
day comes from `today()`: IAMSTATE_TODAY when set (tests, and a reviewer checking what a
date will do), otherwise the UTC date — never slept on, never guessed.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from iamstate.entities.user.model import Membership, User
from iamstate.errors import IamStateError, shown
from iamstate.model.changes import Change, Delete
from iamstate.model.location import Location
from iamstate.model.state import State

TODAY_VARIABLE = "IAMSTATE_TODAY"
SOON_DAYS = 7  # `audit` lists what expires within this many days
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class BadToday(IamStateError):
    """IAMSTATE_TODAY is set to something that is not a date."""


@dataclass(frozen=True)
class Expiry:
    """One entry that ends: a user (group None) or a user's membership of `group`."""

    user: str
    group: str | None
    date: datetime.date
    source: Location | None = None

    def describe(self, ended: bool = True) -> str:
        what = f"user {self.user}" if self.group is None else \
            f"group membership {self.user} {self.group}"
        return f"{what} ({'expired' if ended else 'expires'} {self.date.isoformat()})"


def today() -> datetime.date:
    """The day expiry is judged on: IAMSTATE_TODAY (YYYY-MM-DD) or today's UTC date."""
    text = os.environ.get(TODAY_VARIABLE)
    if not text:
        return datetime.datetime.now(datetime.UTC).date()
    parsed = parse_date(text)
    if parsed is None:
        raise BadToday(f"{TODAY_VARIABLE}={shown(text[:20])} is not a date: write YYYY-MM-DD")
    return parsed


def parse_date(value: object) -> datetime.date | None:
    """A YAML date (unquoted 2026-12-20) or the same written as text; None for anything
    else (a timestamp with a time, 2026-02-30, "next week", a number)."""
    if isinstance(value, datetime.datetime):
        return None  # a time of day says more than the rule can honour: refuse, be clear
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and ISO_DATE.fullmatch(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def expiries(state: State) -> list[Expiry]:
    """Every entry of the desired state that has an end date, by date then user."""
    found = []
    for user in state.users.values():
        if user.expires:
            found.append(Expiry(user.name, None, datetime.date.fromisoformat(user.expires),
                                user.source))
        found += [Expiry(user.name, group, datetime.date.fromisoformat(day),
                         Location(user.source.file, line) if user.source else None)
                  for group, day, line in user.expiring]
    return sorted(found, key=lambda e: (e.date, e.user, e.group or ""))


def expired(state: State, day: datetime.date) -> list[Expiry]:
    """What has ended by `day` (the day itself included: `expires` is the first day
    without the access)."""
    return [e for e in expiries(state) if e.date <= day]


def expiring_soon(state: State, day: datetime.date, days: int = SOON_DAYS) -> list[Expiry]:
    """What is still in force on `day` and ends within `days` days."""
    return [e for e in expiries(state) if day < e.date <= day + datetime.timedelta(days=days)]


def as_of(state: State, day: datetime.date) -> tuple[State, list[Expiry]]:
    """The desired state as of `day`, and what has ended (for the plan to say why)."""
    return in_force(state, day), expired(state, day)


def in_force(state: State, day: datetime.date) -> State:
    """The desired state as of `day`: expired users and memberships left out."""
    ended = expired(state, day)
    if not ended:
        return state
    gone_users = {e.user for e in ended if e.group is None}
    gone_links: dict[str, set[str]] = {}
    for e in ended:
        if e.group is not None:
            gone_links.setdefault(e.user, set()).add(e.group)
    users = {}
    for name, user in state.users.items():
        if name in gone_users:
            continue
        drop = gone_links.get(name, set())
        users[name] = dataclasses.replace(user, groups=user.groups - drop) if drop else user
    return dataclasses.replace(state, users=users)


def mark_reasons(changes: Sequence[Change], ended: Sequence[Expiry]) -> list[Change]:
    """Each removal that an expiry causes carries its date, so the plan says why."""
    users = {e.user: e.date.isoformat() for e in ended if e.group is None}
    links = {(e.user, e.group): e.date.isoformat() for e in ended if e.group is not None}
    marked: list[Change] = []
    for change in changes:
        if isinstance(change, Delete):
            before = change.before
            if isinstance(before, User) and before.name in users:
                change = Delete(dataclasses.replace(before, expires=users[before.name]))
            elif isinstance(before, Membership):
                day = links.get((before.user, before.group)) or users.get(before.user)
                if day is not None:
                    change = Delete(dataclasses.replace(before, expired=day))
        marked.append(change)
    return marked
