"""The account: who it is (account.yaml's config) and what it declares (its desired State)."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from iamstate.errors import Problem
from iamstate.model.arn import policy_arn
from iamstate.model.fields import NOT_IN_PLAN
from iamstate.model.frozen import FrozenDict
from iamstate.model.location import Location
from iamstate.repository.strategy import Category, Strategy

if TYPE_CHECKING:
    from iamstate.analysis.reach import Reach
    from iamstate.model.state import State


def ignored(name: str, globs: tuple[str, ...]) -> bool:
    return matching_glob(name, globs) is not None


def matching_glob(name: str, globs: tuple[str, ...]) -> str | None:
    """The first `ignore` glob matching `name`. IAM names are case-insensitive (`Alice` and
    `alice` cannot coexist), so the match is too: `break-glass-*` protects `Break-Glass-1`."""
    folded = name.casefold()
    return next((g for g in globs if fnmatch.fnmatchcase(folded, g.casefold())), None)


@dataclass(frozen=True)
class Ignore:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # IAM paths: users and groups under them, likewise
    # Globs of any other entity that takes them (its `Entity.ignore` key)
    more: Mapping[str, tuple[str, ...]] = field(default_factory=FrozenDict)

    def under_path(self, path: str) -> str | None:
        """The ignored IAM path `path` is under (`/emergency/` covers `/emergency/a/`)."""
        return next((p for p in self.paths if path.startswith(p)), None)

    def globs(self, key: str) -> tuple[str, ...]:
        """The globs under `ignore.KEY` ("users", "groups", "policies", ...)."""
        if key in ("users", "groups", "policies"):
            found: tuple[str, ...] = getattr(self, key)
            return found
        return self.more.get(key, ())


@dataclass(frozen=True)
class AcceptedRisk:
    """A finding the team accepts, reviewed in git: `accepted_risks` in account.yaml."""

    id: str
    principal: str
    reason: str
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)
    # What the reviewer accepted (as the plan printed it); None: an entry written before
    # reaches were recorded, accepting any reach (validate warns how to pin it).
    reach: tuple[Reach, ...] | None = None


@dataclass(frozen=True)
class AccountConfig:
    """account.yaml: who the account is and the rules iamstate applies in it."""

    name: str
    account_id: str
    directory: Path
    role_arn: str | None = None  # both roles in one (a warning says why that is risky)
    plan_role_arn: str | None = None  # read-only: plan, drift, audit, import
    apply_role_arn: str | None = None  # write: apply only
    partition: str = "aws"
    common_groups: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    max_deletions: int = 5
    ignore: Ignore = Ignore()
    # account.yaml `lint:`: rule setting -> error | warn | off (see lint.py)
    lint: Mapping[str, str] = field(default_factory=FrozenDict)
    accepted_risks: tuple[AcceptedRisk, ...] = ()

    @property
    def strategy(self) -> Strategy:
        return Strategy(self.common_groups, self.categories)

    def role_for(self, purpose: str) -> str | None:
        """The role to work in: `apply` -> the apply role, anything else -> the plan role
        (`role_arn` stands for both when the two are not declared)."""
        own = self.apply_role_arn if purpose == "apply" else self.plan_role_arn
        return own or self.role_arn

    def policy_arn(self, path: str, name: str) -> str:
        return policy_arn(self.partition, self.account_id, path, name)


@dataclass(frozen=True)
class Account:
    config: AccountConfig
    desired: State
    warnings: tuple[Problem, ...] = ()  # worth saying, but no reason to stop
