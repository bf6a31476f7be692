"""Bootstrap: write the YAML for what is live in an account, so that `plan` right after
shows no changes. Never writes a secret. Users who break the strategy are reported, not
hidden; naming patterns are proposed as categories (commented out: adopt them when ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from iamstate.aws.live import read_live
from iamstate.aws.session import CallCounter, connect
from iamstate.entities.base import Exporting
from iamstate.entities.io import Flow
from iamstate.entities.registry import ENTITIES, in_order
from iamstate.errors import ImportRefused
from iamstate.model.account import AccountConfig
from iamstate.model.state import ONE, State
from iamstate.repository.edit import dump, flow_list
from iamstate.repository.files import ignore_state_folder, write_text_safely
from iamstate.repository.loader import ACCOUNT_FILE, load_repository
from iamstate.repository.schema import ACCOUNT, RESOURCES, editor_comment
from iamstate.repository.strategy import (
    KNOWN_PATTERNS,
    PROPOSED_COMMON_GROUP,
    PROPOSED_HUMAN_CATEGORY,
    Strategy,
)
from iamstate.wording import count

RESOURCE_FILE = "imported.yaml"



@dataclass
class ImportReport:
    files: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # items written, by entity key
    breaches: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)

    @property
    def users(self) -> int:
        return self.counts.get("users", 0)

    @property
    def groups(self) -> int:
        return self.counts.get("groups", 0)

    @property
    def policies(self) -> int:
        return self.counts.get("policies", 0)


def import_account(repo: Path, account: str, account_id: str | None) -> ImportReport:
    folder = repo / "accounts" / account
    if (folder / RESOURCE_FILE).exists():
        raise ImportRefused(f"{folder / RESOURCE_FILE} exists already: move it away first")
    config = _config(repo, folder, account, account_id)
    conn = connect(config, CallCounter())
    live = read_live(conn, config, State(), teardowns=False)
    report = ImportReport()
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / ACCOUNT_FILE).exists():
        header = editor_comment(repo, folder / ACCOUNT_FILE, ACCOUNT) + "\n"
        write_text_safely(folder / ACCOUNT_FILE, header + _account_yaml(config, live, report),
                          repo)
        report.files.append(folder / ACCOUNT_FILE)
    header = editor_comment(repo, folder / RESOURCE_FILE, RESOURCES) + "\n"
    write_text_safely(folder / RESOURCE_FILE, header + _resources_yaml(config, live, report),
                      repo)
    report.files.append(folder / RESOURCE_FILE)
    if ignore_state_folder(repo):
        report.files.append(repo / ".gitignore")
    load_repository(repo, account)  # what was written must validate
    return report


def _config(repo: Path, folder: Path, account: str, account_id: str | None) -> AccountConfig:
    if (folder / ACCOUNT_FILE).exists():
        [loaded] = load_repository(repo, account)
        return loaded.config
    if account_id is None:
        raise ImportRefused(f"no {folder / ACCOUNT_FILE}: pass --account-id (12 digits) so "
                           "iamstate can check it reaches the right account")
    return AccountConfig(account, account_id, folder)


def _account_yaml(config: AccountConfig, live: State, report: ImportReport) -> str:
    data = CommentedMap()
    data["account_id"] = config.account_id
    exporting = Exporting(config, live, report.breaches)
    for entity in ENTITIES.values():  # what account.yaml declares (the password policy)
        one = live.items(entity.key).get(ONE)
        if entity.to_yaml and entity.schema and entity.schema.file == ACCOUNT and one:
            data[entity.key] = _to_commented(entity.to_yaml(one, exporting))
    data["safety"] = CommentedMap(max_deletions=5)
    proposals = []
    for (pattern, group), matching in zip(KNOWN_PATTERNS.items(),
                                          Strategy.proposals(live.users).values(), strict=True):
        if matching:
            users = count(len(matching), "user")
            proposals.append(f'#   {group}: {{match: "{pattern}"}}   # {users}')
            report.proposals.append(f"category {group} for {count(len(matching), 'user')} matching "
                                    f"{pattern}")
    header = ("# Written by `iamstate import`. The strategy's common group and categories are\n"
              "# proposed below, commented out: adopting them adds memberships, so do it in a\n"
              "# pull request of its own.\n"
              f"# common_groups: [{PROPOSED_COMMON_GROUP}]\n# categories:\n"
              f"#   {PROPOSED_HUMAN_CATEGORY}: {{}}\n")
    return header + "\n".join(proposals) + ("\n" if proposals else "") + dump(data)


def _to_commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _to_commented(item)
        return out
    if isinstance(value, Flow):
        return flow_list(list(value))
    if isinstance(value, list):
        return CommentedSeq([_to_commented(v) for v in value])
    return value


def _resources_yaml(config: AccountConfig, live: State, report: ImportReport) -> str:
    """Every entity a resource file declares, the ones others refer to first (policies,
    groups, users), each item by name."""
    data = CommentedMap()
    exporting = Exporting(config, live, report.breaches)
    for entity in in_order():
        to_yaml, items = entity.to_yaml, live.items(entity.key)
        if entity.section is None or to_yaml is None or not items:
            continue
        section = data[entity.section] = CommentedMap()
        for name in sorted(items):
            section[name] = _to_commented(to_yaml(items[name], exporting))
        report.counts[entity.key] = len(items)
    return ("# Written by `iamstate import` from live state. Edit freely: comments and\n"
            "# order are kept by `iamstate user add` and `iamstate fmt`.\n" + dump(data))
