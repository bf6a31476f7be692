"""The seed strategy's findings on live state, ScoutSuite-style: rule, resource, fix.

Sources: the live model (GAAD) and the credential report. The report may be up to 4 hours
old on AWS; an audit is a periodic view, so that is acceptable (README, "Audit").
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from iamstate.analysis.consequences import analysis_context, state_findings
from iamstate.analysis.findings import (
    HIGH,
    LOW,
    MEDIUM,
    Catalogue,
    CheckedRule,
    Finding,
    cis,
)
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.entities.user.model import User
from iamstate.model.account import AccountConfig
from iamstate.model.state import State
from iamstate.repository.strategy import Standing
from iamstate.wording import count, listed

KEY_MAX_AGE_DAYS = 90
@dataclass(frozen=True)
class Audited:
    """What the live rules look at: an account's live state and its credential report."""

    config: AccountConfig
    live: State
    rows: Mapping[str, Mapping[str, str]]  # the credential report by user name
    desired_password_policy: PasswordPolicy | None
    now: datetime.datetime

    def users(self) -> Iterator[tuple[str, User, Standing, Mapping[str, str]]]:
        """Every live user: `user/NAME`, the user, their standing in the strategy, their
        credential report row (empty when the report predates them)."""
        return iter(self._users)

    @cached_property
    def _users(self) -> list[tuple[str, User, Standing, Mapping[str, str]]]:
        # worked out once for all the rules (each looks at every user)
        return [(f"user/{user.name}", user, self.config.strategy.standing(user.groups),
                 self.rows.get(user.name, {}))
                for user in sorted(self.live.users.values(), key=lambda u: u.name)]


RULES: Catalogue[Audited] = Catalogue()
AuditRule = CheckedRule[Audited]


@RULES.rule("IAM-001", MEDIUM, "user not in every common group")
def _common(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, standing, _ in ctx.users():
        if standing.missing_common:
            missing = list(standing.missing_common)
            said = f"not in common {'group' if len(missing) == 1 else 'groups'} {listed(missing)}"
            yield rule.found(name, said, "declare the user in the repository and apply")


@RULES.rule("IAM-002", LOW, "user not in exactly one category group")
def _one_category(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, standing, _ in ctx.users():
        if ctx.config.strategy.categories and len(standing.categories) != 1:
            yield rule.found(
                name, f"in {count(len(standing.categories), 'category group')}"
                + (f": {listed(list(standing.categories))}" if standing.categories else ""),
                "give the user one category (name pattern or category:) and apply")


@RULES.rule("IAM-003", MEDIUM, "user has policies of its own", cis("1.15", "2.13"))
def _own_policies(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, user, _, _ in ctx.users():
        own = [p for p, _ in user.inline_policies] + sorted(user.attached_policies)
        if own:
            said = f"user {'policy' if len(own) == 1 else 'policies'} {listed(own)}"
            yield rule.found(name, said,
                             "move the permissions to a group; apply removes them")


@RULES.rule("IAM-004", HIGH, "human without MFA", cis("1.10", "2.10"))
def _human_mfa(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, standing, row in ctx.users():
        if standing.human and row.get("mfa_active") != "true":
            yield rule.found(name, "human without an MFA device",
                             "the user enrols a virtual MFA device at first sign-in")


@RULES.rule("IAM-005", HIGH, "console password without MFA", cis("1.10", "2.10"))
def _password_mfa(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, standing, row in ctx.users():
        if (row.get("password_enabled") == "true" and row.get("mfa_active") != "true"
                and not standing.human):
            yield rule.found(name, "console password without MFA",
                             "enrol MFA or remove console_access")


@RULES.rule("IAM-006", MEDIUM, "access key older than 90 days", cis("1.14", "2.12"))
def _key_age(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, _, row in ctx.users():
        for n in _active_keys(row):
            rotated = _date(row.get(f"access_key_{n}_last_rotated"))
            if rotated and ctx.now - rotated > KEY_MAX_AGE:
                yield rule.found(name, f"access key {n} is {(ctx.now - rotated).days} days old",
                                 "rotate it: create a new key, switch, delete the old")


@RULES.rule("IAM-007", MEDIUM, "access key unused for 90 days", cis("1.12", "2.11"))
def _key_unused(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, _, row in ctx.users():
        for n in _active_keys(row):
            last = _date(row.get(f"access_key_{n}_last_used_date")) or _date(
                row.get(f"access_key_{n}_last_rotated"))
            if last and ctx.now - last > KEY_MAX_AGE:
                yield rule.found(name, f"access key {n} unused for {(ctx.now - last).days} days",
                                 "delete the key if nothing uses it")


@RULES.rule("IAM-008", MEDIUM, "more than one active access key", cis("1.13", "-"))
def _two_keys(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, _, row in ctx.users():
        active = len(_active_keys(row))
        if active > 1:
            yield rule.found(name, f"{active} active access keys",
                             "keep one active key; a second only while rotating")


@RULES.rule("IAM-009", MEDIUM, "headless user with a console password")
def _headless_password(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    for name, _, standing, row in ctx.users():
        if standing.headless and row.get("password_enabled") == "true":
            yield rule.found(name, "headless user with a console password",
                             "set console_access: false and apply")


@RULES.rule("IAM-010", LOW, "group with no members")
def _empty_group(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    members = {g for u in ctx.live.users.values() for g in u.groups}
    for group in sorted(set(ctx.live.groups) - members):
        yield rule.found(f"group/{group}", "group has no members",
                         "remove the group from the repository, or add members")


@RULES.rule("IAM-011", MEDIUM, "password policy weaker than declared")
def _weaker_password_policy(rule: AuditRule, ctx: Audited) -> Iterator[Finding]:
    weaker = _weaker(ctx.live.password_policy, ctx.desired_password_policy)
    if weaker:
        yield rule.found("account/password-policy", "weaker than declared: " + ", ".join(weaker),
                         "apply the repository's password_policy")


KEY_MAX_AGE = datetime.timedelta(days=KEY_MAX_AGE_DAYS)


def _active_keys(row: Mapping[str, str]) -> list[str]:
    return [n for n in ("1", "2") if row.get(f"access_key_{n}_active") == "true"]


def _date(value: str | None) -> datetime.datetime | None:
    if not value or value in ("N/A", "no_information", "not_supported"):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def audit_account(
    config: AccountConfig,
    live: State,
    report: Sequence[Mapping[str, str]],
    desired_password_policy: PasswordPolicy | None,
    now: datetime.datetime,
    documents: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Every finding, sorted by rule then resource. Pure: no AWS here. `documents`: the
    AWS managed (and ignored) policies' documents, for the escalation rules."""
    found = RULES.check(Audited(config, live, {row["user"]: row for row in report},
                                desired_password_policy, now))
    found += escalation_audit(config, live, documents or {})
    return sorted(found, key=lambda f: (f.rule, f.subject))


def escalation_audit(config: AccountConfig, live: State,
                     documents: Mapping[str, Any]) -> list[Finding]:
    """The plan's privilege-escalation rules on live state, per group and per user:
    every path to more privilege and every administrator-equivalent user (accepted ones
    say where account.yaml accepts them)."""
    accepted = {(r.id, r.principal): r for r in config.accepted_risks}
    found = state_findings(live.outside.around(live), analysis_context(config, live, documents))
    findings = []
    for (rule, principal), finding in sorted(found.items()):
        risk = accepted.get((rule, principal))
        fix = (f"accepted at {risk.source}: {risk.reason}" if risk else
               "remove what enables it, or accept it in account.yaml's accepted_risks")
        findings.append(replace(
            finding.finding(), message=f"{finding.severity}: {finding.detail}", fix=fix,
            accepted_at=str(risk.source or "account.yaml") if risk else ""))
    return findings


def _weaker(live: PasswordPolicy | None, desired: PasswordPolicy | None) -> list[str]:
    if desired is None:
        return []
    want = desired.as_dict()
    have = live.as_dict() if live else None
    if have is None:
        return ["no password policy is set"]
    weaker = []
    for key, value in want.items():
        current = have.get(key)
        if isinstance(value, bool):
            if value and not current:
                weaker.append(f"{key} is off")
        elif key in ("MaxPasswordAge",):
            if value and (not current or int(current) > int(value)):
                weaker.append(f"{key} is {current or 'unlimited'}, declared {value}")
        elif int(current or 0) < int(value):
            weaker.append(f"{key} is {current}, declared {value}")
    return weaker


@dataclass(frozen=True)
class Declared:
    """What the repository-side rules look at: the desired state on a day."""

    desired: State
    day: datetime.date


REPOSITORY_RULES: Catalogue[Declared] = Catalogue()


@REPOSITORY_RULES.rule("IAM-024", LOW, "access that expires within 7 days")
def _expiring(rule: CheckedRule[Declared], ctx: Declared) -> Iterator[Finding]:
    """Renew it in a pull request, or let it go."""
    from iamstate.repository.expiry import expiring_soon

    for e in expiring_soon(ctx.desired, ctx.day):
        yield rule.found(f"user/{e.user}", e.describe(ended=False) + f" at {e.source}",
                         "nothing to do if it should end; else change expires: in a pull "
                         "request").at(e.source)


def expiring_findings(desired: State, day: datetime.date) -> list[Finding]:
    """Access that ends within a week (IAM-024), at the line that ends it."""
    return REPOSITORY_RULES.check(Declared(desired, day))
