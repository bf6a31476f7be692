"""The repository on disk -> one `Account` (config + desired `State`) per account folder.

Every problem is collected with `file:line` and raised together as one `RepoError`.
Nothing here calls AWS.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from iamstate.analysis.lint import ERROR, OFF, WARNING, severity
from iamstate.analysis.lint import check as check_lint
from iamstate.analysis.meaning import UNREADABLE
from iamstate.analysis.reach import Reach
from iamstate.entities.registry import ENTITIES, entity_of, in_order
from iamstate.errors import Problem, RepoError, shown
from iamstate.model.account import (
    AcceptedRisk,
    Account,
    AccountConfig,
    Ignore,
    ignored,
    matching_glob,
)
from iamstate.model.arn import account_of
from iamstate.model.frozen import FrozenDict
from iamstate.model.location import Location
from iamstate.model.state import ONE, State
from iamstate.repository import schema
from iamstate.repository.declared import Declared, Problems, tag_character_problem
from iamstate.repository.policy import (
    PolicyDocument,
    lint,
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

__all__ = ["Declared", "Problems", "load_repository", "tag_character_problem"]
T = TypeVar("T")
ACCOUNT_FILE = "account.yaml"
IGNORE_KEYS = ("users", "groups", "policies", "paths")  # Ignore's own fields
YAML_SUFFIXES = (".yaml", ".yml")
POLICY_SUFFIXES = (".json", *YAML_SUFFIXES)
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)


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
    config, in_config = loaded
    declared = {**_load_declarations(tree, folder), **in_config}
    builder = _StateBuilder(config, documents, problems, declared)
    desired = builder.build()
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
) -> tuple[AccountConfig, dict[str, dict[str, Declared | None]]] | None:
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
        ignore=Ignore(**{k: tuple(ignore.get(k) or ()) for k in IGNORE_KEYS},
                      more=FrozenDict({k: tuple(v or ()) for k, v in ignore.items()
                                       if k not in IGNORE_KEYS})),
        lint=FrozenDict(data.get("lint") or {}),
        accepted_risks=tuple(
            AcceptedRisk(r["id"], r["principal"], r["reason"],
                         Location(path, line_of(tree, ["accepted_risks", i])),
                         tuple(Reach.from_json(part) for part in r["reach"])
                         if "reach" in r else None)
            for i, r in enumerate(data.get("accepted_risks") or ())),
    )
    # Entities account.yaml declares (the password policy), one each: `ONE`.
    declared: dict[str, dict[str, Declared | None]] = {
        entity.key: {ONE: Declared(ONE, data[entity.key], Location(
            path, line_of(tree, [entity.key])), tree, (entity.key,))}
        for entity in ENTITIES.values() if entity.schema and entity.schema.file == schema.ACCOUNT
        and data.get(entity.key) is not None}
    return config, declared


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


BROKEN = None  # a declaration whose errors are already reported: known, but not built


def _load_declarations(
    files: Tree, folder: Path
) -> dict[str, dict[str, Declared | None]]:
    """Each entity's declarations by name (by its key: "users", "groups", "policies"),
    across every resource file; duplicates name both places."""
    sections = [e.section for e in ENTITIES.values() if e.section is not None]
    declared: dict[str, dict[str, Declared | None]] = {key: {} for key in sections}
    folded: dict[str, dict[str, Declared]] = {key: {} for key in sections}
    names = {e.key: e.name for e in ENTITIES.values()}
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
        for key in sections:
            for name, data in (tree.get(key) or {}).items():
                if (key, name) in broken:
                    declared[key].setdefault(str(name), BROKEN)
                    continue
                location = Location(path, line_of(tree, [key, name]))
                entry = Declared(str(name), to_plain(data) or {}, location, tree, (key, name))
                # IAM names are unique case-insensitively: Alice and alice cannot coexist.
                previous = folded[key].get(str(name).lower())
                if previous is not None:
                    problems.add(path, location.line, (
                        f"{names[key]} {shown(name)} is declared twice: here and at "
                        f"{previous.location} (names are unique ignoring case): keep one"))
                    continue
                folded[key][str(name).lower()] = entry
                declared[key][str(name)] = entry
    return declared


class _StateBuilder:
    """Turns declarations into the desired State, entity by entity (each after the ones it
    refers to), checking every cross-reference: the `Loading` each entity's `load` sees."""

    def __init__(
        self, config: AccountConfig, documents: dict[str, RawDocument], problems: Problems,
        declarations: Mapping[str, Mapping[str, Declared | None]],
    ) -> None:
        self.config = config
        self.documents = documents
        self.problems = problems
        self.variables: Mapping[str, str] = {"account_id": config.account_id,
                                             "partition": config.partition}
        self.warnings = Problems(severity=WARNING)
        self.declarations = declarations
        self.items: dict[str, Mapping[str, Any]] = {}

    def declared(self, model: type[Any]) -> Mapping[str, Declared | None]:
        return self.declarations.get(entity_of(model).key, {})

    def loaded(self, model: type[T]) -> Mapping[str, T]:
        return self.items.get(entity_of(model).key, {})

    def build(self) -> State:
        self._check_not_ignored()
        for entity in in_order():
            if entity.load is not None:
                self.items[entity.key] = entity.load(self)
        return State.of(self.items)

    def _check_not_ignored(self) -> None:
        for entity in ENTITIES.values():
            globs = self.config.ignore.globs(entity.ignore) if entity.ignore else ()
            for name, entry in self.declarations.get(entity.key, {}).items():
                if entry is None:
                    continue
                hit = matching_glob(name, globs)
                if hit is not None:
                    self.problems.add(entry.location.file, entry.location.line, (
                        f"{entity.name} {shown(name)} is declared but matches ignore glob "
                        f"{shown(hit)} in account.yaml: remove the declaration or narrow the glob"))
                # no `path:` is IAM's default `/`: `paths: ["/"]` hides that entry too
                path = entry.data.get("path", "/") if entity.under_paths and isinstance(
                    entry.data, Mapping) else None
                under = self.config.ignore.under_path(path) if isinstance(path, str) else None
                if under is not None:
                    self.problems.add(entry.location.file, entry.location.line, (
                        f"{entity.name} {shown(name)} is declared under path {shown(path)}, "
                        f"which account.yaml ignores ({shown(under)}): remove the declaration "
                        "or the ignored path"))

    def document(
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
