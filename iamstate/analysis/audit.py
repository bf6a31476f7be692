"""The seed strategy's findings on live state, ScoutSuite-style: rule, resource, fix.

Sources: the live model (GAAD) and the credential report. The report may be up to 4 hours
old on AWS; an audit is a periodic view, so that is acceptable (README, "Audit").
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from iamstate.analysis.consequences import analysis_context, state_findings
from iamstate.model.entities import AccountConfig, PasswordPolicy, State

KEY_MAX_AGE_DAYS = 90


@dataclass(frozen=True)
class Finding:
    rule: str
    resource: str
    message: str
    fix: str


RULES = {
    "IAM-001": "user not in every common group",
    "IAM-002": "user not in exactly one category group",
    "IAM-003": "user has policies of its own",
    "IAM-004": "human without MFA",
    "IAM-005": "console password without MFA",
    "IAM-006": "access key older than 90 days",
    "IAM-007": "access key unused for 90 days",
    "IAM-008": "more than one active access key",
    "IAM-009": "headless user with a console password",
    "IAM-010": "group with no members",
    "IAM-011": "password policy weaker than declared",
    "IAM-024": "access that expires within 7 days",
}


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
    report: Sequence[dict[str, str]],
    desired_password_policy: PasswordPolicy | None,
    now: datetime.datetime,
    documents: Mapping[str, Any] | None = None,
) -> list[Finding]:
    """Every finding, sorted by rule then resource. Pure: no AWS here. `documents`: the
    AWS managed (and ignored) policies' documents, for the escalation rules."""
    findings: list[Finding] = escalation_audit(config, live, documents or {})
    rows = {row["user"]: row for row in report}
    strategy = config.strategy
    for user in sorted(live.users.values(), key=lambda u: u.name):
        name = f"user/{user.name}"
        standing = strategy.standing(user.groups)
        if standing.missing_common:
            findings.append(Finding("IAM-001", name, "not in common group(s) "
                                    f"{list(standing.missing_common)}",
                                    "declare the user in the repository and apply"))
        if strategy.categories and len(standing.categories) != 1:
            findings.append(Finding(
                "IAM-002", name,
                f"in {len(standing.categories)} category groups {list(standing.categories)}",
                "give the user one category (name pattern or category:) and apply"))
        own = [p for p, _ in user.inline_policies] + sorted(user.attached_policies)
        if own:
            findings.append(Finding("IAM-003", name, f"user policies {own}",
                                    "move the permissions to a group; apply removes them"))
        row = rows.get(user.name, {})
        mfa = row.get("mfa_active") == "true"
        password = row.get("password_enabled") == "true"
        human, headless = standing.human, standing.headless
        if human and not mfa:
            findings.append(Finding("IAM-004", name, "human without an MFA device",
                                    "the user enrols a virtual MFA device at first sign-in"))
        if password and not mfa and not human:
            findings.append(Finding("IAM-005", name, "console password without MFA",
                                    "enrol MFA or remove console_access"))
        if headless and password:
            findings.append(Finding("IAM-009", name, "headless user with a console password",
                                    "set console_access: false and apply"))
        findings += _key_findings(name, row, now)
    members = {g for u in live.users.values() for g in u.groups}
    for group in sorted(set(live.groups) - members):
        findings.append(Finding("IAM-010", f"group/{group}", "group has no members",
                                "remove the group from the repository, or add members"))
    weaker = _weaker(live.password_policy, desired_password_policy)
    if weaker:
        findings.append(Finding("IAM-011", "account/password-policy",
                                "weaker than declared: " + ", ".join(weaker),
                                "apply the repository's password_policy"))
    return sorted(findings, key=lambda f: (f.rule, f.resource))


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
        findings.append(Finding(rule, principal, f"{finding.severity}: {finding.detail}", fix))
    return findings


def _key_findings(name: str, row: dict[str, str], now: datetime.datetime) -> list[Finding]:
    findings = []
    active = 0
    limit = datetime.timedelta(days=KEY_MAX_AGE_DAYS)
    for n in ("1", "2"):
        if row.get(f"access_key_{n}_active") != "true":
            continue
        active += 1
        rotated = _date(row.get(f"access_key_{n}_last_rotated"))
        used = _date(row.get(f"access_key_{n}_last_used_date"))
        if rotated and now - rotated > limit:
            findings.append(Finding("IAM-006", name,
                                    f"access key {n} is {(now - rotated).days} days old",
                                    "rotate it: create a new key, switch, delete the old"))
        last = used or rotated
        if last and now - last > limit:
            findings.append(Finding("IAM-007", name,
                                    f"access key {n} unused for {(now - last).days} days",
                                    "delete the key if nothing uses it"))
    if active > 1:
        findings.append(Finding("IAM-008", name, f"{active} active access keys",
                                "keep one active key; a second only while rotating"))
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


def expiring_findings(desired: State, day: datetime.date) -> list[Finding]:
    """Access that ends within a week (IAM-024): renew it in a pull request, or let it go."""
    from iamstate.repository.expiry import expiring_soon

    return [Finding("IAM-024", f"user/{e.user}", e.describe(ended=False) + f" at {e.source}",
                    "nothing to do if it should end; else change expires: in a pull request")
            for e in expiring_soon(desired, day)]


def _cis(rule: str) -> str:
    from iamstate.analysis.cis import cis_ids

    return cis_ids(rule)


def render_findings(findings_by_account: dict[str, list[Finding]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({name: [{**asdict(f), "cis": _cis(f.rule)} for f in found]
                           for name, found in findings_by_account.items()}, indent=2)
    lines: list[str] = []
    for account, found in findings_by_account.items():
        if fmt == "markdown":
            lines += [f"### Audit of `{account}`: {len(found)} finding(s)", "",
                      "| rule | resource | finding | fix |", "|---|---|---|---|"]
            lines += [f"| {f.rule} {_cis(f.rule)} | `{f.resource}` | {f.message} | {f.fix} |"
                      for f in found]
        else:
            lines.append(f"Audit of {account}: {len(found)} finding(s)")
            lines += [f"  {f.rule}{f' ({_cis(f.rule)})' if _cis(f.rule) else ''} "
                      f"{f.resource}: {f.message}\n      fix: {f.fix}" for f in found]
        lines.append("")
    return "\n".join(lines)

