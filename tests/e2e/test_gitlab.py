"""The GitLab loop through the real CLI, as the `.gitlab-ci.yml` template runs it: one plan
note per merge request (updated on every push), apply of the reviewed plan on merge (word
for word what the note shows, as it was at the merge), follow-ups, the drift issue —
against a moto server and a local fake of GitLab's REST API v4."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cli
from tests.e2e.fake_github import Fault
from tests.e2e.fake_gitlab import BOT, PROJECT_ID, TOKEN, FakeGitLab, fake_gitlab, person
from tests.e2e.test_gitops import commit_all, git

MARKER = "<!-- iamstate-plan -->"
ADMINS = "groups:\n  Admins:\n    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n"


@pytest.fixture
def gitlab(cli: Cli) -> Iterator[FakeGitLab]:
    """GitLab's API and a GitLab CI job's variables (no GitHub variable is set)."""
    with fake_gitlab() as fake:
        for name in [n for n in cli.env if n.startswith(("GITHUB_", "ACTIONS_ID_", "CI_"))]:
            del cli.env[name]
        cli.env.update({"GITLAB_CI": "true", "CI_API_V4_URL": fake.api,
                        "CI_PROJECT_ID": PROJECT_ID, "IAMSTATE_GITLAB_TOKEN": TOKEN,
                        "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_BRANCH": "main"})
        yield fake


def plan_and_note(cli: Cli, mr: int) -> str:
    assert cli("plan", "--out", "p.json").code == 0
    cli.env["CI_MERGE_REQUEST_IID"] = str(mr)  # a merge request pipeline
    try:
        result = cli("ci", "comment", "p.json")
    finally:
        del cli.env["CI_MERGE_REQUEST_IID"]
    assert result.code == 0, result.both
    return result.out


def bot_notes(gitlab: FakeGitLab, mr: int) -> list[dict[str, object]]:
    return [n for n in gitlab.notes.get(mr, []) if n["author"] == BOT]


def test_one_plan_note_per_merge_request_updated_on_every_push(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    human = gitlab.note(7, "LGTM from a human", person("kim", 11))
    system = gitlab.note(7, "added 1 commit", person("kim", 11), system=True)
    first = plan_and_note(cli, 7)
    assert "created the plan note on !7: 1 account," in first
    users = cli.repo / "accounts/sandbox/users.yaml"
    users.write_text(users.read_text().replace("payments", "billing"))
    gitlab.faults += [Fault(502), Fault(429, {"RateLimit-Remaining": "0", "Retry-After": "0"})]
    second = plan_and_note(cli, 7)
    assert "updated the plan note on !7" in second and not gitlab.faults
    thread = gitlab.notes[7]
    assert thread[:2] == [human, system] and len(thread) == 3
    body = str(thread[2]["body"])
    assert body.startswith(f"{MARKER}\n") and thread[2]["author"] == BOT
    assert "**iamstate 0.2.0: Plan: 32 to add" in body
    assert "team = billing" in body and "| `sandbox` | 123456789012 | 32 | 0 | 0 | 0 |" in body
    assert thread[2]["updated_at"] > thread[2]["created_at"]  # updated in place


def test_merge_applies_the_reviewed_plan_and_a_stale_one_only_after_review(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    plan_and_note(cli, 9)
    gitlab.merge(9, "abc123")
    cli.iam.create_group(GroupName="AllUsers")  # live state moves on after the review
    before = cli.snapshot()
    cli.env["CI_COMMIT_SHA"] = "abc123"  # the push pipeline of the merge
    refused = cli("ci", "apply-reviewed", "--account", "sandbox")
    assert refused.code == 1 and "is not the plan reviewed" in refused.out, refused.both
    assert "posted the fresh plan on !9 for review" in refused.out
    assert cli.snapshot() == before
    follow_up = str(bot_notes(gitlab, 9)[-1]["body"])
    assert follow_up.startswith("<!-- iamstate-plan follow-up -->")
    assert "variable `IAMSTATE_MR` = 9" in follow_up and "Run pipeline" in follow_up
    # after review, a pipeline run by hand on main applies exactly that follow-up
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--pr", "9")
    assert applied.code == 0, applied.both
    assert "Apply complete: 31 change(s) made." in applied.out
    assert cli("plan", "--detailed-exitcode").code == 0
    unreviewed = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "fff999")
    assert unreviewed.code == 1 and "belongs to no merge request" in unreviewed.err


@pytest.mark.parametrize("method", ["squash", "fast-forward"])
def test_squashed_and_fast_forward_merges_apply_too(
    cli: Cli, gitlab: FakeGitLab, method: str
) -> None:
    """Without a merge commit, the merge on main is the squash commit, or the MR's head."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(ADMINS)
    plan_and_note(cli, 10)
    gitlab.open_mr(12, "other-head")  # an open MR holding some commit: never counts
    gitlab.merge(10, "s-10", method)
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "s-10")
    assert applied.code == 0, applied.both
    assert "Admins" in {g["GroupName"] for g in cli.iam.list_groups()["Groups"]}
    opened = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "other-head")
    assert opened.code == 1 and "no merge request merged as that commit" in opened.err


def test_a_note_that_is_not_the_bots_unedited_plan_applies_nothing(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    """Edited by the bot's token after review, written by someone else (even one named
    like the bot), or changed after the merge: all refused, nothing changes."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(ADMINS)
    plan_and_note(cli, 11)
    real = str(gitlab.notes[11][-1]["body"])
    harmless = real.replace("+ create group Admins", "~ update user HeadlessUser-ci")
    assert harmless != real
    impostor = {"id": 31337, "username": "mallory", "name": BOT["name"]}
    before = cli.snapshot()
    cases = [(harmless, BOT, "does not show this plan"),
             (real, impostor, "no iamstate plan note from before its merge"),
             (real, person(str(BOT["username"]) + "-x", 99), "no iamstate plan note")]
    for number, (body, author, expected) in enumerate(cases):
        gitlab.notes[11] = []
        gitlab.note(11, body, author)
        gitlab.merge(11, f"m{number}")
        result = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", f"m{number}")
        assert result.code == 1, result.both
        assert expected in result.both, (expected, result.both)
        assert cli.snapshot() == before
    gitlab.notes[11] = []
    note = gitlab.note(11, real)
    note["updated_at"] = gitlab.now()  # rewritten (even word for word) after review...
    gitlab.merge(11, "late")
    note["updated_at"] = gitlab.now()  # ...and after the merge: not what was reviewed
    late = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "late")
    assert late.code == 1 and "from before its merge" in late.err, late.both
    assert cli.snapshot() == before
    gitlab.notes[11] = []
    gitlab.note(11, real)
    gitlab.merge(11, "good")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "good")
    assert applied.code == 0, applied.both


def test_an_edited_follow_up_is_refused(cli: Cli, gitlab: FakeGitLab) -> None:
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(ADMINS)
    plan_and_note(cli, 13)
    gitlab.merge(13, "m13")
    cli.iam.create_group(GroupName="Admins")  # live moved: refused, follow-up posted
    cli.env["CI_COMMIT_SHA"] = "m13"
    assert cli("ci", "apply-reviewed", "--account", "sandbox").code == 1
    [follow_up] = [n for n in bot_notes(gitlab, 13) if "follow-up" in str(n["body"])[:40]]
    follow_up["updated_at"] = gitlab.now()  # edited by anyone holding the token
    before = cli.snapshot()
    edited = cli("ci", "apply-reviewed", "--account", "sandbox", "--pr", "13")
    assert edited.code == 1 and "no follow-up plan note posted after its merge" in edited.err
    assert cli.snapshot() == before
    cli.env["CI_COMMIT_SHA"] = "not-on-main"
    follow_up["updated_at"] = follow_up["created_at"]
    elsewhere = cli("ci", "apply-reviewed", "--account", "sandbox", "--pr", "13")
    assert elsewhere.code == 1 and "not on the branch being applied" in elsewhere.err


def test_drift_opens_one_issue_the_bot_owns_and_updates_it(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    assert cli("apply", "--auto-approve").code == 0
    assert cli("ci", "drift").code == 0 and not gitlab.issues
    marker = "<!-- iamstate-drift account=sandbox -->"
    captured = gitlab.open_issue("hide it", f"{marker}\nnothing to see", person("mallory", 7))
    cli.iam.create_user(UserName="intruder")
    first = cli("ci", "drift")
    assert first.code == 2, first.both
    [drift] = [i for i in gitlab.issues if i["author"] == BOT]
    assert f"created #{drift['iid']}" in first.out and "intruder" in drift["description"]
    assert "drifted" in drift["title"]
    cli.iam.create_user(UserName="intruder2")
    second = cli("ci", "drift")
    assert f"updated #{drift['iid']}" in second.out and "intruder2" in drift["description"]
    assert captured["description"] == f"{marker}\nnothing to see"
    assert len(gitlab.issues) == 2


def test_outside_gitlab_ci_the_commands_say_what_is_missing(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    del cli.env["IAMSTATE_GITLAB_TOKEN"]
    missing = cli("ci", "comment", "p.json", "--pr", "3")
    assert missing.code == 1 and "IAMSTATE_GITLAB_TOKEN is not set" in missing.err
    cli.env["IAMSTATE_GITLAB_TOKEN"] = TOKEN
    no_mr = cli("ci", "comment", "p.json")
    assert no_mr.code == 1 and "CI_MERGE_REQUEST_IID" in no_mr.err
    cli.env["IAMSTATE_GITLAB_TOKEN"] = "glpat-wrong"
    refused = cli("ci", "comment", "p.json", "--pr", "3")
    assert refused.code == 1 and "GitLab GET" in refused.err and "HTTP 401" in refused.err
    assert not gitlab.notes


def history(cli: Cli) -> tuple[str, str, str, str]:
    """main: `base` (applied), `merged` (changes sandbox; its apply failed), `head` (touches
    no account); `side`: a commit of another history (a branch rewritten, a tag's own)."""
    git(cli.repo, "init", "-q", "-b", "main")
    base = commit_all(cli.repo, "live")
    users = cli.repo / "accounts/sandbox/users.yaml"
    users.write_text(users.read_text().replace("payments", "billing"))
    merged = commit_all(cli.repo, "merge a change to sandbox")
    git(cli.repo, "commit", "-q", "--allow-empty", "-m", "docs only")
    head = git(cli.repo, "rev-parse", "HEAD")
    git(cli.repo, "checkout", "-q", "-b", "side", base)
    git(cli.repo, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    side = git(cli.repo, "rev-parse", "HEAD")
    git(cli.repo, "checkout", "-q", "main")
    return base, merged, head, side


def since_last_apply(cli: Cli) -> list[dict[str, Any]]:
    done = cli("ci", "accounts", "--since-last-apply", "--batches", "1")
    assert done.code == 0, done.both
    matrix: list[dict[str, Any]] = json.loads(done.out)
    return matrix


def test_a_tag_named_main_or_another_history_never_hides_a_merge_from_apply(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    """The last apply decides which accounts the push pipeline applies: a later commit
    there would skip what merged in between. A tag named like the branch (GitLab lists its
    pipelines under `ref=main` too), or a pipeline of a commit not on this history, is no
    last apply: then every account is applied (the safe default), none skipped."""
    base, merged, head, side = history(cli)
    gitlab.pipeline(base, "success")
    gitlab.pipeline(merged, "failed")
    gitlab.pipeline(merged, "success", tag=True)  # a tag `main` at the merge
    gitlab.pipeline(head, "success", tag=True)  # ...moved to the head
    assert since_last_apply(cli) == [{"batch": 0, "accounts": "sandbox", "since": base}]
    for elsewhere in (side, "f" * 40):  # another history; a commit this checkout lacks
        gitlab.pipeline(elsewhere, "success")
        assert since_last_apply(cli) == [{"batch": 0, "accounts": "sandbox", "since": ""}]
    gitlab.pipeline(head, "success")  # the real apply of the head: nothing left to apply
    assert since_last_apply(cli) == []


def test_a_retried_older_pipeline_applies_nothing_after_a_newer_apply(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    """The head's pipeline applied; then the merge's older pipeline is retried (its apply
    job computes the accounts itself, as the template does): it would put back what the
    head changed after it. Refused, before any account is read; the head itself goes on."""
    base, merged, head, _ = history(cli)
    gitlab.pipeline(base, "success")
    gitlab.pipeline(head, "success")
    git(cli.repo, "checkout", "-q", "--detach", merged)
    cli.env["CI_COMMIT_SHA"] = merged
    before = cli.snapshot()
    for args in (("ci", "accounts", "--since-last-apply", "--batches", "1"),
                 ("ci", "apply-reviewed", "--account", "sandbox", "--commit", merged,
                  "--since", base)):
        done = cli(*args)
        assert done.code == 1 and f"comes before {head}" in done.err, done.both
    assert cli.snapshot() == before  # no call changed the account
    git(cli.repo, "checkout", "-q", "main")
    assert since_last_apply(cli) == []


def test_a_merge_request_merged_into_another_branch_applies_nothing(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    """Its note was reviewed (or not) as a merge into `scratch`: when its merge commit is
    pushed to main, or reaches main with a fast-forward, nothing applies and the error names
    the merge request and its branch; a follow-up on it is refused the same way."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(ADMINS)
    before = cli.snapshot()
    for iid, method in ((20, "merge"), (21, "squash"), (22, "fast-forward")):
        plan_and_note(cli, iid)
        gitlab.merge(iid, f"x{iid}", method, target="scratch")
        gitlab.main.append(f"x{iid}")  # the commit reaches main without a merge request
        notes = len(gitlab.notes[iid])
        pushed = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", f"x{iid}")
        assert pushed.code == 1, pushed.both
        assert f"merge of merge request !{iid} (into 'scratch'), not of one into 'main'" \
            in pushed.err, pushed.both
        cli.env["CI_COMMIT_SHA"] = f"x{iid}"
        by_hand = cli("ci", "apply-reviewed", "--account", "sandbox", "--pr", str(iid))
        assert by_hand.code == 1
        assert f"!{iid} was merged into 'scratch', not into 'main'" in by_hand.err
        assert cli.snapshot() == before and len(gitlab.notes[iid]) == notes
    gitlab.merge(23, "x22", "fast-forward")  # one into main as the same commit: still refused
    stacked = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "x22")
    assert stacked.code == 1 and "!22 (into 'scratch')" in stacked.err
    plan_and_note(cli, 24)
    gitlab.merge(24, "x24")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "x24")
    assert applied.code == 0, applied.both  # into main: applies


def test_a_merge_train_pipeline_never_rewrites_the_reviewed_note(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    """A train's pipeline is a merge request pipeline run after the approval: the note stays
    as reviewed. The same plan passes (the train goes on); another plan, or no reviewed note,
    fails the job and leaves the note as it was."""
    plan_and_note(cli, 40)
    reviewed = dict(gitlab.notes[40][-1])
    cli.env.update({"CI_MERGE_REQUEST_IID": "40", "CI_MERGE_REQUEST_EVENT_TYPE": "merge_train"})
    same = cli("ci", "comment", "p.json")
    assert same.code == 0 and "is the reviewed plan, left as it is" in same.out, same.both
    users = cli.repo / "accounts/sandbox/users.yaml"
    users.write_text(users.read_text().replace("payments", "billing"))  # an MR ahead of it
    assert cli("plan", "--out", "p.json").code == 0
    changed = cli("ci", "comment", "p.json")
    assert changed.code == 1, changed.both
    assert "not word for word the plan reviewed on !40" in changed.err
    assert "merge trains are not supported yet" in changed.err
    assert gitlab.notes[40] == [reviewed]
    cli.env["CI_MERGE_REQUEST_IID"] = "41"  # never planned before the train: refused too
    assert cli("ci", "comment", "p.json").code == 1 and 41 not in gitlab.notes
    cli.env["CI_MERGE_REQUEST_EVENT_TYPE"] = "merged_result"  # not a train: written
    assert cli("ci", "comment", "p.json").code == 0 and len(gitlab.notes[41]) == 1


def test_a_merge_request_from_a_branch_named_like_the_default_is_refused(
    cli: Cli, gitlab: FakeGitLab
) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    cli.env.update({"CI_MERGE_REQUEST_IID": "50", "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "main"})
    refused = cli("ci", "comment", "p.json")
    assert refused.code == 1 and "opened from a branch named 'main'" in refused.err
    assert not gitlab.notes
    cli.env["CI_MERGE_REQUEST_SOURCE_BRANCH_NAME"] = "main-fix"
    assert cli("ci", "comment", "p.json").code == 0 and len(gitlab.notes[50]) == 1
