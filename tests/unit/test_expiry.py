"""Access that ends by itself: `expires:` on users and memberships. The day is injected
(IAMSTATE_TODAY or a parameter), never the real clock."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from iamstate.cli import app
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import Membership, User
from iamstate.errors import RepoError
from iamstate.hosts.expireflow import removals_only
from iamstate.model.changes import Delete
from iamstate.model.state import State
from iamstate.outputs.lines import headline
from iamstate.plan.planner import plan_account
from iamstate.repository import expiry
from iamstate.repository.edit import remove_expired
from iamstate.repository.loader import load_repository
from tests.helpers import minimal_repo

TODAY = datetime.date(2026, 12, 21)
USERS = """
users:
  # the on-call rota: kim helps until the 20th
  kim:
    category: AllHumans
    groups: [Developers, {group: Incident, expires: 2026-12-20}]  # INC-4711
  lee:
    category: AllHumans
    groups: [{group: Incident, expires: "2026-12-28"}]
  contractor:  # ends with the contract
    category: AllHumans
    expires: 2026-12-21
  ann:
    category: AllHumans
    groups: [Developers]
groups:
  Developers: {}
  Incident: {}
"""


def repo(tmp_path: Path, users: str = USERS) -> Path:
    return minimal_repo(tmp_path, files={"accounts/acme/users.yaml": users})


def live_of(state: State) -> State:
    """Live equal to the repository with nothing expired yet."""
    return State(users={n: User(n, groups=u.groups) for n, u in state.users.items()},
                 groups={n: Group(n) for n in state.groups})


def test_dates_load_quoted_or_not(tmp_path: Path) -> None:
    [account] = load_repository(repo(tmp_path))
    users = account.desired.users
    assert users["kim"].expiring == (("Incident", "2026-12-20", 5),)
    assert "Incident" in users["kim"].groups
    assert users["lee"].expiring == (("Incident", "2026-12-28", 8),)
    assert users["contractor"].expires == "2026-12-21"
    assert users["ann"].expires is None and users["ann"].expiring == ()


@pytest.mark.parametrize("value", ["next-week", '"2026-02-30"', "2026-12-20T10:00:00",
                                   "20261220", '"2026-12-20 10:00"', "12", "true"])
def test_nonsense_dates_are_refused_at_file_line(tmp_path: Path, value: str) -> None:
    text = f"""
users:
  kim:
    category: AllHumans
    groups: [Developers, {{group: Incident, expires: {value}}}]
  zed:
    category: AllHumans
    expires: {value}
groups:
  Developers: {{}}
  Incident: {{}}
"""
    with pytest.raises(RepoError) as caught:
        load_repository(repo(tmp_path, text))
    messages = [str(p) for p in caught.value.problems]
    assert any("users.yaml:4:" in m and "kim" in m and "not a date" in m for m in messages), \
        messages
    assert any("users.yaml:7:" in m and "zed" in m and "not a date" in m for m in messages), \
        messages


def test_membership_needs_group_and_expires_and_no_common_group(tmp_path: Path) -> None:
    text = """
users:
  kim:
    category: AllHumans
    groups: [{group: Incident}]
groups:
  Incident: {}
"""
    with pytest.raises(RepoError, match=r"users.yaml:4: .*: expires is a required property"):
        load_repository(repo(tmp_path, text))
    common = text.replace("{group: Incident}", "{group: AllUsers, expires: 2026-12-20}")
    with pytest.raises(RepoError, match=r"users.yaml:4: .*AllUsers.*cannot expire"):
        load_repository(repo(tmp_path, common))


def test_a_membership_listed_twice_is_an_error(tmp_path: Path) -> None:
    text = """
users:
  kim:
    category: AllHumans
    groups: [Incident, {group: Incident, expires: 2026-12-20}]
groups:
  Incident: {}
"""
    with pytest.raises(RepoError, match="listed twice"):
        load_repository(repo(tmp_path, text))


def test_membership_expired_yesterday_plans_as_a_removal_with_the_reason(
        tmp_path: Path) -> None:
    [account] = load_repository(repo(tmp_path))
    live = live_of(account.desired)
    desired, ended = expiry.as_of(account.desired, TODAY)
    plan = plan_account(account.config, desired, live, {}, False, ended)
    lines = [headline(c) for c in plan.changes]
    assert lines == ["- destroy group membership kim Incident (expired 2026-12-20)",
                     "- destroy user contractor (expired 2026-12-21)"]
    # lee's ends in a week: still in force
    assert "Incident" in desired.users["lee"].groups


def test_the_day_before_nothing_changes(tmp_path: Path) -> None:
    [account] = load_repository(repo(tmp_path))
    desired, ended = expiry.as_of(account.desired, datetime.date(2026, 12, 19))
    plan = plan_account(account.config, desired, live_of(account.desired), {}, False, ended)
    assert plan.changes == () and ended == []


def test_audit_window_lists_what_ends_within_seven_days(tmp_path: Path) -> None:
    [account] = load_repository(repo(tmp_path))
    soon = expiry.expiring_soon(account.desired, TODAY)
    assert [e.describe(ended=False) for e in soon] == [
        "group membership lee Incident (expires 2026-12-28)"]
    later = expiry.expiring_soon(account.desired, datetime.date(2026, 12, 13))
    assert [(e.user, e.group) for e in later] == [("kim", "Incident")]


def test_only_expired_removals_pass_the_scheduled_check() -> None:
    expired = Delete(Membership("kim", "Incident", expired="2026-12-20"))
    gone_user = Delete(User("contractor", expires="2026-12-21"))
    other = Delete(Membership("ann", "Developers"))
    assert removals_only([expired, gone_user]) == []
    assert removals_only([expired, other]) == [
        "- destroy group membership ann Developers"]


def test_today_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(expiry.TODAY_VARIABLE, "2027-01-31")
    assert expiry.today() == datetime.date(2027, 1, 31)
    monkeypatch.setenv(expiry.TODAY_VARIABLE, "tomorrow")
    with pytest.raises(expiry.BadToday):
        expiry.today()


def test_write_deletes_only_the_expired_lines_and_keeps_comments(tmp_path: Path) -> None:
    root = repo(tmp_path)
    [account] = load_repository(root)
    remove_expired(root, expiry.expired(account.desired, TODAY))
    text = (root / "accounts/acme/users.yaml").read_text()
    assert "# the on-call rota: kim helps until the 20th" in text
    assert re.search(r"groups: \[Developers\] +# INC-4711\n", text), text
    assert "contractor" not in text and "ends with the contract" not in text
    assert '{group: Incident, expires: "2026-12-28"}' in text  # lee's is still in force
    [after] = load_repository(root)
    assert after.desired.users["kim"].groups == {"AllUsers", "AllHumans", "Developers"}
    assert expiry.expired(after.desired, TODAY) == []


def test_expire_command_lists_then_writes(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    root = repo(tmp_path)
    monkeypatch.setenv(expiry.TODAY_VARIABLE, TODAY.isoformat())
    runner = CliRunner()
    listed = runner.invoke(app, ["--repo", str(root), "expire"])
    assert listed.exit_code == 2, listed.output
    assert "users.yaml:5: group membership kim Incident (expired 2026-12-20)" in listed.output
    assert "users.yaml:9: user contractor (expired 2026-12-21)" in listed.output
    assert "kim" in (root / "accounts/acme/users.yaml").read_text()  # listing writes nothing
    written = runner.invoke(app, ["--repo", str(root), "expire", "--write"])
    assert written.exit_code == 2, written.output
    again = runner.invoke(app, ["--repo", str(root), "expire"])
    assert again.exit_code == 0 and "Nothing has expired" in again.output
    monkeypatch.setenv(expiry.TODAY_VARIABLE, "soon")
    assert runner.invoke(app, ["--repo", str(root), "expire"]).exit_code == 1


def test_reason_survives_the_plan_file() -> None:
    from iamstate.plan.planfile import change_from_json, change_to_json

    change = Delete(Membership("kim", "Incident", expired="2026-12-20"))
    data = change_to_json(change)
    assert data["detail"]["before"] == {"user": "kim", "group": "Incident",
                                        "expired": "2026-12-20"}
    assert headline(change_from_json(data)).endswith("(expired 2026-12-20)")
    plain = change_to_json(Delete(Membership("kim", "Incident")))
    assert plain["detail"]["before"] == {"user": "kim", "group": "Incident"}


def test_audit_lists_what_expires_within_a_week(tmp_path: Path) -> None:
    import io

    from rich.console import Console

    from iamstate.analysis.audit import expiring_findings
    from iamstate.outputs.text import TextOutput

    [account] = load_repository(repo(tmp_path))
    found = expiring_findings(account.desired, TODAY)
    assert [(f.rule, f.subject) for f in found] == [("IAM-024", "user/lee")]
    assert "group membership lee Incident (expires 2026-12-28) at " in found[0].message
    assert "users.yaml:8" in found[0].message
    shown = io.StringIO()
    TextOutput(Console(file=shown, width=200)).audit({"acme": found})
    assert "IAM-024 user/lee" in shown.getvalue()
    assert expiring_findings(account.desired, datetime.date(2026, 11, 1)) == []
