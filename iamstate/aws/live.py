"""AWS -> the model. Reads in bulk so the cost grows with account size / 1,000, not users.

Sources: GetAccountAuthorizationDetails (users, groups, customer managed policies, in pages
of 1,000), the password policy, and the credential report for login profiles. The report can
be up to 4 hours old on AWS, so it is only a hint: wherever it disagrees with the repository
(a change would be planned) or lacks a user, GetLoginProfile gives the exact answer. Users and
policies about to be deleted are read exactly too, so the plan lists what their teardown
removes. Everything per-resource is therefore bounded by the size of the change.
"""

from __future__ import annotations

import csv
import difflib
import io
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iamstate.aws.answers import error_code
from iamstate.aws.session import Connection
from iamstate.entities.base import Reading
from iamstate.entities.group.model import Group
from iamstate.entities.io import document_from_aws
from iamstate.entities.password_policy.live import password_policy
from iamstate.entities.registry import ENTITIES, Entity, entity_of, in_order, planned
from iamstate.entities.user.live import has_login_profile, read_credentials, service_credentials
from iamstate.errors import AwsError, Problem
from iamstate.model.account import AccountConfig
from iamstate.model.arn import is_aws_managed
from iamstate.model.state import Outside, State
from iamstate.repository.policy import PolicyDocument

# Every IAM action reading an account calls: the read-only plan role grants exactly these
# (tests record the calls of plan, audit and import and check them against this list).
READ_ACTIONS = frozenset({
    "iam:GetAccountAuthorizationDetails", "iam:GetAccountPasswordPolicy",
    "iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:GetLoginProfile",
    "iam:ListAccessKeys", "iam:ListSigningCertificates", "iam:ListSSHPublicKeys",
    "iam:ListServiceSpecificCredentials", "iam:ListMFADevices", "iam:ListEntitiesForPolicy",
    "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicies",
    # `iamstate unused`: the groups' ARNs and their last-accessed data
    "iam:ListGroups", "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails", "iam:GetServiceLastAccessedDetailsWithEntities",
    # the CIS audit's account-wide reads (cis.py)
    "iam:GetAccountSummary", "iam:ListVirtualMFADevices", "iam:ListServerCertificates",
    "iam:ListOrganizationsFeatures",
})
__all__ = [
    "READ_ACTIONS",
    "credential_report",
    "has_login_profile",
    "missing_managed_policies",
    "outside_documents",
    "password_policy",
    "read_actions",
    "read_credentials",
    "read_live",
    "service_credentials",
]


def read_actions() -> frozenset[str]:
    """What the plan role is granted: READ_ACTIONS and what each entity's read calls."""
    return READ_ACTIONS | frozenset(a for e in ENTITIES.values() for a in e.reads)


PAGE_SIZE = 1000
REPORT_WAIT_SECONDS = 60.0


def read_live(
    conn: Connection, config: AccountConfig, desired: State, teardowns: bool = True,
    report: list[dict[str, str]] | Callable[[], list[dict[str, str]]] | None = None,
) -> State:
    """Live state of the account, restricted to what iamstate manages (ignores applied).
    `teardowns=False` skips the exact credential listing of undeclared users (import);
    `report` is the credential report when the caller reads it (audit), or what gives it
    once GAAD has been read (the caller reads it beside GAAD)."""
    try:
        return _read(conn, config, desired, teardowns, report)
    except ClientError as error:
        raise AwsError(f"account {config.name}: reading IAM failed: {error}") from None
    except BotoCoreError as error:
        raise AwsError(f"account {config.name}: cannot reach AWS: {error}") from None


def _read(
    conn: Connection, config: AccountConfig, desired: State, teardowns: bool,
    report_rows: list[dict[str, str]] | Callable[[], list[dict[str, str]]] | None,
) -> State:
    entries = dict(zip((e.gaad.list for e in _gaad_entities() if e.gaad),
                       _authorization_details(conn.iam), strict=True))
    _refuse_hidden_declarations(config, desired, entries)
    hint: list[Mapping[str, bool]] = []

    def report() -> Mapping[str, bool]:
        if not hint:
            rows = report_rows() if callable(report_rows) else report_rows
            hint.append(_password_enabled(
                credential_report(conn.iam) if rows is None else rows))
        return hint[0]

    items: dict[str, Mapping[str, Any]] = {}

    def read(model: type[Any]) -> Mapping[str, Any]:
        return items[entity_of(model).key]

    ctx = Reading(conn, config, desired, teardowns, entries, report, read)
    for entity in in_order():
        if entity.read is not None:
            items[entity.key] = entity.read(ctx)
    return State.of({e.key: items[e.key] for e in planned() if e.key in items},
                    Outside(**ctx.outside))


def _gaad_entities() -> list[Entity[Any]]:
    return [e for e in ENTITIES.values() if e.gaad is not None]


def _authorization_details(iam: Any) -> tuple[list[Any], ...]:
    """GAAD's lists of every entity that has one (users, groups, policies, roles), in the
    order of the registry."""
    wanted = _gaad_entities()
    found: tuple[list[Any], ...] = tuple([] for _ in wanted)
    # Always follow IsTruncated/Marker: GAAD may return fewer than MaxItems in a page.
    # Roles are read for the analysis only (assuming or passing one carries its power).
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=[e.gaad.filter for e in wanted if e.gaad],
        PaginationConfig={"PageSize": PAGE_SIZE})
    for page in pages:
        for entity, into in zip(wanted, found, strict=True):
            into.extend(page.get(entity.gaad.list, []) if entity.gaad else [])
    return found


def _document(raw: Any) -> PolicyDocument:
    return document_from_aws(raw)


def _refuse_hidden_declarations(config: AccountConfig, desired: State,
                                entries: Mapping[str, Sequence[Any]]) -> None:
    """A declared user or group that IAM keeps under an ignored path: the plan would not see
    it and would create it again (refused by AWS halfway through an apply). Say so first."""
    found = []
    for entity in ENTITIES.values():
        if not entity.under_paths or entity.gaad is None:
            continue
        names = {name.lower(): name for name in desired.items(entity.key)}
        key = f"{entity.gaad.filter}Name"  # GAAD's UserName, GroupName
        for raw in entries.get(entity.gaad.list, ()):
            name = names.get(raw[key].lower())
            under = config.ignore.under_path(raw.get("Path", "/"))
            if name is not None and under is not None:
                found.append(f"{entity.name} {name} is declared, but IAM keeps {raw[key]} "
                             f"under {raw.get('Path')}, which ignore.paths hides ({under}): "
                             "move it in IAM, or remove the declaration")
    if found:
        raise AwsError(f"account {config.name}: " + "; ".join(found))



def _outside_arns(config: AccountConfig, desired: State, live: State
                  ) -> dict[str, Group | None]:
    """Managed policy ARNs the plan's states use that are not among the customer managed
    policies iamstate reads (AWS managed ones, and ignored ones a group may still use),
    each with a group that newly attaches it (to blame if it does not exist), or None
    where something attaches it already (it exists)."""
    known = {config.policy_arn(p.path, p.name)
             for state in (desired, live) for p in state.policies.values()}
    used: dict[str, Group | None] = {}
    for wanting in desired.groups.values():
        for arn in wanting.managed_policies - known:  # declared ones the plan creates
            used.setdefault(arn, wanting)
    outside = live.outside
    attached = [*(g.managed_policies for g in live.groups.values()),
                *(u.attached_policies for u in live.users.values()),
                *(u.attached_policies for u in outside.users.values()),
                *(g.managed_policies for g in outside.groups.values()),
                *(r.attached_policies for r in (outside.roles or {}).values())]
    for arn in (a for arns in attached for a in arns if a not in known):
        used[arn] = None
    return used


def missing_managed_policies(conn: Connection, config: AccountConfig, desired: State,
                             live: State) -> list[Problem]:
    """A file:line problem for each managed policy the repository newly attaches that does
    not exist (a misspelt `ReadOnlyAcess`), found before anything changes: one GetPolicy
    per ARN that nothing attaches yet, none when the account is in sync."""
    problems: list[Problem] = []
    for arn, group in sorted(_outside_arns(config, desired, live).items()):
        if group is None or _get_policy(conn, arn) is not None:
            continue
        where = group.source
        problems.append(Problem(where.file if where else Path("."), where.line if where else 0, (
            f"group {group.name}: managed policy {arn} does not exist in AWS"
            f"{_did_you_mean(conn, arn)}: fix the ARN")))
    return problems


def outside_documents(conn: Connection, config: AccountConfig, desired: State,
                      live: State) -> dict[str, Any]:
    """The documents of the managed policies in `_outside_arns` that exist: what their
    holders can do is part of what a plan means (and what an audit finds). Two calls per
    distinct ARN, so a plan asks only when it has changes to explain."""
    documents: dict[str, Any] = {}
    for arn in sorted(_outside_arns(config, desired, live)):
        policy = _get_policy(conn, arn)
        if policy is None:
            continue
        version = conn.iam.get_policy_version(PolicyArn=arn,
                                              VersionId=policy["DefaultVersionId"])
        documents[arn] = _document(version["PolicyVersion"]["Document"]).document
    return documents


def _get_policy(conn: Connection, arn: str) -> dict[str, Any] | None:
    try:
        policy: dict[str, Any] = conn.iam.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as error:
        if error_code(error) not in ("NoSuchEntity", "InvalidInput"):
            raise
        return None
    return policy


def _did_you_mean(conn: Connection, arn: str) -> str:
    if not is_aws_managed(arn):
        return ""
    pages = conn.iam.get_paginator("list_policies").paginate(Scope="AWS")
    known = {p["Arn"] for page in pages for p in page.get("Policies", [])}
    close = difflib.get_close_matches(arn, sorted(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def credential_report(iam: Any, with_root: bool = False) -> list[dict[str, str]]:
    """The credential report's rows (root's `<root_account>` row only `with_root`: the CIS
    audit's). AWS regenerates it at most every 4 hours, so it may be stale: a hint for
    plans, fine for an audit. [] if unavailable."""
    deadline = time.monotonic() + REPORT_WAIT_SECONDS
    delay = 0.05  # often ready at the second ask; then back off
    while True:
        try:
            if iam.generate_credential_report()["State"] == "COMPLETE":
                content = iam.get_credential_report()["Content"]
                break
        except ClientError as error:
            if error_code(error) not in ("ReportInProgress", "ReportNotPresent",
                                         "ReportExpired", "LimitExceeded"):
                raise
        if time.monotonic() > deadline:
            return []
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    text = content.decode() if isinstance(content, bytes) else str(content)
    return [row for row in csv.DictReader(io.StringIO(text))
            if row.get("user") and (with_root or row["user"] != "<root_account>")]


def _password_enabled(rows: list[dict[str, str]]) -> dict[str, bool]:
    """user -> has a console password, from the credential report (a hint: may be stale)."""
    return {row["user"]: row.get("password_enabled") == "true" for row in rows}


