"""A new entity is its own module and one registration: this module defines one entirely
inside itself (IAM instance profiles: model, schema fragment, YAML load and import, read,
a kind with diff and apply), registers it, and takes a repository that declares some
through validation, the live read, a plan, an apply against in-process moto and a plan
in sync, with no edit anywhere else. It is unregistered at teardown, so no other test
sees it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from iamstate.aws.live import read_actions, read_live
from iamstate.aws.session import Connection
from iamstate.entities.base import (
    RESOURCES_SCHEMA,
    Entity,
    Exporting,
    Fragment,
    Loading,
    Reading,
    register,
    unregister,
)
from iamstate.errors import RepoError
from iamstate.model.account import ignored
from iamstate.model.changes import Change, Create, Delete
from iamstate.model.fields import NOT_IN_PLAN
from iamstate.model.location import Location
from iamstate.model.state import State, iter_sorted
from iamstate.plan.kinds import KINDS, all_actions
from iamstate.plan.kinds.base import ApplyContext, Kind, PlanContext
from iamstate.plan.planfile import account_from_json, account_to_json
from iamstate.plan.planner import plan_account
from iamstate.repository import schema
from iamstate.repository.importer import ImportReport, _resources_yaml
from iamstate.repository.loader import load_repository
from tests.helpers import ACCOUNT_ID, apply_changes, minimal_repo, summary_of


@dataclass(frozen=True)
class InstanceProfile:
    name: str
    path: str = "/"
    source: Location | None = field(default=None, compare=False, metadata=NOT_IN_PLAN)


class InstanceProfileKind(Kind[InstanceProfile]):
    name = "instance_profile"
    label = "instance profile"
    model = InstanceProfile
    counts_as_deletion = True
    actions = frozenset({"iam:CreateInstanceProfile", "iam:DeleteInstanceProfile"})

    def diff(self, ctx: PlanContext) -> Iterable[Change]:
        desired = ctx.desired.get(InstanceProfile)
        live = ctx.live.get(InstanceProfile)
        changes: list[Change] = [Create(want) for want in iter_sorted(desired)
                                 if want.name not in live]
        return changes + self.remove_undeclared(ctx, live, desired, lambda have: None)

    def apply(self, change: Change, ctx: ApplyContext) -> None:
        profile: InstanceProfile = change.subject
        if isinstance(change, Delete):
            ctx.iam.gone("delete_instance_profile", InstanceProfileName=profile.name)
        else:
            ctx.iam.call("create_instance_profile", InstanceProfileName=profile.name,
                         Path=profile.path)


def load(ctx: Loading) -> Mapping[str, InstanceProfile]:
    found = {}
    for name, entry in ctx.declared(InstanceProfile).items():
        if entry is None:
            continue
        if name.startswith("Legacy"):
            ctx.problems.add(entry.location.file, entry.location.line,
                             f"instance profile {name}: Legacy ones are made by hand")
            continue
        found[name] = InstanceProfile(name, entry.data.get("path", "/"), entry.location)
    return found


def read(ctx: Reading) -> Mapping[str, InstanceProfile]:
    """Every instance profile but the ones account.yaml's `ignore: {instance_profiles:}`
    protects."""
    globs = ctx.config.ignore.globs("instance_profiles")
    pages = ctx.conn.iam.get_paginator("list_instance_profiles").paginate()
    return {p["InstanceProfileName"]: InstanceProfile(p["InstanceProfileName"], p["Path"])
            for page in pages for p in page["InstanceProfiles"]
            if not ignored(p["InstanceProfileName"], globs)}


def to_yaml(profile: InstanceProfile, ctx: Exporting) -> dict[str, Any]:
    return {"path": profile.path} if profile.path != "/" else {}


TOY = Entity(
    "instance_profile", InstanceProfile, "instance_profiles", kinds=(InstanceProfileKind,),
    schema=Fragment(
        RESOURCES_SCHEMA,
        {"type": ["object", "null"], "propertyNames": {"$ref": "#/$defs/name128"},
         "additionalProperties": {"$ref": "#/$defs/instance_profile"},
         "x-hint": "a mapping of instance profile names to their settings"},
        {"instance_profile": {"type": ["object", "null"], "additionalProperties": False,
                              "properties": {"path": {"$ref": "#/$defs/path"}},
                              "x-hint": "e.g. web: {path: /apps/}"}}),
    load=load, read=read, to_yaml=to_yaml, digest=lambda p: {"path": p.path},
    reads=frozenset({"iam:ListInstanceProfiles"}), ignore="instance_profiles")

PROFILES = """
    instance_profiles:
      web: {path: /apps/}
      batch:
    """


@pytest.fixture
def toy() -> Iterator[Entity[InstanceProfile]]:
    register(TOY)
    yield TOY
    unregister(TOY)


def test_a_new_entity_goes_from_yaml_to_applied_and_back_in_sync(
        toy: Entity[InstanceProfile], conn: Connection, tmp_path: Path) -> None:
    [account] = load_repository(minimal_repo(tmp_path, files={
        "accounts/acme/profiles.yaml": PROFILES}))
    desired = account.desired
    assert desired.get(InstanceProfile) == {"web": InstanceProfile("web", "/apps/"),
                                            "batch": InstanceProfile("batch")}
    assert desired.get(InstanceProfile)["web"].source == Location(
        tmp_path / "accounts/acme/profiles.yaml", 2)
    conn.iam.create_instance_profile(InstanceProfileName="stale")

    live = read_live(conn, account.config, desired)
    assert set(live.get(InstanceProfile)) == {"stale"}
    plan = plan_account(account.config, desired, live)
    profiles = [c for c in summary_of(plan.changes) if c[1] == "instance_profile"]
    assert profiles == [("create", "instance_profile", "batch"),
                        ("create", "instance_profile", "web"),
                        ("delete", "instance_profile", "stale")]
    assert plan.deletions() == 1  # counts toward safety.max_deletions like a user would
    assert account_from_json(account_to_json(plan)).changes == plan.changes  # plan file
    report = apply_changes(conn, account.config, plan.changes, tmp_path)
    assert not report.failed, report

    made = conn.iam.list_instance_profiles()["InstanceProfiles"]
    assert {(p["InstanceProfileName"], p["Path"]) for p in made} == {("web", "/apps/"),
                                                                   ("batch", "/")}
    again = read_live(conn, account.config, desired)
    assert again.get(InstanceProfile) == desired.get(InstanceProfile)
    assert plan_account(account.config, desired, again).changes == ()


def test_an_entity_that_names_no_digest_is_covered_whole() -> None:
    """Forgetting `digest` must not leave an entity out of the state's digest (a plan
    would not go stale when it changes): by default, all it writes to the plan file."""
    bare: Entity[InstanceProfile] = Entity(
        "instance_profile", InstanceProfile, "instance_profiles", kinds=(InstanceProfileKind,))
    register(bare)
    try:
        assert State.of({"instance_profiles": {"web": InstanceProfile("web", "/new/")}}
                        ).digest() != State.of(
            {"instance_profiles": {"web": InstanceProfile("web")}}).digest()
    finally:
        unregister(bare)


def test_the_entity_is_part_of_the_digest_the_schema_the_roles_and_import(
        toy: Entity[InstanceProfile], tmp_path: Path) -> None:
    moved = State.of({"instance_profiles": {"web": InstanceProfile("web", "/new/")}})
    assert moved.digest() != State.of(
        {"instance_profiles": {"web": InstanceProfile("web")}}).digest()
    assert "instance_profiles" in schema.load_schema(schema.RESOURCES)["properties"]
    assert {"iam:CreateInstanceProfile", "iam:DeleteInstanceProfile"} <= all_actions()
    assert "iam:ListInstanceProfiles" in read_actions()
    account = load_repository(minimal_repo(tmp_path, files={
        "accounts/acme/profiles.yaml": PROFILES}))[0]
    written = _resources_yaml(account.config, account.desired, ImportReport())
    assert "instance_profiles:\n  batch: {}\n  web:\n    path: /apps/\n" in written


def test_a_bad_declaration_is_an_error_at_its_line(toy: Entity[InstanceProfile],
                                                   tmp_path: Path) -> None:
    root = minimal_repo(tmp_path, files={"accounts/acme/profiles.yaml": """
        instance_profiles:
          web: {path: apps}
          LegacyBatch:
          api: {role: x}
        """})
    with pytest.raises(RepoError) as raised:
        load_repository(root)
    lines = sorted((p.line, p.message) for p in raised.value.problems)
    assert [line for line, _ in lines] == [2, 3, 4], lines
    assert "path" in lines[0][1] and "Legacy ones" in lines[1][1] and "role" in lines[2][1]


def test_its_ignore_globs_protect_live_ones_and_refuse_declared_ones(
        toy: Entity[InstanceProfile], conn: Connection, tmp_path: Path) -> None:
    account_yaml = f"""
        account_id: "{ACCOUNT_ID}"
        ignore: {{instance_profiles: ["keep-*"]}}
        """
    [account] = load_repository(minimal_repo(tmp_path, account_yaml, {
        "accounts/acme/profiles.yaml": PROFILES}))
    conn.iam.create_instance_profile(InstanceProfileName="Keep-Me")
    plan = plan_account(account.config, account.desired,
                        read_live(conn, account.config, account.desired))
    assert [c for c in summary_of(plan.changes) if c[1] == "instance_profile"] == [
        ("create", "instance_profile", "batch"), ("create", "instance_profile", "web")]
    write = minimal_repo(tmp_path / "declared", account_yaml, {
        "accounts/acme/profiles.yaml": "instance_profiles: {keep-web: }\n"})
    with pytest.raises(RepoError) as raised:
        load_repository(write)
    [problem] = raised.value.problems
    assert problem.line == 1 and "keep-web is declared but matches ignore glob keep-*" in \
        problem.message


def test_unregistered_the_entity_is_unknown_again(tmp_path: Path) -> None:
    assert "instance_profile" not in KINDS
    root = minimal_repo(tmp_path, files={"accounts/acme/profiles.yaml": PROFILES})
    with pytest.raises(RepoError) as raised:
        load_repository(root)
    assert "instance_profiles" in str(raised.value)
