"""CIS AWS Foundations' IAM controls that IAM's own APIs decide, beside the strategy's rules.

Each finding keeps iamstate's rule id; its rule's references give the benchmark's ids
(v4.0.1, v7.0; `CIS_IDS` collects them), so a rule the strategy already had (IAM-003..008)
is shown with both ids rather than found twice. Sources: the credential report (its
`<root_account>` row too), GetAccountSummary, ListVirtualMFADevices, ListServerCertificates,
ListEntitiesForPolicy and ListOrganizationsFeatures. Reading is here; deciding is pure
(`cis_findings`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from botocore.exceptions import ClientError

from iamstate.analysis.audit import RULES as AUDIT_RULES
from iamstate.analysis.audit import _date
from iamstate.analysis.findings import (
    CRITICAL,
    HIGH,
    LOW,
    MEDIUM,
    Catalogue,
    CheckedRule,
    Finding,
    RuleInfo,
    cis,
    cis_label,
)
from iamstate.aws.answers import policy_entities
from iamstate.aws.session import Connection
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument

UNUSED_DAYS = 45  # CIS 1.12 / 2.11
ROOT_RECENT_DAYS = 7  # root used within this many days counts as "used recently"
SUPPORT_POLICY = "arn:aws:iam::aws:policy/AWSSupportAccess"
CLOUDSHELL_POLICY = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess"
ROOT_ROW = "<root_account>"
# ListOrganizationsFeatures answers these when the account is in no Organization, is not
# its management account, or may not ask: then the control does not apply.
NOT_IN_ORGANIZATION = frozenset({
    "OrganizationNotFoundException", "AccountNotManagementOrDelegatedAdministratorException",
    "ServiceAccessNotEnabledException", "AccessDenied", "AccessDeniedException",
    "OrganizationNotInAllFeaturesModeException"})

@dataclass(frozen=True)
class AccountFacts:
    """What the account-wide controls need, read once per audit."""

    root: Mapping[str, str] | None  # the credential report's <root_account> row
    summary: Mapping[str, int]  # GetAccountSummary's SummaryMap
    root_virtual_mfa: bool  # a virtual MFA device is assigned to root
    server_certificates: tuple[tuple[str, datetime.datetime], ...] = ()
    support_holders: tuple[str, ...] = ()  # who has AWSSupportAccess attached
    cloudshell_holders: tuple[str, ...] = ()  # who has AWSCloudShellFullAccess attached
    organization_features: tuple[str, ...] | None = None  # None: not in an Organization
    extra: Mapping[str, Any] = field(default_factory=dict)


def cis_ids(rule: str) -> str:
    """`CIS 1.15 / 2.13` for a rule with CIS ids, else ""."""
    ids = CIS_IDS.get(rule)
    return f"CIS {ids[0]} / {ids[1]}" if ids else ""


def read_facts(conn: Connection, report: Sequence[Mapping[str, str]]) -> AccountFacts:
    """Read what the account-wide controls need (`report`: the credential report, root
    row included)."""
    iam = conn.iam
    root = next((row for row in report if row.get("user") == ROOT_ROW), None)
    summary = iam.get_account_summary()["SummaryMap"]
    virtual = [d for page in iam.get_paginator("list_virtual_mfa_devices").paginate(
        AssignmentStatus="Assigned") for d in page["VirtualMFADevices"]]
    root_virtual = any(str(d.get("User", {}).get("Arn", "")).endswith(":root")
                       for d in virtual)
    certificates = tuple(
        (c["ServerCertificateName"], c["Expiration"])
        for page in iam.get_paginator("list_server_certificates").paginate()
        for c in page["ServerCertificateMetadataList"] if "Expiration" in c)
    return AccountFacts(root, summary, root_virtual, certificates,
                        _holders(iam, SUPPORT_POLICY), _holders(iam, CLOUDSHELL_POLICY),
                        None if conn.emulated else _organization_features(iam))


def _holders(iam: Any, arn: str) -> tuple[str, ...]:
    """Every user, group and role the policy is attached to ("role/R", ...)."""
    try:
        pages = list(iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=arn))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return ()
        raise
    return policy_entities(pages)


def _organization_features(iam: Any) -> tuple[str, ...] | None:
    try:
        answer = iam.list_organizations_features()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_IN_ORGANIZATION:
            return None
        raise
    except NotImplementedError:  # in-process moto (5.2.5) lacks the call (and the sandbox,
        return None  # an emulator, is never asked): there is no Organization there
    return tuple(answer.get("EnabledFeatures", ()))


@dataclass(frozen=True)
class Controlled:
    """What the CIS controls look at: the account's facts, live state, credential report."""

    facts: AccountFacts
    live: State
    report: Sequence[Mapping[str, str]]
    now: datetime.datetime
    documents: Mapping[str, Any]
    unused_days: int


CONTROLS: Catalogue[Controlled] = Catalogue()
Control = CheckedRule[Controlled]


def cis_findings(facts: AccountFacts, live: State, report: Sequence[Mapping[str, str]],
                 now: datetime.datetime, documents: Mapping[str, Any] | None = None,
                 unused_days: int = UNUSED_DAYS) -> list[Finding]:
    """The account-wide and credential controls; pure."""
    return CONTROLS.check(Controlled(facts, live, report, now, documents or {}, unused_days))


@CONTROLS.rule("IAM-012", CRITICAL, "root account has access keys", cis("1.4", "2.4"))
def _root_keys(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    row = ctx.facts.root or {}
    if ctx.facts.summary.get("AccountAccessKeysPresent", 0) or any(
            row.get(f"access_key_{n}_active") == "true" for n in ("1", "2")):
        yield rule.found("account/root", "the root account has access keys",
                         "delete them (as root: Security credentials); use roles")


def _root_mfa(facts: AccountFacts) -> bool:
    return (facts.summary.get("AccountMFAEnabled", 0) == 1
            or (facts.root or {}).get("mfa_active") == "true")


@CONTROLS.rule("IAM-013", CRITICAL, "root account without MFA", cis("1.5", "2.5"))
def _root_without_mfa(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    if not _root_mfa(ctx.facts):
        yield rule.found("account/root", "the root account has no MFA",
                         "enable MFA on the root account (a hardware key is best)")


@CONTROLS.rule("IAM-014", MEDIUM, "root account MFA is virtual, not hardware (CIS Level 2)",
               cis("1.6", "2.6"))
def _root_virtual_mfa(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    if _root_mfa(ctx.facts) and ctx.facts.root_virtual_mfa:
        yield rule.found("account/root", "the root account's MFA is virtual",
                         "use a hardware MFA device (FIDO key or TOTP token) for root")


@CONTROLS.rule("IAM-015", HIGH, "root account used recently", cis("1.7", "2.7"))
def _root_used(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    row = ctx.facts.root or {}
    recent = [(what, day) for what, day in (
        ("password", _date(row.get("password_last_used"))),
        ("access key 1", _date(row.get("access_key_1_last_used_date"))),
        ("access key 2", _date(row.get("access_key_2_last_used_date"))))
        if day and ctx.now - day <= datetime.timedelta(days=ROOT_RECENT_DAYS)]
    if recent:
        what, day = max(recent, key=lambda pair: pair[1])
        yield rule.found("account/root",
                         f"root {what} used {day.date().isoformat()} (within "
                         f"{ROOT_RECENT_DAYS} days)",
                         "use IAM users or roles for daily work; keep root for the few "
                         "tasks only it can do")


def _password_setting(live: State, name: str) -> int:
    settings = live.password_policy.as_dict() if live.password_policy else {}
    return int(settings.get(name, 0) or 0)


@CONTROLS.rule("IAM-016", MEDIUM, "password policy minimum length under 14",
               cis("1.8", "2.8"))
def _password_length(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    length = _password_setting(ctx.live, "MinimumPasswordLength")
    if length < 14:
        yield rule.found("account/password-policy",
                         f"minimum password length is {length or 'not set'}",
                         "password_policy: minimum_password_length: 14 (or more)")


@CONTROLS.rule("IAM-017", MEDIUM, "password policy remembers fewer than 24 passwords",
               cis("1.9", "2.9"))
def _password_reuse(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    reuse = _password_setting(ctx.live, "PasswordReusePrevention")
    if reuse < 24:
        yield rule.found("account/password-policy", f"remembers {reuse} previous passwords",
                         "password_policy: password_reuse_prevention: 24")


@CONTROLS.rule("IAM-018", MEDIUM, "credentials unused for 45 days", cis("1.12", "2.11"))
def _unused(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    """Console passwords and keys unused for `unused_days` (keys unused for 90 are
    IAM-007's)."""
    limit = datetime.timedelta(days=ctx.unused_days)
    now = ctx.now
    for row in ctx.report:
        if row.get("user") in (None, ROOT_ROW):
            continue
        name = f"user/{row['user']}"
        created = _date(row.get("user_creation_time"))
        if row.get("password_enabled") == "true":
            last = _date(row.get("password_last_used")) or _date(
                row.get("password_last_changed")) or created
            if last and now - last >= limit:
                yield rule.found(name, f"console password unused for {(now - last).days} days",
                                 "remove console_access if the user no longer signs in")
        for n in ("1", "2"):
            if row.get(f"access_key_{n}_active") != "true":
                continue
            last = _date(row.get(f"access_key_{n}_last_used_date")) or _date(
                row.get(f"access_key_{n}_last_rotated"))
            if last and limit <= now - last <= datetime.timedelta(days=90):
                yield rule.found(name, f"access key {n} unused for {(now - last).days} days",
                                 "deactivate, then delete the key if nothing needs it")


def grants_everything(document: Any) -> bool:
    """An Allow of Action "*" on Resource "*" without conditions: full administrator."""
    body = document.document if isinstance(document, PolicyDocument) else document
    statements = body.get("Statement", []) if isinstance(body, Mapping) else []
    if isinstance(statements, Mapping):
        statements = [statements]
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow" \
                or "Condition" in statement:
            continue
        if "*" in _listed(statement.get("Action")) and "*" in _listed(
                statement.get("Resource")):
            return True
    return False


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@CONTROLS.rule("IAM-019", HIGH, "a policy granting *:* is attached", cis("1.16", "2.14"))
def _full_access(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    by_arn = dict(ctx.documents)
    for policy in ctx.live.policies.values():
        by_arn.setdefault(policy.name, policy.document)

    def names(inline: Iterable[tuple[str, Any]], attached: Iterable[str]) -> list[str]:
        found = [f"inline {name}" for name, doc in inline if grants_everything(doc)]
        return found + [arn for arn in sorted(attached) if (doc := by_arn.get(
            arn, by_arn.get(arn.rsplit("/", 1)[-1]))) is not None and grants_everything(doc)]

    holders = [(f"group/{g.name}", g.inline_policies, g.managed_policies)
               for g in sorted(ctx.live.groups.values(), key=lambda g: g.name)]
    holders += [(f"user/{u.name}", u.inline_policies, u.attached_policies)
                for u in sorted(ctx.live.users.values(), key=lambda u: u.name)]
    for holder, inline, attached in holders:
        if granting := names(inline, attached):
            yield rule.found(holder, "grants *:* through " + ", ".join(granting),
                             "grant what the work needs; keep full access to a role assumed "
                             "with MFA")


@CONTROLS.rule("IAM-020", LOW, "no AWS Support role (AWSSupportAccess attached nowhere)",
               cis("1.17", "2.15"))
def _support_role(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    if not ctx.facts.support_holders:
        yield rule.found("account/support-role",
                         "AWSSupportAccess is attached to no role, group or user",
                         "create a role for incident handling with AWSSupportAccess attached")


@CONTROLS.rule("IAM-021", MEDIUM, "expired server certificate", cis("1.19", "2.17"))
def _expired_certificates(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    for name, expires in sorted(ctx.facts.server_certificates):
        if expires <= ctx.now:
            yield rule.found(f"server-certificate/{name}",
                             f"expired {expires.date().isoformat()}",
                             "delete it (iam delete-server-certificate)")


@CONTROLS.rule("IAM-022", MEDIUM, "AWSCloudShellFullAccess attached", cis("1.22", "2.20"))
def _cloudshell(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    for holder in ctx.facts.cloudshell_holders:
        yield rule.found(holder, "AWSCloudShellFullAccess is attached",
                         "detach it; grant CloudShell without file transfer if needed")


@CONTROLS.rule("IAM-023", MEDIUM, "root credentials not managed centrally in the Organization",
               cis("-", "2.1.1"))
def _root_management(rule: Control, ctx: Controlled) -> Iterator[Finding]:
    features = ctx.facts.organization_features
    if features is not None and "RootCredentialsManagement" not in features:
        yield rule.found("account/root",
                         "the Organization does not manage member accounts' root credentials "
                         "centrally",
                         "enable centralized root access (IAM: Root access management)")


def _cis_versions(references: tuple[str, ...]) -> tuple[str, str]:
    ids = cis_label(references).removeprefix("CIS ").split(" / ")
    return ids[0], ids[1]


# The CIS controls' descriptions, and every rule's CIS ids (v4.0.1, v7.0): read from the
# catalogues, so a rule carries its references where it is written.
RULES: Mapping[str, str] = MappingProxyType({r.id: r.help for r in CONTROLS.rules.values()})
_ALL: tuple[RuleInfo, ...] = (*AUDIT_RULES.rules.values(), *CONTROLS.rules.values())
CIS_IDS: Mapping[str, tuple[str, str]] = MappingProxyType({
    r.id: _cis_versions(r.references) for r in _ALL if cis_label(r.references)})
