"""The repository on disk -> one `Account` (config + desired `State`) per account folder.

Every problem is collected with `file:line` and raised together as one `RepoError`.
Nothing here calls AWS.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iamstate import schema
from iamstate.actions import unknown_actions
from iamstate.errors import Problem, RepoError
from iamstate.model import (
    Account,
    AccountConfig,
    Category,
    Group,
    Ignore,
    Location,
    ManagedPolicy,
    PasswordPolicy,
    State,
    User,
)
from iamstate.policy import (
    GROUP_INLINE_TOTAL_MAX,
    MANAGED_POLICY_MAX,
    PolicyDocument,
    lint,
    quota_length,
    substitute,
)
from iamstate.secrets import check_public_key
from iamstate.strategy import infer_category
from iamstate.yamlio import Unreadable, json_lines, line_of, read_json, read_yaml, to_plain

ACCOUNT_FILE = "account.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
POLICY_SUFFIXES = (".json", *YAML_SUFFIXES)
MAX_GROUPS_PER_USER = 10
MAX_MANAGED_POLICIES_PER_GROUP = 10


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)

    def add(self, file: Path, line: int, message: str) -> None:
        problem = Problem(file, line, message)
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


def load_repository(root: Path, only: str | None = None) -> list[Account]:
    """Load and validate every account (or `only` that one). Raises RepoError."""
    problems = Problems()
    accounts_dir = root / "accounts"
    if not accounts_dir.is_dir():
        raise RepoError([Problem(accounts_dir, 0, (
            "no accounts/ folder: create accounts/<name>/account.yaml (or pass --repo DIR)"))])
    folders = sorted(p for p in accounts_dir.iterdir() if p.is_dir())
    if only is not None:
        if only not in {p.name for p in folders}:
            names = ", ".join(p.name for p in folders) or "none"
            raise RepoError([Problem(accounts_dir / only, 0,
                                     f"no account {only!r} here (accounts: {names})")])
        folders = [accounts_dir / only]
    documents = _load_policy_files(root / "policies", problems)
    accounts = [_load_account(folder, documents, problems) for folder in folders]
    if problems.items:
        raise RepoError(problems.items)
    return [a for a in accounts if a is not None]


def _load_policy_files(folder: Path, problems: Problems) -> dict[str, RawDocument]:
    documents: dict[str, RawDocument] = {}
    if not folder.is_dir():
        return documents
    for path in sorted(folder.iterdir()):
        if path.suffix not in POLICY_SUFFIXES or not path.is_file():
            continue
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
            problems.add(path, 1, (f"policy {path.stem!r} is also defined in "
                                   f"{documents[path.stem].file}: keep one file per name"))
            continue
        raw = RawDocument(path, data, tree)
        documents[path.stem] = raw
        for where, message in lint(data):
            problems.add(path, raw.line(where), message)
    return documents


def _load_account(
    folder: Path, documents: dict[str, RawDocument], problems: Problems
) -> Account | None:
    loaded = _load_config(folder, problems)
    if loaded is None:
        return None
    config, password_policy = loaded
    declared = _load_declarations(folder, problems)
    builder = _StateBuilder(config, documents, problems)
    desired = builder.build(declared, password_policy)
    return Account(config, desired, tuple(builder.warnings.items))


def _load_config(
    folder: Path, problems: Problems
) -> tuple[AccountConfig, PasswordPolicy | None] | None:
    path = folder / ACCOUNT_FILE
    if not path.is_file():
        problems.add(path, 0, f"missing: every account folder needs {ACCOUNT_FILE} with "
                              'account_id: "123456789012"')
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
                    f"categories > {name} > match: {pattern!r} is not a valid regular "
                    f"expression ({error}): write e.g. \"^HeadlessUser-\""))
                continue
        categories.append(Category(name, pattern, (spec or {}).get("kind", "")))
    ignore = data.get("ignore") or {}
    password = data.get("password_policy")
    config = AccountConfig(
        name=folder.name,
        account_id=data["account_id"],
        directory=folder,
        role_arn=data.get("role_arn"),
        partition=data.get("partition", "aws"),
        common_groups=tuple(data.get("common_groups") or ()),
        categories=tuple(categories),
        max_deletions=(data.get("safety") or {}).get("max_deletions", 5),
        ignore=Ignore(*(tuple(ignore.get(k) or ()) for k in ("users", "groups", "policies"))),
        unknown_actions=(data.get("lint") or {}).get("unknown_actions", "error"),
    )
    return config, _password_policy(password)


def _password_policy(fields: dict[str, Any] | None) -> PasswordPolicy | None:
    """snake_case account.yaml fields -> UpdateAccountPasswordPolicy's parameter names."""
    if fields is None:
        return None
    api = {"".join(part.capitalize() for part in k.split("_")): v for k, v in fields.items()}
    return PasswordPolicy.from_fields(api)


BROKEN = None  # a declaration whose errors are already reported: known, but not built


def _load_declarations(
    folder: Path, problems: Problems
) -> dict[str, dict[str, Declared | None]]:
    """users/groups/policies by name, across every resource file; duplicates name both places."""
    declared: dict[str, dict[str, Declared | None]] = {"users": {}, "groups": {},
                                                         "policies": {}}
    folded: dict[str, dict[str, Declared]] = {"users": {}, "groups": {}, "policies": {}}
    files = sorted(p for p in folder.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file())
    for path in files:
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
                        f"{kind[:-1]} {name!r} is declared twice: here and at "
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
        self.warnings = Problems()

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
        for implicit in (*self.config.common_groups, *(c.group for c in self.config.categories)):
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
                hit = next((g for g in globs[kind] if fnmatch.fnmatchcase(name, g)), None)
                if hit is not None:
                    self.problems.add(entry.location.file, entry.location.line, (
                        f"{kind[:-1]} {name!r} is declared but matches ignore glob {hit!r} in "
                        "account.yaml: remove the declaration or narrow the glob"))

    def _document(
        self, ref: Any, where: Path, line_in: Callable[[tuple[Any, ...]], int], label: str
    ) -> PolicyDocument | None:
        """Resolve a document reference (a policies/ name or a document in place)."""
        if isinstance(ref, str):
            raw = self.documents.get(ref)
            if raw is None:
                close = difflib.get_close_matches(ref, list(self.documents), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.problems.add(where, line_in(()), (
                    f"{label}: no policy document {ref!r}: {hint}create policies/{ref}.json "
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
        strict = self.config.unknown_actions == "error"
        for path, message in unknown_actions(data):
            (self.problems if strict else self.warnings).add(file, line_in(path), (
                f"{label}: {message}" + ("" if not strict else
                                        " (lint: {unknown_actions: warn} in account.yaml "
                                        "makes this a warning)")))
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
        return ManagedPolicy(entry.name, document, data.get("path", "/"),
                             data.get("description", ""), source=entry.location)

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
        if ref.startswith("arn:"):
            return ref
        policy = policies.get(ref)
        if policy is None and ref in self.declared_policies:
            return None  # declared but invalid: its own error is already reported
        if policy is None:
            close = difflib.get_close_matches(ref, list(policies), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            self.problems.add(file, line, (
                f"group {group}: managed policy {ref!r} is not declared under policies: "
                f"{hint}declare it, or write an AWS managed policy as its full ARN"))
            return None
        return self.config.policy_arn(policy.path, policy.name)

    def _user(self, entry: Declared, known_groups: set[str]) -> User | None:
        data = entry.data
        file = entry.location.file
        ok = True

        def fail(line: int, message: str) -> None:
            nonlocal ok
            ok = False
            self.problems.add(file, line, f"user {entry.name}: {message}")

        category, error = infer_category(entry.name, data.get("category"),
                                         self.config.categories)
        if error:
            fail(entry.line("category") if "category" in data else entry.location.line, error)
        groups = set(data.get("groups") or ())
        for index, group in enumerate(data.get("groups") or ()):
            if group not in known_groups:
                close = difflib.get_close_matches(group, sorted(known_groups), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                fail(entry.line("groups", index), (
                    f"group {group!r} is not declared: {hint}declare it under groups:"))
            elif group in {c.group for c in self.config.categories} and group != category:
                fail(entry.line("groups", index), (
                    f"group {group!r} is a category group; a user is in exactly one category: "
                    "use category: instead"))
        groups.update(self.config.common_groups)
        if category:
            groups.add(category)
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
        if not ok:
            return None
        return User(entry.name, data.get("path", "/"), frozenset(groups),
                    tuple(sorted((str(k), str(v)) for k, v in tags.items())),
                    console_access=console, public_key=public_key, source=entry.location)


def ignored(name: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)

