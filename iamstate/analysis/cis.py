"""CIS AWS Foundations' IAM controls that IAM's own APIs decide, beside the strategy's rules.

Each finding keeps iamstate's rule id; `CIS_IDS` gives the benchmark's ids (v4.0.1, v7.0)
for it, so a rule the strategy already had (IAM-003..008) is shown with both ids rather
than found twice. Sources: the credential report (its `<root_account>` row too),
GetAccountSummary, ListVirtualMFADevices, ListServerCertificates, ListEntitiesForPolicy and
ListOrganizationsFeatures. Reading is here; deciding is pure (`cis_findings`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iamstate.analysis.audit import Finding, _date
from iamstate.aws.session import Connection
from iamstate.model.entities import State
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

# iamstate rule -> (CIS v4.0.1 id, CIS v7.0 id); "-" where that version has no such control
CIS_IDS: dict[str, tuple[str, str]] = {
    "IAM-003": ("1.15", "2.13"),  # permissions only through groups
    "IAM-004": ("1.10", "2.10"),  # MFA for console users (humans)
    "IAM-005": ("1.10", "2.10"),  # MFA for console users (others)
    "IAM-006": ("1.14", "2.12"),  # keys rotated within 90 days
    "IAM-007": ("1.12", "2.11"),  # credentials unused (keys, 90 days)
    "IAM-008": ("1.13", "-"),     # one active key per user (not in v7.0)
    "IAM-012": ("1.4", "2.4"),    # no root access keys
    "IAM-013": ("1.5", "2.5"),    # MFA on root
    "IAM-014": ("1.6", "2.6"),    # hardware MFA on root (Level 2)
    "IAM-015": ("1.7", "2.7"),    # root not used for daily tasks
    "IAM-016": ("1.8", "2.8"),    # password length >= 14
    "IAM-017": ("1.9", "2.9"),    # password reuse >= 24
    "IAM-018": ("1.12", "2.11"),  # credentials unused >= 45 days
    "IAM-019": ("1.16", "2.14"),  # no policy granting *:* attached
    "IAM-020": ("1.17", "2.15"),  # a support role exists
    "IAM-021": ("1.19", "2.17"),  # no expired server certificates
    "IAM-022": ("1.22", "2.20"),  # AWSCloudShellFullAccess not attached
    "IAM-023": ("-", "2.1.1"),    # root credentials managed centrally (Organizations)
}

RULES = {
    "IAM-012": "root account has access keys",
    "IAM-013": "root account without MFA",
    "IAM-014": "root account MFA is virtual, not hardware (CIS Level 2)",
    "IAM-015": "root account used recently",
    "IAM-016": "password policy minimum length under 14",
    "IAM-017": "password policy remembers fewer than 24 passwords",
    "IAM-018": "credentials unused for 45 days",
    "IAM-019": "a policy granting *:* is attached",
    "IAM-020": "no AWS Support role (AWSSupportAccess attached nowhere)",
    "IAM-021": "expired server certificate",
    "IAM-022": "AWSCloudShellFullAccess attached",
    "IAM-023": "root credentials not managed centrally in the Organization",
}


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
    found = []
    for page in pages:
        for kind, key, name in (("user", "PolicyUsers", "UserName"),
                                ("group", "PolicyGroups", "GroupName"),
                                ("role", "PolicyRoles", "RoleName")):
            found += [f"{kind}/{item[name]}" for item in page.get(key, [])]
    return tuple(sorted(found))


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


def cis_findings(facts: AccountFacts, live: State, report: Sequence[Mapping[str, str]],
                 now: datetime.datetime, documents: Mapping[str, Any] | None = None,
                 unused_days: int = UNUSED_DAYS) -> list[Finding]:
    """The account-wide and credential controls; pure."""
    return [*_root(facts, now), *_password_policy(live), *_unused(report, now, unused_days),
            *_full_access(live, documents or {}), *_account_wide(facts, now)]


def _root(facts: AccountFacts, now: datetime.datetime) -> list[Finding]:
    found = []
    row = facts.root or {}
    keys = facts.summary.get("AccountAccessKeysPresent", 0) or any(
        row.get(f"access_key_{n}_active") == "true" for n in ("1", "2"))
    if keys:
        found.append(Finding("IAM-012", "account/root", "the root account has access keys",
                             "delete them (as root: Security credentials); use roles"))
    mfa = facts.summary.get("AccountMFAEnabled", 0) == 1 or row.get("mfa_active") == "true"
    if not mfa:
        found.append(Finding("IAM-013", "account/root", "the root account has no MFA",
                             "enable MFA on the root account (a hardware key is best)"))
    elif facts.root_virtual_mfa:
        found.append(Finding("IAM-014", "account/root", "the root account's MFA is virtual",
                             "use a hardware MFA device (FIDO key or TOTP token) for root"))
    recent = [(what, day) for what, day in (
        ("password", _date(row.get("password_last_used"))),
        ("access key 1", _date(row.get("access_key_1_last_used_date"))),
        ("access key 2", _date(row.get("access_key_2_last_used_date"))))
        if day and now - day <= datetime.timedelta(days=ROOT_RECENT_DAYS)]
    if recent:
        what, day = max(recent, key=lambda pair: pair[1])
        found.append(Finding("IAM-015", "account/root",
                             f"root {what} used {day.date().isoformat()} (within "
                             f"{ROOT_RECENT_DAYS} days)",
                             "use IAM users or roles for daily work; keep root for the few "
                             "tasks only it can do"))
    return found


def _password_policy(live: State) -> list[Finding]:
    settings = live.password_policy.as_dict() if live.password_policy else {}
    found = []
    length = int(settings.get("MinimumPasswordLength", 0) or 0)
    if length < 14:
        found.append(Finding("IAM-016", "account/password-policy",
                             f"minimum password length is {length or 'not set'}",
                             "password_policy: minimum_password_length: 14 (or more)"))
    reuse = int(settings.get("PasswordReusePrevention", 0) or 0)
    if reuse < 24:
        found.append(Finding("IAM-017", "account/password-policy",
                             f"remembers {reuse} previous passwords",
                             "password_policy: password_reuse_prevention: 24"))
    return found


def _unused(report: Sequence[Mapping[str, str]], now: datetime.datetime,
            days: int) -> list[Finding]:
    """Console passwords and keys unused for `days` (keys unused for 90 are IAM-007's)."""
    limit = datetime.timedelta(days=days)
    found = []
    for row in report:
        if row.get("user") in (None, ROOT_ROW):
            continue
        name = f"user/{row['user']}"
        created = _date(row.get("user_creation_time"))
        if row.get("password_enabled") == "true":
            last = _date(row.get("password_last_used")) or _date(
                row.get("password_last_changed")) or created
            if last and now - last >= limit:
                found.append(Finding("IAM-018", name,
                                     f"console password unused for {(now - last).days} days",
                                     "remove console_access if the user no longer signs in"))
        for n in ("1", "2"):
            if row.get(f"access_key_{n}_active") != "true":
                continue
            last = _date(row.get(f"access_key_{n}_last_used_date")) or _date(
                row.get(f"access_key_{n}_last_rotated"))
            if last and limit <= now - last <= datetime.timedelta(days=90):
                found.append(Finding("IAM-018", name,
                                     f"access key {n} unused for {(now - last).days} days",
                                     "deactivate, then delete the key if nothing needs it"))
    return found


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


def _full_access(live: State, documents: Mapping[str, Any]) -> list[Finding]:
    by_arn = {arn: doc for arn, doc in documents.items()}
    for policy in live.policies.values():
        by_arn.setdefault(policy.name, policy.document)
    found = []

    def check(holder: str, inline: Iterable[tuple[str, Any]], attached: Iterable[str]) -> None:
        names = [f"inline {name}" for name, doc in inline if grants_everything(doc)]
        names += [arn for arn in sorted(attached)
                  if (doc := by_arn.get(arn, by_arn.get(arn.rsplit("/", 1)[-1]))) is not None
                  and grants_everything(doc)]
        if names:
            found.append(Finding("IAM-019", holder, "grants *:* through " + ", ".join(names),
                                 "grant what the work needs; keep full access to a role "
                                 "assumed with MFA"))

    for group in sorted(live.groups.values(), key=lambda g: g.name):
        check(f"group/{group.name}", group.inline_policies, group.managed_policies)
    for user in sorted(live.users.values(), key=lambda u: u.name):
        check(f"user/{user.name}", user.inline_policies, user.attached_policies)
    return found


def _account_wide(facts: AccountFacts, now: datetime.datetime) -> list[Finding]:
    found = []
    if not facts.support_holders:
        found.append(Finding("IAM-020", "account/support-role",
                             "AWSSupportAccess is attached to no role, group or user",
                             "create a role for incident handling with AWSSupportAccess "
                             "attached"))
    for name, expires in sorted(facts.server_certificates):
        if expires <= now:
            found.append(Finding("IAM-021", f"server-certificate/{name}",
                                 f"expired {expires.date().isoformat()}",
                                 "delete it (iam delete-server-certificate)"))
    for holder in facts.cloudshell_holders:
        found.append(Finding("IAM-022", holder, "AWSCloudShellFullAccess is attached",
                             "detach it; grant CloudShell without file transfer if needed"))
    features = facts.organization_features
    if features is not None and "RootCredentialsManagement" not in features:
        found.append(Finding("IAM-023", "account/root",
                             "the Organization does not manage member accounts' root "
                             "credentials centrally",
                             "enable centralized root access (IAM: Root access management)"))
    return found
