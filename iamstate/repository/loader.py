"""The repository on disk -> one `Account` (config + desired `State`) per account folder.

Every problem is collected with `file:line` and raised together as one `RepoError`.
Nothing here calls AWS.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate.analysis.lint import ERROR, OFF, WARNING, severity
from iamstate.analysis.lint import check as check_lint
from iamstate.analysis.meaning import UNREADABLE, Reach
from iamstate.errors import Problem, RepoError, shown
from iamstate.model.arn import POLICY_ARN, account_of
from iamstate.model.entities import (
    AcceptedRisk,
    Account,
    AccountConfig,
    Group,
    Ignore,
    Location,
    ManagedPolicy,
    PasswordPolicy,
    State,
    User,
    ignored,
    matching_glob,
)
from iamstate.model.frozen import FrozenDict
from iamstate.model.quotas import (
    GROUP_INLINE_TOTAL_MAX,
    MANAGED_POLICY_MAX,
    MAX_GROUPS_PER_USER,
    MAX_MANAGED_POLICIES_PER_GROUP,
)
from iamstate.plan.secrets import check_public_key
from iamstate.repository import schema
from iamstate.repository.expiry import parse_date
from iamstate.repository.policy import (
    PolicyDocument,
    lint,
    quota_length,
    substitute,
)
from iamstate.repository.strategy import Category, Strategy
from iamstate.repository.yamlio import (
    Unreadable,
    json_lines,
    line_of,
    read_json,
    read_yaml,
    to_plain,
)

ACCOUNT_FILE = "account.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
POLICY_SUFFIXES = (".json", *YAML_SUFFIXES)
TAG_PUNCTUATION = frozenset("_.:/=+-@")
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)
    severity: str = ERROR  # of what is added (warnings: a warning, or their rule's kind)

    def add(self, file: Path, line: int, message: str, rule: str = "",
            severity: str | None = None) -> None:
        problem = Problem(file, line, message, rule, severity or self.severity)
        if problem not in self.items:
            self.items.append(problem)


@dataclass(frozen=True)
class Declared:
    """One declaration in a resource file: its data, where it is, and its tree for lines."""

    name: str
    data: Mapping[str, Any]
    location: Location
    tree: Any
    path: tuple[str, str]

    def line(self, *steps: Any) -> int:
        return line_of(self.tree, [*self.path, *steps])

    def lines_under(self, *prefix: Any) -> Callable[[tuple[Any, ...]], int]:
        """Line numbers of paths inside the value at `prefix` (e.g. a document in place)."""
        return lambda path: self.line(*prefix, *path)


@dataclass(frozen=True)
class RawDocument:
    """A file in policies/: its plain data, and a round-trip tree for line numbers."""

    file: Path
    data: Any
    tree: Any

    def line(self, path: tuple[Any, ...]) -> int:
        return line_of(self.tree, path)


@dataclass(frozen=True)
class Tree:
    """The repository's files, read only from inside its root.

    A pull request can add a symbolic link (git stores them) to anything on the CI machine,
    a private key say; a link that leads outside the root is refused and never opened, so
    its contents can reach no message or log."""

    root: Path
    real_root: Path
    problems: Problems

    def inside(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.real_root)
        except (ValueError, OSError):
            self.problems.add(path, 1, (
                "is a link that leads outside the repository: iamstate reads only files "
                "inside it; copy the file into the repository or remove the link"))
            return False
        return True

    def folders(self, parent: Path) -> list[Path]:
        if not parent.is_dir() or not self.inside(parent):
            return []
        return sorted(p for p in parent.iterdir() if p.is_dir() and self.inside(p))

    def files(self, folder: Path, suffixes: tuple[str, ...], deep: bool) -> list[Path]:
        """Files under `folder` with these suffixes, links followed only inside the root
        (each real folder once, so a link loop ends)."""
        if not folder.is_dir() or not self.inside(folder):
            return []
        found: list[Path] = []
        seen: set[Path] = set()
        for top, dirs, names in os.walk(folder, followlinks=True):
            here = Path(top)
            real = here.resolve()
            if real in seen:
                dirs[:] = []
                continue
            seen.add(real)
            dirs[:] = sorted(d for d in dirs if self.inside(here / d)) if deep else []
            for name in names:
                path = here / name
                if path.suffix in suffixes and self.inside(path) and path.is_file():
                    found.append(path)
        return sorted(found)


def load_repository(root: Path, only: str | Sequence[str] | None = None) -> list[Account]:
    """Load and validate every account (or `only` those). Raises RepoError."""
    problems = Problems()
    tree = Tree(root, root.resolve(), problems)
    accounts_dir = root / "accounts"
    if not root.is_dir():
        raise RepoError([Problem(root, 0, (
            "the repository folder does not exist: pass --repo with the folder that holds "
            "accounts/ (the default is the current folder)"))])
    if not accounts_dir.is_dir():
        raise RepoError([Problem(accounts_dir, 0, (
            "no accounts/ folder: create accounts/<name>/account.yaml (or pass --repo DIR)"))])
    every = tree.folders(accounts_dir)
    for folder in every:
        if not ACCOUNT_NAME.fullmatch(folder.name):
            problems.add(folder, 0, (
                f"account folder {shown(folder.name)}: use letters, digits, '.', '_' and '-' "
                "(the name appears in plans, PR comments and CI job names)"))
    folders = every
    if only is not None:
        wanted = [only] if isinstance(only, str) else list(only)
        missing = [name for name in wanted if name not in {p.name for p in every}]
        if missing:
            names = ", ".join(p.name for p in every) or "none"
            raise RepoError([*problems.items, *(Problem(
                accounts_dir / name, 0, f"no account {shown(name)} here (accounts: {names})")
                for name in missing)])
        folders = [accounts_dir / name for name in sorted(set(wanted))]
    documents = _load_policy_files(tree, root / "policies")
    accounts = [_load_account(tree, folder, documents) for folder in folders]
    _check_account_ids_unique(tree, every, accounts)
    if problems.items:
        raise RepoError(problems.items)
    return [a for a in accounts if a is not None]


def _check_account_ids_unique(
    tree: Tree, folders: list[Path], loaded: list[Account | None]
) -> None:
    """Two folders for one AWS account would each delete what the other declares, on every
    apply: refuse, naming both account.yaml files (also when only one account is loaded)."""
    ids = {a.config.directory: a.config.account_id for a in loaded if a is not None}
    involved = set(ids.values())
    for folder in folders:
        if folder not in ids:
            found = _peek_account_id(tree, folder / ACCOUNT_FILE)
            if found is not None:
                ids[folder] = found
    first: dict[str, Path] = {}
    for folder in sorted(ids):
        account_id = ids[folder]
        if account_id in first and account_id in involved:
            tree.problems.add(folder / ACCOUNT_FILE, 1, (
                f"account_id {account_id} is also declared by {first[account_id] / ACCOUNT_FILE}:"
                " one folder per AWS account (two would delete each other's users on every "
                "apply); merge them"))
        else:
            first[account_id] = folder


def _peek_account_id(tree: Tree, path: Path) -> str | None:
    """The account_id of an account not being loaded; its other errors are not ours now."""
    if not path.is_file() or not tree.inside(path):
        return None
    try:
        data = read_yaml(path)
    except Unreadable:
        return None
    value = data.get("account_id") if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else None


def _load_policy_files(tree: Tree, folder: Path) -> dict[str, RawDocument]:
    problems = tree.problems
    documents: dict[str, RawDocument] = {}
    for path in tree.files(folder, POLICY_SUFFIXES, deep=False):
        try:
            if path.suffix == ".json":
                data = read_json(path)
                tree = json_lines(path)
            else:
                tree = read_yaml(path)
                data = to_plain(tree)
        except Unreadable as error:
            problems.items.append(error.problem)
            continue
        if path.stem in documents:
            problems.add(path, 1, (f"policy {shown(path.stem)} is also defined in "
                                   f"{documents[path.stem].file}: keep one file per name"))
            continue
        raw = RawDocument(path, data, tree)
        documents[path.stem] = raw
        for where, message in lint(data):
            problems.add(path, raw.line(where), message)
    return documents


def _load_account(
    tree: Tree, folder: Path, documents: dict[str, RawDocument]
) -> Account | None:
    problems = tree.problems
    loaded = _load_config(tree, folder)
    if loaded is None:
        return None
    config, password_policy = loaded
    declared = _load_declarations(tree, folder)
    builder = _StateBuilder(config, documents, problems)
    desired = builder.build(declared, password_policy)
    _check_accepted_risks(config, desired, problems, builder.warnings)
    if config.role_arn and not (config.plan_role_arn and config.apply_role_arn):
        builder.warnings.add(folder / ACCOUNT_FILE, 1, (
            "role_arn is one role for plan and apply: any pull request's plan job can then "
            "reach a role that writes IAM (a PR runs its own workflow file), bypassing review;"
            " declare a read-only plan_role_arn and an apply_role_arn (see "
            "`iamstate bootstrap`)"))
    if config.plan_role_arn and config.plan_role_arn == config.apply_role_arn:
        builder.warnings.add(folder / ACCOUNT_FILE, 1, (
            "plan_role_arn and apply_role_arn are the same role: the single-role risk of "
            "role_arn under another name (any pull request's plan job can reach a role that "
            "writes IAM); make the plan role a read-only role of its own (see "
            "`iamstate bootstrap`)"))
    return Account(config, desired, tuple(builder.warnings.items))


def _check_accepted_risks(config: AccountConfig, desired: State, problems: Problems,
                          warnings: Problems) -> None:
    """An acceptance must name a finding iamstate makes and a principal it can be about
    (declared, or ignored: live and never managed), else it accepts nothing and the plan
    fails closed later; one without a reach accepts the path however far it grows."""
    from iamstate.analysis.escalation import SEVERITIES  # the finding ids (loaded only when needed)

    ids = sorted({*SEVERITIES, UNREADABLE})
    for risk in config.accepted_risks:
        where = risk.source or Location(config.directory / ACCOUNT_FILE, 0)
        if risk.id not in ids:
            problems.add(where.file, where.line, (
                f"accepted_risks: {shown(risk.id)} is no finding id iamstate reports"
                f"{_did_you_mean(risk.id, ids)}; the ids are in the plan's findings"))
        kind, _, name = risk.principal.partition("/")
        names = desired.users if kind == "user" else desired.groups
        globs = config.ignore.users if kind == "user" else config.ignore.groups
        if name not in names and not ignored(name, globs):
            known = [f"{kind}/{n}" for n in sorted(names)]
            problems.add(where.file, where.line, (
                f"accepted_risks: {risk.principal} is neither declared nor ignored, so the "
                f"acceptance is about nobody{_did_you_mean(risk.principal, known)}; name a "
                "declared user/NAME or group/NAME"))
        if risk.reach is None:
            warnings.add(where.file, where.line, (
                f"accepted_risks: {risk.id} for {risk.principal} has no reach, so it accepts "
                "the path however far it grows; pin it: run `iamstate plan` and paste the "
                "entry it prints (with `reach:`) for this finding"))


def _did_you_mean(value: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _load_config(
    files: Tree, folder: Path
) -> tuple[AccountConfig, PasswordPolicy | None] | None:
    problems = files.problems
    path = folder / ACCOUNT_FILE
    if not path.is_file():
        problems.add(path, 0, f"missing: every account folder needs {ACCOUNT_FILE} with "
                              'account_id: "123456789012"')
        return None
    if not files.inside(path):
        return None
    try:
        tree = read_yaml(path)
    except Unreadable as error:
        problems.items.append(error.problem)
        return None
    found = schema.check(schema.ACCOUNT, tree, path)
    problems.items.extend(found)
    if found or not isinstance(tree, Mapping):
        return None
    data = to_plain(tree)
    categories = []
    for name, spec in (data.get("categories") or {}).items():
        pattern = (spec or {}).get("match")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                problems.add(path, line_of(tree, ["categories", name, "match"]), (
                    f"categories > {name} > match: {shown(pattern)} is not a valid regular "
                    f"expression ({error}): write e.g. \"^HeadlessUser-\""))
                continue
        categories.append(Category(name, pattern, (spec or {}).get("kind", "")))
    ignore = data.get("ignore") or {}
    password = data.get("password_policy")
    _check_group_roles(problems, path, tree, data)
    _check_role_accounts(problems, path, tree, data)
    config = AccountConfig(
        name=folder.name,
        account_id=data["account_id"],
        directory=folder,
        role_arn=data.get("role_arn"),
        plan_role_arn=data.get("plan_role_arn"),
        apply_role_arn=data.get("apply_role_arn"),
        partition=data.get("partition", "aws"),
        common_groups=tuple(data.get("common_groups") or ()),
        categories=tuple(categories),
        max_deletions=(data.get("safety") or {}).get("max_deletions", 5),
        ignore=Ignore(*(tuple(ignore.get(k) or ())
                        for k in ("users", "groups", "policies", "paths"))),
        lint=FrozenDict(data.get("lint") or {}),
        accepted_risks=tuple(
            AcceptedRisk(r["id"], r["principal"], r["reason"],
                         Location(path, line_of(tree, ["accepted_risks", i])),
                         tuple(Reach.from_json(part) for part in r["reach"])
                         if "reach" in r else None)
            for i, r in enumerate(data.get("accepted_risks") or ())),
    )
    return config, _password_policy(password)


def _check_role_accounts(problems: Problems, path: Path, tree: Any,
                         data: Mapping[str, Any]) -> None:
    """A role of another account would be assumed across accounts, and plan and apply
    would then check the wrong account's credentials: the roles must be the account's."""
    for key in ("role_arn", "plan_role_arn", "apply_role_arn"):
        arn = data.get(key)
        owner = account_of(arn) if isinstance(arn, str) else None
        if owner is not None and owner != data["account_id"]:
            problems.add(path, line_of(tree, [key]), (
                f"{key}: {arn} is a role of account {owner}, not of account_id "
                f"{data['account_id']}: use a role of this account (see `iamstate "
                "bootstrap`)"))


def _check_group_roles(
    problems: Problems, path: Path, tree: Any, data: Mapping[str, Any]
) -> None:
    """A group is common (everyone) or a category (one kind of user), never both: a common
    group that is also a category puts every user in that category's rules (headless users
    denied without MFA, say). Neither may be ignored: iamstate must manage them."""
    common = tuple(data.get("common_groups") or ())
    categories = tuple(Category(c) for c in data.get("categories") or {})
    strategy = Strategy(common, categories)
    ignored_globs = tuple((data.get("ignore") or {}).get("groups") or ())
    for name in strategy.conflicts():
        problems.add(path, line_of(tree, ["categories", name]), (
            f"group {shown(name)} is both a common group and a category: a common group holds "
            "every user, a category one kind of user; use two groups"))
    for name in strategy.implicit_groups():
        glob = matching_glob(name, ignored_globs)
        if glob is not None:
            problems.add(path, line_of(tree, ["ignore", "groups"]), (
                f"group {shown(name)} is a common or category group but matches ignore glob "
                f"{shown(glob)}: iamstate must manage it; narrow the glob"))


def _password_policy(fields: dict[str, Any] | None) -> PasswordPolicy | None:
    return None if fields is None else PasswordPolicy.from_yaml(fields)


BROKEN = None  # a declaration whose errors are already reported: known, but not built


def _load_declarations(
    files: Tree, folder: Path
) -> dict[str, dict[str, Declared | None]]:
    """users/groups/policies by name, across every resource file; duplicates name both places."""
    declared: dict[str, dict[str, Declared | None]] = {"users": {}, "groups": {},
                                                         "policies": {}}
    folded: dict[str, dict[str, Declared]] = {"users": {}, "groups": {}, "policies": {}}
    problems = files.problems
    for path in files.files(folder, YAML_SUFFIXES, deep=True):
        if path == folder / ACCOUNT_FILE:
            continue
        try:
            tree = read_yaml(path)
        except Unreadable as error:
            problems.items.append(error.problem)
            continue
        found = schema.check_paths(schema.RESOURCES, tree, path)
        problems.items.extend(problem for _, problem in found)
        # A broken entry is skipped; the rest of the file is still checked, so one run
        # reports every error, not only the structural ones.
        broken = {where[:2] for where, _ in found}
        if tree is None or any(len(where) < 2 for where in broken):
            continue
        for kind in ("users", "groups", "policies"):
            for name, data in (tree.get(kind) or {}).items():
                if (kind, name) in broken:
                    declared[kind].setdefault(str(name), BROKEN)
                    continue
                location = Location(path, line_of(tree, [kind, name]))
                entry = Declared(str(name), to_plain(data) or {}, location, tree, (kind, name))
                # IAM names are unique case-insensitively: Alice and alice cannot coexist.
                previous = folded[kind].get(str(name).lower())
                if previous is not None:
                    problems.add(path, location.line, (
                        f"{kind[:-1]} {shown(name)} is declared twice: here and at "
                        f"{previous.location} (names are unique ignoring case): keep one"))
                    continue
                folded[kind][str(name).lower()] = entry
                declared[kind][str(name)] = entry
    return declared


class _StateBuilder:
    """Turns declarations into the desired State, checking every cross-reference."""

    def __init__(
        self, config: AccountConfig, documents: dict[str, RawDocument], problems: Problems
    ) -> None:
        self.config = config
        self.documents = documents
        self.problems = problems
        self.variables = {"account_id": config.account_id, "partition": config.partition}
        self.declared_policies: set[str] = set()
        self.warnings = Problems(severity=WARNING)

    def build(
        self, declared: dict[str, dict[str, Declared | None]],
        password_policy: PasswordPolicy | None,
    ) -> State:
        self._check_not_ignored(declared)
        # Names declared but broken still count as declared, so references to them do not
        # raise a second, misleading "not declared" error.
        self.declared_policies = set(declared["policies"])
        policies = {
            name: policy for name, entry in declared["policies"].items()
            if entry is not None and (policy := self._policy(entry)) is not None
        }
        groups = {
            name: group for name, entry in declared["groups"].items()
            if entry is not None and (group := self._group(entry, policies)) is not None
        }
        for implicit in self.config.strategy.implicit_groups():
            groups.setdefault(implicit, Group(implicit))
        known_groups = set(groups) | set(declared["groups"])
        users = {
            name: user for name, entry in declared["users"].items()
            if entry is not None and (user := self._user(entry, known_groups)) is not None
        }
        return State(users, groups, policies, password_policy)

    def _check_not_ignored(self, declared: dict[str, dict[str, Declared | None]]) -> None:
        globs = {"users": self.config.ignore.users, "groups": self.config.ignore.groups,
                 "policies": self.config.ignore.policies}
        for kind, entries in declared.items():
            for name, entry in entries.items():
                if entry is None:
                    continue
                hit = matching_glob(name, globs[kind])
                if hit is not None:
                    self.problems.add(entry.location.file, entry.location.line, (
                        f"{kind[:-1]} {shown(name)} is declared but matches ignore glob "
                        f"{shown(hit)} in account.yaml: remove the declaration or narrow the glob"))
                # no `path:` is IAM's default `/`: `paths: ["/"]` hides that entry too
                path = entry.data.get("path", "/") if kind != "policies" and isinstance(
                    entry.data, Mapping) else None
                under = self.config.ignore.under_path(path) if isinstance(path, str) else None
                if under is not None:
                    self.problems.add(entry.location.file, entry.location.line, (
                        f"{kind[:-1]} {shown(name)} is declared under path {shown(path)}, which "
                        f"account.yaml ignores ({shown(under)}): remove the declaration or the "
                        "ignored path"))

    def _document(
        self, ref: Any, where: Path, line_in: Callable[[tuple[Any, ...]], int], label: str
    ) -> PolicyDocument | None:
        """Resolve a document reference (a policies/ name or a document in place)."""
        if isinstance(ref, str):
            raw = self.documents.get(ref)
            if raw is None:
                close = difflib.get_close_matches(ref, list(self.documents), n=1)
                hint = f"did you mean {shown(close[0])}? " if close else ""
                self.problems.add(where, line_in(()), (
                    f"{label}: no policy document {shown(ref)}: {hint}create policies/{ref}.json "
                    "or write the document in place"))
                return None
            data, file, line_in = raw.data, raw.file, raw.line
        else:
            data, file = ref, where
            for path, message in lint(data):
                self.problems.add(where, line_in(path), f"{label}: {message}")

        if lint(data):
            return None  # already reported (for files, once per file)
        unknown: list[tuple[tuple[Any, ...], str]] = []
        substituted = substitute(data, self.variables, lambda path, name: unknown.append(
            (path, name)))
        for path, name in unknown:
            self.problems.add(file, line_in(path), (
                f"unknown variable ${{{name}}}: iamstate substitutes ${{account_id}} and "
                "${partition}; IAM variables look like ${aws:username}"))
        for found in check_lint(data):
            level = severity(found.rule, self.config.lint)
            if level == OFF:
                continue
            if level == ERROR:
                self.problems.add(file, line_in(found.path), (
                    f"{label}: {found.message} ({found.rule.id}; lint: "
                    f"{{{found.rule.setting}: warn}} in account.yaml makes it a warning)"),
                    found.rule.id)
            else:
                self.warnings.add(file, line_in(found.path), (
                    f"{label}: {level} {found.rule.id}: {found.message}"), found.rule.id, level)
        return None if unknown else PolicyDocument(substituted)

    def _policy(self, entry: Declared) -> ManagedPolicy | None:
        data = entry.data
        document = self._document(data["document"], entry.location.file,
                                  entry.lines_under("document"),
                                  f"policy {entry.name}")
        if document is None:
            return None
        size = quota_length(document.document)
        if size > MANAGED_POLICY_MAX:
            self.problems.add(entry.location.file, entry.line("document"), (
                f"policy {entry.name}: document is {size:,} characters without whitespace, "
                f"over IAM's {MANAGED_POLICY_MAX:,}: split it into several policies"))
        description = data.get("description", "")
        if any(not (c in "\t\n\r" or " " <= c <= "\xff") for c in description):
            self.problems.add(entry.location.file, entry.line("description"), (
                f"policy {entry.name}: description has characters AWS refuses: use printable "
                "Latin-1 text"))
        return ManagedPolicy(entry.name, document, data.get("path", "/"), description,
                             source=entry.location)

    def _group(self, entry: Declared, policies: dict[str, ManagedPolicy]) -> Group | None:
        data = entry.data
        file = entry.location.file
        inline: list[tuple[str, PolicyDocument]] = []
        for name, ref in (data.get("inline_policies") or {}).items():
            document = self._document(
                ref, file, entry.lines_under("inline_policies", name),
                f"group {entry.name} > inline policy {name}")
            if document is not None:
                inline.append((name, document))
        total = sum(quota_length(d.document) for _, d in inline)
        if total > GROUP_INLINE_TOTAL_MAX:
            self.problems.add(file, entry.line("inline_policies"), (
                f"group {entry.name}: inline policies total {total:,} characters without "
                f"whitespace, over IAM's {GROUP_INLINE_TOTAL_MAX:,} per group: move some into "
                "customer managed policies"))
        arns = set()
        refs = data.get("managed_policies") or []
        for index, ref in enumerate(refs):
            arn = self._managed_arn(ref, policies, file, entry.line("managed_policies", index),
                                    entry.name)
            if arn is not None:
                arns.add(arn)
        if len(refs) > MAX_MANAGED_POLICIES_PER_GROUP:
            self.problems.add(file, entry.line("managed_policies"), (
                f"group {entry.name}: {len(refs)} managed policies, over IAM's limit of "
                f"{MAX_MANAGED_POLICIES_PER_GROUP} per group: merge some or split the group"))
        return Group(entry.name, data.get("path", "/"), tuple(sorted(inline)),
                     frozenset(arns), source=entry.location)

    def _managed_arn(
        self, ref: str, policies: dict[str, ManagedPolicy], file: Path, line: int, group: str
    ) -> str | None:
        """The ARN a group's `managed_policies` entry names, or None with the error said:
        a declared policy by name, an AWS managed ARN, or an own-account ARN of a declared
        or ignored policy (anything else AWS refuses, or iamstate would delete it)."""
        if ref.startswith("arn:"):
            return self._policy_arn(ref, policies, file, line, group)
        policy = policies.get(ref)
        if policy is None and ref in self.declared_policies:
            return None  # declared but invalid: its own error is already reported
        if policy is None:
            close = difflib.get_close_matches(ref, list(policies), n=1)
            hint = f"did you mean {shown(close[0])}? " if close else ""
            self.problems.add(file, line, (
                f"group {group}: managed policy {shown(ref)} is not declared under policies: "
                f"{hint}declare it, or write an AWS managed policy as its full ARN"))
            return None
        return self.config.policy_arn(policy.path, policy.name)

    def _policy_arn(
        self, ref: str, policies: dict[str, ManagedPolicy], file: Path, line: int, group: str
    ) -> str | None:
        def fail(message: str) -> None:
            self.problems.add(file, line, f"group {group}: managed policy {shown(ref)}: {message}")

        unknown: list[str] = []
        arn = str(substitute(ref, self.variables, lambda _path, name: unknown.append(name)))
        if unknown:
            fail(f"unknown variable ${{{unknown[0]}}}: only ${{account_id}} and ${{partition}} "
                 "are substituted here")
            return None
        found = POLICY_ARN.fullmatch(arn)
        if found is None:
            fail("not a managed policy ARN: write arn:aws:iam::aws:policy/NAME for an AWS "
                 "managed policy, or the name of a policy declared under policies:")
            return None
        if found["partition"] != self.config.partition:
            fail(f"partition {shown(found['partition'])} is not this account's "
                 f"{shown(self.config.partition)}: write arn:${{partition}}:...")
            return None
        owner, name = found["account"], found["name"]
        if owner == "aws":
            return arn  # AWS managed: that it exists is checked by plan, which reads AWS
        if owner != self.config.account_id:
            fail(f"it belongs to account {owner}: a group can use AWS managed policies and "
                 f"customer managed policies of its own account ({self.config.account_id})")
            return None
        declared = next((p for p in policies.values() if p.name.lower() == name.lower()), None)
        if declared is not None:
            own = self.config.policy_arn(declared.path, declared.name)
            if own != arn:
                fail(f"policy {shown(declared.name)} is declared with path "
                     f"{shown(declared.path)}, so its ARN is {own}: write its name, "
                     f"{declared.name}, instead")
                return None
            return arn
        if name in self.declared_policies:
            return None  # declared but invalid: its own error is already reported
        if ignored(name, self.config.ignore.policies):
            return arn  # not iamstate's to manage, but a group may use it
        fail(f"no policy {shown(name)} is declared under policies: (and it is not ignored), so "
             "iamstate would attach it and delete it in the same apply: declare it, or write "
             "its name under ignore: policies: in account.yaml")
        return None

    def _user(self, entry: Declared, known_groups: set[str]) -> User | None:
        data = entry.data
        file = entry.location.file
        ok = True

        def fail(line: int, message: str) -> None:
            nonlocal ok
            ok = False
            self.problems.add(file, line, f"user {entry.name}: {message}")

        strategy = self.config.strategy
        category, error = strategy.infer_category(entry.name, data.get("category"))
        if error:
            fail(entry.line("category") if "category" in data else entry.location.line, error)
        names, expiring = self._memberships(entry, fail)
        expires = self._expires(entry, fail)
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
            self.warnings.add(file, entry.line("console_access"), (
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

    @staticmethod
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

    @staticmethod
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


def tag_character_problem(text: str) -> str | None:
    """AWS allows letters, digits, spaces and _ . : / = + - @ in tag keys and values
    (`[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`) and refuses the call otherwise, halfway through an
    apply; moto accepts anything."""
    for char in text:
        if char in TAG_PUNCTUATION or unicodedata.category(char)[0] in "LZN":
            continue
        return (f"AWS refuses the character {shown(char)} in tags: use letters, digits, spaces and "
                "_ . : / = + - @ (e.g. R-and-D for R&D)")
    return None

