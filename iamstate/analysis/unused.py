"""`iamstate unused`: what a group's policies grant that none of its members used.

Per managed group, AWS's last-accessed data (lastaccess.py) says which services, and for the
services AWS tracks which actions, the members used through the group. What nobody used in
`days` is reported; with `write`, removed from the repository's documents so that the
change goes through review and the plan shows who loses what. Safeguards (as Repokid learned
for roles): grants younger than 14 days in git stay, data older than 4 hours decides
nothing, `iam:PassRole` (not tracked) stays, AWS managed policies are never edited (the report
says which narrower policy to attach instead), and a statement whose condition makes "unused"
uncertain stays, with the reason.
"""

from __future__ import annotations

import datetime
import json
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from botocore.exceptions import ClientError

from iamstate.analysis.permissions import ActionSet
from iamstate.aws.answers import error_code
from iamstate.aws.lastaccess import GroupAccess, Reader, Use
from iamstate.aws.session import CallCounter, connect
from iamstate.entities.managed_policy.live import listed_entities
from iamstate.errors import AwsError, EditError, RepoError
from iamstate.model.account import Account
from iamstate.model.arn import AWS_MANAGED
from iamstate.repository.edit import _load, _resource_files, _write, dump
from iamstate.repository.expiry import in_force
from iamstate.repository.loader import ACCOUNT_FILE, POLICY_SUFFIXES, load_repository
from iamstate.wording import count
from iamstate.workflow import for_each_account

YOUNG = datetime.timedelta(days=14)
FRESH = datetime.timedelta(hours=4)
NEVER_TRIMMED = "iam:PassRole"
# Condition keys that make "nobody used it" a weak signal: a grant for a time window that may
# not have come yet, or for use through another service (which AWS records against that one).
UNCERTAIN_KEYS = {"aws:currenttime": "a time window (aws:CurrentTime)",
                  "aws:epochtime": "a time window (aws:EpochTime)",
                  "aws:calledvia": "calls made through another service (aws:CalledVia)",
                  "aws:calledviafirst": "calls made through another service (aws:CalledViaFirst)",
                  "aws:calledvialast": "calls made through another service (aws:CalledViaLast)",
                  "aws:viaawsservice": "calls made through another service (aws:ViaAWSService)"}


@dataclass(frozen=True)
class Grant:
    """One action pattern of an Allow statement in a document of the repository."""

    file: Path
    line: int
    document: str  # for people: "group Developers > inline policy X", "policy P"
    statement: int
    index: int | None  # position in Action; None when Action is a single string
    pattern: str


@dataclass(frozen=True)
class Kept:
    grant: Grant
    reason: str


@dataclass
class GroupReport:
    group: str
    access: GroupAccess
    unused_services: list[str] = field(default_factory=list)
    unused_actions: list[str] = field(default_factory=list)
    removals: list[Grant] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.unused_services or self.unused_actions)


@dataclass(frozen=True)
class Window:
    """What counts as used: a use at or after `since`."""

    since: datetime.datetime

    def unused(self, use: Use | None) -> bool:
        return use is None or use.when < self.since


@dataclass
class Document:
    """A policy document of the repository, where it is and which groups hold it."""

    label: str
    file: Path
    node: Any  # the ruamel tree of the document
    where: tuple[str, ...] = ()  # its keys inside the file (a document in place)
    holders: list[tuple[str, str, str]] = field(default_factory=list)  # group, kind, name
    elsewhere: tuple[str, ...] = ()  # other accounts whose groups hold it (a policies/ file)


@dataclass
class Layout:
    """The account's YAML and document files, loaded once (ruamel round trip)."""

    files: dict[Path, Any] = field(default_factory=dict)
    documents: dict[tuple[Path, str], Document] = field(default_factory=dict)
    group_files: dict[str, Path] = field(default_factory=dict)
    aws_managed: dict[str, list[str]] = field(default_factory=dict)  # group -> ARNs


# --- reading the repository's documents ----------------------------------------------------


def layout(repo: Path, account: Account) -> Layout:
    found = Layout()
    raw_policies: dict[str, tuple[Path, Any]] = {}
    for path in _resource_files(account.config.directory):
        if not _declares_groups_or_policies(path):
            continue  # a users file: never edited here, and ruamel is slow on large ones
        data = found.files.setdefault(path, _load(path)) or {}
        for name, spec in (data.get("policies") or {}).items():
            raw_policies[name] = (path, spec)
    for path, data in list(found.files.items()):
        for group, spec in ((data or {}).get("groups") or {}).items():
            if group in account.desired.groups:
                found.group_files[group] = path
                _holdings(repo, found, path, group, spec or {}, raw_policies)
    _shared_with(account, found)
    return found


def _declares_groups_or_policies(path: Path) -> bool:
    data = plain(path.read_text(encoding="utf-8"))
    return isinstance(data, dict) and bool({"groups", "policies"} & set(data))


def plain(text: str) -> Any:
    """Plain data, fast (libyaml): for reading only, where no line or comment is needed."""
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None


def _holdings(repo: Path, found: Layout, path: Path, group: str, spec: Any,
              raw_policies: Mapping[str, tuple[Path, Any]]) -> None:
    for name, ref in (spec.get("inline_policies") or {}).items():
        label = f"group {group} > inline policy {name}"
        document = _document(repo, found, ref, path, label,
                             ("groups", group, "inline_policies", name))
        if document is not None:
            document.holders.append((group, "inline", name))
    for ref in spec.get("managed_policies") or []:
        if AWS_MANAGED in str(ref):
            found.aws_managed.setdefault(group, []).append(str(ref))
            continue
        policy = str(ref).rpartition("/")[2] if str(ref).startswith("arn:") else str(ref)
        if policy in raw_policies:
            where, raw = raw_policies[policy]
            document = _document(repo, found, raw.get("document"), where, f"policy {policy}",
                                 ("policies", policy, "document"))
            if document is not None:
                document.holders.append((group, "managed", str(ref)))


def _shared_with(account: Account, found: Layout) -> None:
    """Mark the policies/ files that other accounts' groups hold too: this account's data
    says nothing about their use there, so those files stay whole."""
    here = account.config.directory
    files = {d.file: d for d in found.documents.values() if not d.where}
    if not files:
        return  # nothing here is shared: no other account need be read
    for other in sorted(here.parent.iterdir()):
        if other == here or not (other / ACCOUNT_FILE).is_file():
            continue
        paths = _resource_files(other)
        stamp = tuple((p, p.stat().st_mtime_ns) for p in paths)
        for ref in _references(stamp):
            for suffix in POLICY_SUFFIXES:
                document = files.get(here.parent.parent / "policies" / f"{ref}{suffix}")
                if document is not None and f"account {other.name}" not in document.elsewhere:
                    document.elsewhere += (f"account {other.name}",)


def mark_other_holders(iam: Any, account: Account, found: Layout) -> None:
    """Mark the repository's managed policies that IAM has attached to anything beyond the
    groups holding them here (a role, a user, an ignored group): those have no group
    last-accessed data, and iamstate never decides for them, so the document stays whole."""
    for document in found.documents.values():
        groups = {g.lower() for g, _, _ in document.holders}
        for _, kind, ref in document.holders:
            policy = account.desired.policies.get(ref.rpartition("/")[2]) \
                if kind == "managed" else None
            if policy is None:
                continue
            arn = account.config.policy_arn(policy.path, policy.name)
            try:
                entities = listed_entities(iam, arn, "PermissionsPolicy")
            except ClientError as error:
                if error_code(error) == "NoSuchEntity":
                    continue  # not in AWS yet: nothing else can hold it
                entities = (f"unknown holders ({error_code(error)})",)  # unsure: it stays
            others = [e for e in entities if not (e.startswith("group/")
                                                  and e[6:].lower() in groups)]
            document.elsewhere += tuple(e for e in others if e not in document.elsewhere)


@lru_cache(maxsize=4096)
def _references(stamp: tuple[tuple[Path, int], ...]) -> frozenset[str]:
    """The policies/ names an account's files (with their times: a cache key that sees an
    edit) refer to from groups and policies; read fast, plainly, once per account even
    when an Organization's every account asks."""
    refs: set[str] = set()
    for path, _ in stamp:
        data = plain(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            continue
        for spec in (data.get("groups") or {}).values():
            inline = (spec or {}).get("inline_policies") if isinstance(spec, dict) else None
            refs |= {r for r in (inline or {}).values() if isinstance(r, str)}
        for spec in (data.get("policies") or {}).values():
            document = spec.get("document") if isinstance(spec, dict) else None
            if isinstance(document, str):
                refs.add(document)
    return frozenset(refs)


def _document(repo: Path, found: Layout, ref: Any, where: Path, label: str,
              keys: tuple[str, ...]) -> Document | None:
    """The document a reference names: a policies/ file (shared: one Document for all its
    holders) or a document written in place."""
    if isinstance(ref, str):
        file = next((repo / "policies" / f"{ref}{suffix}" for suffix in POLICY_SUFFIXES
                     if (repo / "policies" / f"{ref}{suffix}").is_file()), None)
        if file is None:
            return None
        if file not in found.files:
            found.files[file] = _load(file)
        key = (file, "")
        if key not in found.documents:
            found.documents[key] = Document(f"policies/{file.name}", file, found.files[file])
        return found.documents[key]
    if ref is None:
        return None
    key = (where, label)
    found.documents.setdefault(key, Document(label, where, ref, keys))
    return found.documents[key]


def _statements(node: Any) -> list[Any]:
    statements = node.get("Statement", []) if hasattr(node, "get") else []
    return list(statements) if isinstance(statements, list) else [statements]


def grants(document: Document) -> Iterable[tuple[Any, Grant]]:
    """(statement, grant) for every action pattern of every Allow statement."""
    for number, statement in enumerate(_statements(document.node)):
        if not hasattr(statement, "get") or statement.get("Effect") != "Allow":
            continue  # a Deny is never trimmed: that would grant more
        actions = statement.get("Action")
        if isinstance(actions, str):
            yield statement, Grant(document.file, _line(statement, "Action"), document.label,
                                   number, None, actions)
        elif isinstance(actions, list):
            for index, pattern in enumerate(actions):
                yield statement, Grant(document.file, _item_line(actions, index, statement),
                                       document.label, number, index, str(pattern))


def _line(node: Any, key: str) -> int:
    try:
        return int(node.lc.value(key)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return int(getattr(getattr(node, "lc", None), "line", 0)) + 1


def _item_line(seq: Any, index: int, statement: Any) -> int:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, TypeError):
        return _line(statement, "Action")


# --- git: how old is each grant ------------------------------------------------------------


class History:
    """What the repository's documents granted 14 days ago (git); not git: unknown."""

    def __init__(self, repo: Path, now: datetime.datetime) -> None:
        self.repo = repo
        self.is_git = _git(repo, "rev-parse", "--is-inside-work-tree") is not None
        before = (now - YOUNG).isoformat()
        self.then = (_git(repo, "rev-list", "-1", f"--before={before}", "HEAD") or "").strip()
        self.granted: dict[tuple[Path, tuple[str, ...]], set[str]] = {}
        self.old_files: dict[Path, Any] = {}

    def granted_then(self, document: Document) -> set[str]:
        """The action patterns the document's Allow statements had 14 days ago."""
        key = (document.file, document.where)
        if key not in self.granted:
            self.granted[key] = self._read(document) if self.then else set()
        return self.granted[key]

    def _read(self, document: Document) -> set[str]:
        node = self._old_file(document.file)
        try:
            for step in document.where:
                node = node[step]
        except (KeyError, TypeError, IndexError):
            return set()
        return {g.pattern for _, g in grants(Document(document.label, document.file, node))}

    def _old_file(self, file: Path) -> Any:
        """The file as it was 14 days ago (parsed once: several documents share a file)."""
        if file not in self.old_files:
            relative = file.resolve().relative_to(self.repo.resolve()).as_posix()
            text = _git(self.repo, "show", f"{self.then}:{relative}")
            self.old_files[file] = None if text is None else plain(text)
        return self.old_files[file]


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=60, check=False)
    except OSError:
        return None
    return done.stdout if done.returncode == 0 else None


# --- judging ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judge:
    """Decides, for one group, whether a grant is unused and may go."""

    access: GroupAccess
    window: Window
    history: History
    now: datetime.datetime
    members: bool = True  # anyone in the group (as of today) whose use the data could show

    def unused_action(self, action: str) -> bool:
        service = action.partition(":")[0]
        found = next((s for s in self.access.services if s.namespace == service), None)
        if found is None:
            return False  # AWS does not list it for this group: no evidence either way
        if self.window.unused(found.last):
            return True
        if found.actions is None or action not in found.actions:
            return False  # an action AWS does not track: unknown
        return self.window.unused(found.actions[action])

    def verdict(self, statement: Any, grant: Grant,
                document: Document) -> tuple[bool, str | None]:
        """(unused, why it stays): (True, None) removes it."""
        actions = ActionSet.of([grant.pattern])
        names = actions.names()
        unused = [a for a in names if self.unused_action(a)]
        if not names or not unused:
            return False, None
        if not self.members:
            return True, ("the group has no members: AWS's data is its members' use, so it "
                          "is no evidence (an incident group between incidents)")
        if NEVER_TRIMMED in actions:
            return True, f"covers {NEVER_TRIMMED}, which last-accessed data does not track"
        if len(unused) < len(names):
            return True, (f"also grants actions in use: narrow it by hand to drop "
                          f"{', '.join(unused[:3])}{'...' if len(unused) > 3 else ''}")
        uncertain = _uncertain(statement)
        if uncertain:
            return True, f"its condition limits it to {uncertain}: unused is uncertain"
        return True, self._too_young(grant, document)

    def _too_young(self, grant: Grant, document: Document) -> str | None:
        if not self.history.is_git:
            return "not a git repository: the grant's age is unknown, so it stays"
        if grant.pattern not in self.history.granted_then(document):
            return ("granted in the last 14 days (not in git's history before "
                    f"{(self.now - YOUNG):%Y-%m-%d}): too young to trim")
        return None


def _uncertain(statement: Any) -> str | None:
    condition = statement.get("Condition") or {}
    for operator, clauses in condition.items():
        for key in clauses or {}:
            reason = UNCERTAIN_KEYS.get(str(key).lower())
            if reason is not None:
                return reason
        if str(operator).startswith("Date"):
            return f"a time window ({operator})"
    return None


# --- one account --------------------------------------------------------------------------


def analyse(repo: Path, account: Account, accesses: Mapping[str, GroupAccess], days: int,
            now: datetime.datetime, aws_documents: Mapping[str, Any] | None = None,
            history: History | None = None, found: Layout | None = None
            ) -> tuple[list[GroupReport], Layout]:
    """Per group: what nobody used, which grants may go, which stay and why."""
    found = found or layout(repo, account)
    history = history or History(repo, now)
    window = Window(now - datetime.timedelta(days=days))
    reports = {g: _group_report(g, a, window) for g, a in sorted(accesses.items())}
    day = now.astimezone(datetime.UTC).date()
    joined = {g for u in in_force(account.desired, day).users.values() for g in u.groups}
    judges = {g: Judge(a, window, history, now, g in joined) for g, a in accesses.items()}
    for document in found.documents.values():
        _judge(document, judges, reports)
        _not_actions(document, reports)
    for group, arns in found.aws_managed.items():
        if group in reports:
            reports[group].advice += _advice(reports[group], arns, aws_documents or {}, window)
    return list(reports.values()), found


def _judge(document: Document, judges: Mapping[str, Judge],
           reports: Mapping[str, GroupReport]) -> None:
    """Each grant of the document goes only if every group holding it left it unused."""
    groups = [g for g, _, _ in document.holders]
    for statement, grant in grants(document):
        verdicts = [judges[g].verdict(statement, grant, document) if g in judges
                    else (False, None) for g in groups]
        if not all(unused for unused, _ in verdicts):
            continue  # a holder still uses it (or has no data): a shared grant stays
        why = next((reason for _, reason in verdicts if reason), None)
        if document.elsewhere and not why:
            why = (f"{document.label} is also held by {', '.join(document.elsewhere)}, "
                   "whose use the groups' last-accessed data cannot tell")
        for group in groups:
            report = reports[group]
            (report.kept.append(Kept(grant, why)) if why else report.removals.append(grant))


def _not_actions(document: Document, reports: Mapping[str, GroupReport]) -> None:
    """An Allow with NotAction that reaches unused services stays: say so."""
    for number, statement in enumerate(_statements(document.node)):
        if not hasattr(statement, "get") or statement.get("Effect") != "Allow" \
                or "NotAction" not in statement:
            continue
        reached = ActionSet.everything() - ActionSet.of(_strings(statement["NotAction"]))
        services = {n.partition(":")[0] for n in reached.names()}
        grant = Grant(document.file, _line(statement, "NotAction"), document.label, number,
                      None, "NotAction")
        for group, _, _ in document.holders:
            report = reports.get(group)
            if report is not None and services & set(report.unused_services):
                report.kept.append(Kept(grant, "an Allow with NotAction grants every action "
                                        "but a list: iamstate does not rewrite it; narrow "
                                        "it by hand"))


def _group_report(group: str, access: GroupAccess, window: Window) -> GroupReport:
    report = GroupReport(group, access)
    for service in access.services:
        if window.unused(service.last):
            report.unused_services.append(service.namespace)
        elif service.actions:
            report.unused_actions += [a for a, use in service.actions.items()
                                      if window.unused(use)]
    return report


@lru_cache(maxsize=64)
def _granted_services(document: str) -> tuple[list[str], frozenset[str]]:
    """An AWS managed document's Allow patterns and the services they reach (once per
    document: a hundred groups may hold ReadOnlyAccess)."""
    patterns = sorted({p for statement in _statements(json.loads(document))
                       if statement.get("Effect") == "Allow"
                       for p in _strings(statement.get("Action", []))})
    services = frozenset(n.partition(":")[0] for n in ActionSet.of(patterns).names())
    return patterns, services


def _advice(report: GroupReport, arns: list[str], documents: Mapping[str, Any],
            window: Window) -> list[str]:
    """What to attach instead of an AWS managed policy that grants unused services."""
    in_use = {s.namespace for s in report.access.services if not window.unused(s.last)}
    advice = []
    for arn in arns:
        document = documents.get(arn)
        if document is None:
            continue
        patterns, services = _granted_services(json.dumps(document, sort_keys=True))
        grants_unused = services & set(report.unused_services)
        if not grants_unused:
            continue
        keep = [p for p in patterns if p.partition(":")[0] in in_use]
        name = arn.rpartition("/")[2]
        advice.append(
            f"AWS managed policy {name} grants {count(len(grants_unused), 'service')} nobody in "
            f"{report.group} used; iamstate never edits AWS managed policies: attach a policy "
            f"of your own instead with only its actions for the services in use: "
            f"{json.dumps(keep) if keep else '(none: detach it)'}")
    return advice


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


# --- writing ------------------------------------------------------------------------------


def stale(reports: Iterable[GroupReport], now: datetime.datetime) -> list[str]:
    """Groups whose data (AWS's report time) is older than 4 hours."""
    return [r.group for r in reports if now - r.access.reported > FRESH]


def write(repo: Path, reports: list[GroupReport], found: Layout) -> list[Path]:
    """Remove every removable grant from the repository's documents (comments kept); a
    document left with nothing is detached from its groups instead. Returns changed files."""
    removals = {g for r in reports for g in r.removals}
    changed: set[Path] = set()
    for document in found.documents.values():
        gone = {(g.statement, g.index) for g in removals if g.file == document.file
                and g.document == document.label}
        if not gone:
            continue
        if _trim(document.node, gone):
            changed.add(document.file)
        else:  # nothing would be left: the groups lose the reference instead
            for group, kind, name in document.holders:
                _detach(found, group, kind, name)
                changed.add(found.group_files[group])
    _save(repo, found, changed)
    return sorted(changed)


def _trim(node: Any, gone: set[tuple[int, int | None]]) -> bool:
    """Remove the patterns; False (and no change) if no Allow or Deny would be left."""
    statements = _statements(node)
    keep_statement = []
    for number, statement in enumerate(statements):
        actions = statement.get("Action") if hasattr(statement, "get") else None
        if (number, None) in gone:
            continue
        if isinstance(actions, list):
            left = [i for i in range(len(actions)) if (number, i) not in gone]
            if not left:
                continue
        keep_statement.append(number)
    if not keep_statement:
        return False
    for number in reversed(range(len(statements))):
        statement = statements[number]
        actions = statement.get("Action") if hasattr(statement, "get") else None
        if number not in keep_statement:
            _remove_statement(node, number)
        elif isinstance(actions, list):
            for index in reversed(range(len(actions))):
                if (number, index) in gone:
                    del actions[index]
    return True


def _remove_statement(node: Any, number: int) -> None:
    if isinstance(node["Statement"], list):
        del node["Statement"][number]
    else:
        node["Statement"] = []


def _detach(found: Layout, group: str, kind: str, name: str) -> None:
    spec = found.files[found.group_files[group]]["groups"][group]
    if kind == "inline":
        del spec["inline_policies"][name]
        if not spec["inline_policies"]:
            del spec["inline_policies"]
    else:
        spec["managed_policies"].remove(name)
        if not spec["managed_policies"]:
            del spec["managed_policies"]


def _save(repo: Path, found: Layout, changed: set[Path]) -> None:
    """Write the changed files; if the repository no longer validates, put them back."""
    before = {path: path.read_text(encoding="utf-8") for path in changed}
    try:
        for path in changed:
            data = found.files[path]
            text = (json.dumps(data, indent=2) + "\n" if path.suffix == ".json"
                    else dump(data))
            _write(repo, path, text)
        load_repository(repo)
    except (RepoError, EditError):
        for path, text in before.items():
            _write(repo, path, text)
        raise


# --- output -------------------------------------------------------------------------------


def _when(use: Use | None) -> str:
    return "never (in AWS's tracking period)" if use is None else \
        f"{use.when.astimezone(datetime.UTC):%Y-%m-%d} by {use.by}"


def render_text(account: str, reports: list[GroupReport], days: int,
                notes: list[str]) -> str:
    lines = [f"account {account}: what group policies grant that no member used in {days} days"]
    lines += [f"  note: {note}" for note in notes]
    lines.append("Unused by every member:")
    for report in reports:
        if report.found:
            lines.append(f"  {report.group}: {_few(report.unused_services, 'service')}"
                         f"{'; ' if report.unused_services and report.unused_actions else ''}"
                         f"{_few(report.unused_actions, 'action')}")
    if not any(r.found for r in reports):
        lines.append("  nothing")
    for report in reports:
        lines += _group_lines(report)
    return "\n".join(lines)


def _few(items: list[str], what: str, shown: int = 8) -> str:
    """A list people read: all of a few, else the first ones and how many more (JSON has
    them all)."""
    if not items:
        return ""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return f"{count(len(items), what)}: {', '.join(items[:shown])}{more}"


def _group_lines(report: GroupReport) -> list[str]:
    return [f"group {report.group}:", *_service_lines(report), *_grant_lines(report),
            *(f"  advice: {a}" for a in report.advice)]


def _service_lines(report: GroupReport) -> list[str]:
    """Unused services first (a few), then those in use with their last use and users."""
    lines = []
    unused = [s for s in report.access.services if s.namespace in report.unused_services]
    for service in unused[:8]:
        lines.append(f"  - {service.namespace}: unused, last {_when(service.last)}")
    if len(unused) > 8:
        lines.append(f"  - ... and {len(unused) - 8} more unused services (--format json)")
    for service in report.access.services:
        if service.namespace not in report.unused_services:
            users = ", ".join(sorted(service.users)) or "?"
            lines.append(f"    {service.namespace}: in use, last {_when(service.last)} "
                         f"(used by {users})")
    if report.unused_actions:
        lines.append(f"  - unused actions of services in use: "
                     f"{_few(report.unused_actions, 'action')}")
    return lines


def _grant_lines(report: GroupReport) -> list[str]:
    """What --write removes, per document; what stays, per reason."""
    lines = []
    by_document: dict[str, list[Grant]] = {}
    for grant in report.removals:
        by_document.setdefault(grant.document, []).append(grant)
    for document, removed in by_document.items():
        where = f"{removed[0].file.name}:{removed[0].line}"
        lines.append(f"  removes from {document} ({where}): "
                     f"{_few([g.pattern for g in removed], 'action')}")
    by_reason: dict[tuple[str, str], list[str]] = {}
    for kept in report.kept:
        by_reason.setdefault((kept.grant.document, kept.reason), []).append(kept.grant.pattern)
    lines += [f"  keeps in {document}: {_few(patterns, 'action')}: {reason}"
              for (document, reason), patterns in by_reason.items()]
    return lines


def as_json(account: str, reports: list[GroupReport], days: int,
            notes: list[str], written: list[Path]) -> dict[str, Any]:
    def use(u: Use | None) -> dict[str, str] | None:
        return None if u is None else {"when": u.when.isoformat(), "by": u.by}

    def grant(g: Grant) -> dict[str, Any]:
        return {"file": str(g.file), "line": g.line, "document": g.document,
                "action": g.pattern}

    return {"account": account, "days": days, "notes": notes,
            "written": [str(p) for p in written],
            "groups": [{"group": r.group, "reported": r.access.reported.isoformat(),
                        "unused_services": r.unused_services,
                        "unused_actions": r.unused_actions,
                        "in_use": [{"service": s.namespace, "last": use(s.last),
                                    "users": {u: t.isoformat() for u, t in s.users.items()}}
                                   for s in r.access.services
                                   if s.namespace not in r.unused_services],
                        "removals": [grant(g) for g in r.removals],
                        "kept": [{**grant(k.grant), "reason": k.reason} for k in r.kept],
                        "advice": r.advice} for r in reports]}


# --- the command --------------------------------------------------------------------------


@dataclass
class Outcome:
    account: str
    reports: list[GroupReport]
    notes: list[str]
    written: list[Path]

    @property
    def found(self) -> bool:
        return bool(self.written) or any(r.found for r in self.reports)


def run(repo: Path, only: str | None, days: int, write_files: bool,
        now: Clock = lambda: datetime.datetime.now(datetime.UTC),
        counter: CallCounter | None = None) -> list[Outcome]:
    """Read every account's last-accessed data, report, and with `write_files` trim."""
    accounts = load_repository(repo, only)
    return for_each_account(accounts, lambda a: _one(repo, a, days, write_files, now, counter))


def _one(repo: Path, account: Account, days: int, write_files: bool, now: Clock,
         counter: CallCounter | None) -> Outcome:
    conn = connect(account.config, counter)
    arns = _group_arns(conn.iam, set(account.desired.groups))
    accesses = Reader(conn.iam).groups(arns)
    found = layout(repo, account)
    mark_other_holders(conn.iam, account, found)
    aws_arns = {arn for arns_of in found.aws_managed.values() for arn in arns_of}
    aws_documents = {arn: _aws_document(conn.iam, arn) for arn in sorted(aws_arns)}
    moment = now()
    history = History(repo, moment)
    reports, found = analyse(repo, account, accesses, days, moment,
                             {a: d for a, d in aws_documents.items() if d is not None}, history,
                             found)
    notes = [] if history.is_git else [
        "not a git repository: the age of a grant is unknown, so nothing is trimmed"]
    old = stale(reports, moment)
    if old:
        notes.append(f"last-accessed data older than 4 hours for {', '.join(old)}: "
                     "it decides nothing; run again for fresh data")
    written: list[Path] = []
    if write_files:
        if old:
            raise AwsError(f"account {account.config.name}: last-accessed data older than "
                           f"4 hours (AWS's report time) for {', '.join(old)}: nothing was "
                           "written; run again for fresh data")
        written = write(repo, reports, found)
    missing = sorted(set(account.desired.groups) - set(arns))
    if missing:
        notes.append(f"not in AWS yet (no data): {', '.join(missing)}")
    return Outcome(account.config.name, reports, notes, written)


def _group_arns(iam: Any, managed: set[str]) -> dict[str, str]:
    """name -> ARN of the managed groups that exist live (names compared as IAM does)."""
    wanted = {name.lower(): name for name in managed}
    found = {}
    for page in iam.get_paginator("list_groups").paginate():
        for group in page["Groups"]:
            name = wanted.get(group["GroupName"].lower())
            if name is not None:
                found[name] = group["Arn"]
    return found


def _aws_document(iam: Any, arn: str) -> Any:
    try:
        version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=arn, VersionId=version)
    except ClientError:
        return None
    raw = document["PolicyVersion"]["Document"]
    return json.loads(unquote(raw)) if isinstance(raw, str) else raw


Clock = Callable[[], datetime.datetime]
