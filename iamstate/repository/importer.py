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
from iamstate.errors import ImportRefused
from iamstate.model.entities import AccountConfig, State
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
    users: int = 0
    groups: int = 0
    policies: int = 0
    breaches: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)


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
    if live.password_policy is not None:
        data["password_policy"] = CommentedMap(live.password_policy.yaml_fields())
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


def _document(document: Any) -> Any:
    return _to_commented(dict(document))


def _to_commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[key] = _to_commented(item)
        return out
    if isinstance(value, list):
        return CommentedSeq([_to_commented(v) for v in value])
    return value


def _resources_yaml(config: AccountConfig, live: State, report: ImportReport) -> str:
    data = CommentedMap()
    arn_to_name = {config.policy_arn(p.path, p.name): p.name for p in live.policies.values()}
    if live.policies:
        policies = data["policies"] = CommentedMap()
        for policy in sorted(live.policies.values(), key=lambda p: p.name):
            spec = policies[policy.name] = CommentedMap()
            if policy.path != "/":
                spec["path"] = policy.path
            if policy.description:
                spec["description"] = policy.description
            spec["document"] = _document(policy.document.document)
            report.policies += 1
    if live.groups:
        groups = data["groups"] = CommentedMap()
        for group in sorted(live.groups.values(), key=lambda g: g.name):
            spec = groups[group.name] = CommentedMap()
            if group.path != "/":
                spec["path"] = group.path
            if group.inline_policies:
                spec["inline_policies"] = CommentedMap(
                    (name, _document(doc.document)) for name, doc in group.inline_policies)
            if group.managed_policies:
                spec["managed_policies"] = CommentedSeq(sorted(
                    arn_to_name.get(arn, arn) for arn in group.managed_policies))
            report.groups += 1
    if live.users:
        users = data["users"] = CommentedMap()
        for user in sorted(live.users.values(), key=lambda u: u.name):
            spec = users[user.name] = CommentedMap()
            if user.path != "/":
                spec["path"] = user.path
            if user.groups:
                spec["groups"] = flow_list(sorted(user.groups))
            if user.tags:
                spec["tags"] = CommentedMap(user.tags)
            if user.console_access:
                spec["console_access"] = True  # kept as is; add public_key to reset it
            own = [n for n, _ in user.inline_policies] + sorted(user.attached_policies)
            if own:
                report.breaches.append(f"user {user.name} has user policies {own}: the "
                                       "strategy bans them, so the next plan removes them; "
                                       "grant them through a group first")
            if not user.groups:
                report.breaches.append(f"user {user.name} is in no group")
            report.users += 1
    return ("# Written by `iamstate import` from live state. Edit freely: comments and\n"
            "# order are kept by `iamstate user add` and `iamstate fmt`.\n" + dump(data))
