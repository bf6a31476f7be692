"""The GitHub loop through the real CLI: one plan comment per PR, apply of the reviewed plan
on merge (word for word what the comment shows), follow-ups, the merge queue, the drift
issue — against a moto server and a local fake of GitHub's REST API."""

from __future__ import annotations

import json
import re
import time

from tests.e2e.conftest import Cli
from tests.e2e.fake_github import BOT, FakeGitHub, Fault
from tests.e2e.test_gitlab import history, since_last_apply


def plan_and_comment(cli: Cli, pr: int) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    result = cli("ci", "comment", "p.json", "--pr", str(pr))
    assert result.code == 0, result.both


def test_one_plan_comment_per_pr_updated_on_every_push(cli: Cli, github: FakeGitHub) -> None:
    github.post(7, "LGTM from a human", "kim")
    plan_and_comment(cli, 7)
    (cli.repo / "accounts/sandbox/users.yaml").write_text(
        (cli.repo / "accounts/sandbox/users.yaml").read_text().replace("payments", "billing"))
    plan_and_comment(cli, 7)
    thread = github.comments[7]
    assert len(thread) == 2 and thread[0]["body"] == "LGTM from a human"
    body = thread[1]["body"]
    assert body.startswith("<!-- iamstate-plan -->\n")
    assert "**iamstate 0.2.0: Plan: 32 to add" in body
    assert "team = billing" in body and "| `sandbox` | 123456789012 | 32 | 0 | 0 | 0 |" in body


def test_merge_applies_exactly_the_reviewed_plan_or_nothing(
    cli: Cli, github: FakeGitHub
) -> None:
    plan_and_comment(cli, 9)
    github.merge(9, "abc123")
    cli.iam.create_group(GroupName="AllUsers")  # live state moves on after the review
    before = cli.snapshot()
    refused = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "abc123")
    assert refused.code == 1 and "is not the plan reviewed on the pull request" in refused.out
    assert cli.snapshot() == before
    cli.iam.delete_group(GroupName="AllUsers")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "abc123")
    assert applied.code == 0, applied.both
    assert "Apply complete: 32 change(s) made." in applied.out
    assert "one-time password of jdoe encrypted to its public_key in" in applied.out
    assert cli("plan", "--detailed-exitcode").code == 0
    unreviewed = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "fff999")
    assert unreviewed.code == 1 and "belongs to no pull request" in unreviewed.err


def _forge(github: FakeGitHub, pr: int, body: str, login: str = BOT) -> None:
    github.post(pr, body, login)


def test_a_comment_that_does_not_show_the_plan_applies_nothing(
    cli: Cli, github: FakeGitHub
) -> None:
    """The digest alone proves nothing: the comment must be, word for word, the rendering of
    the fresh plan. Edited by the PR's author, written by someone else, or posted by a
    workflow the PR changed: all refused."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(
        "groups:\n  Admins:\n    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n")
    plan_and_comment(cli, 11)
    real = github.comments[11][-1]["body"]
    harmless = real.replace("+ create group Admins", "~ update user HeadlessUser-ci")
    assert harmless != real
    before = cli.snapshot()
    for forged, login in ((harmless, BOT), (real, "mallory")):
        github.comments[11] = []
        _forge(github, 11, forged, login)
        github.merge(11, "c0ffee")
        result = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "c0ffee")
        assert result.code == 1, result.both
        assert cli.snapshot() == before
    assert "does not show this plan" in result.out or "no iamstate plan comment" in \
        result.err


MARKER = "<!-- iamstate-plan -->"
DECOY = "**iamstate 0.2.0: Plan: 1 to add, 0 to change, 0 to destroy.**"


def _frames(real: str) -> dict[str, str]:
    """The real comment, untouched, in frames a job holding GITHUB_TOKEN could write."""
    rest = real.removeprefix(MARKER + "\n")
    table_end = real.index("\n\n<details><summary>`sandbox`")
    level = re.search(r"iamstate-accounts level=(\d+)", real)[1]  # type: ignore[index]
    add = re.search(r"Plan: (\d+) to add", real)[1]  # type: ignore[index]
    hiding = real.replace(
        f"Plan: {add} to add, 0 to change, 0 to destroy.** 1 account(s) planned, 1 with",
        f"Plan: {add} to add, 0 to change, 1 to destroy.** 2 account(s) planned, 2 with"
    ).replace("|---|\n| `sandbox`", "|---|\n| `aaa-other` | 210987654321 | 0 | 0 | 1 | 0 | "
                                     "none |\n| `sandbox`")
    other = ("\n\n<details><summary>`aaa-other`: 0 to add, 0 to change, 1 to destroy</summary>"
             f"\n\n<!-- iamstate-accounts level={level} digests=aaa-other:{'0' * 32} -->\n"
             "### 0 to add, 0 to change, 1 to destroy\n\n<!--\n<!-- /iamstate-accounts -->\n\n"
             "</details>")
    at = hiding.index("\n\n<details><summary>`sandbox`")
    hiding = hiding[:at] + other + hiding[at:]
    return {
        "before": f"{MARKER}\n{DECOY}\n\n{rest}",
        "after": f"{real}\n{DECOY}\n",
        "around": f"{MARKER}\n{DECOY}\n\n<details><summary>superseded</summary>\n\n{rest}"
                  "\n</details>\n",
        "folded": f"{real[:table_end]}\n\n<details><summary>superseded</summary>"
                  f"{real[table_end:]}\n</details>\n",
        "hint": real.replace(MARKER + "\n", f"{MARKER}\n<!-- iamstate-hint {DECOY} -->\n"),
        "markup in another section": hiding,
    }


def test_only_a_comment_that_is_wholly_iamstates_applies(cli: Cli, github: FakeGitHub) -> None:
    """Forged frames around the true comment (it sits, unchanged, inside them) are refused:
    the whole body must be what iamstate renders now, nothing before, after, around or
    between, and no section may hold markup that folds or hides another."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text(
        "groups:\n  Admins:\n    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n")
    plan_and_comment(cli, 13)
    real = github.comments[13][-1]["body"]
    before = cli.snapshot()
    for number, (frame, forged) in enumerate(_frames(real).items()):
        lost = set(real.split("\n")) - set(forged.split("\n"))
        assert len(lost) <= 1, frame  # the true comment is there (but for another title)
        github.comments[13] = []
        _forge(github, 13, forged)
        github.merge(13, f"m{number}")
        result = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", f"m{number}")
        assert result.code == 1, (frame, result.both)
        assert "the comment is not, as a whole, what iamstate writes" in result.out, frame
        assert cli.snapshot() == before, frame
        assert "posted the fresh plan on #13 for review" in result.out
    github.comments[13] = []
    _forge(github, 13, real)
    github.merge(13, "good")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "good")
    assert applied.code == 0, applied.both
    assert "Admins" in {g["GroupName"] for g in cli.iam.list_groups()["Groups"]}


def test_only_the_merged_pull_request_and_the_comment_it_merged_with_count(
    cli: Cli, github: FakeGitHub
) -> None:
    """A commit lists every PR that holds it, open ones too: only the PR merged as that
    commit counts; and its plan comment as it was at the merge (one the bot rewrote
    afterwards was not reviewed)."""
    (cli.repo / "accounts/sandbox/admins.yaml").write_text("groups:\n  Admins: {}\n")
    plan_and_comment(cli, 14)
    github.open_pull(14, "head-14")
    before = cli.snapshot()
    opened = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "head-14")
    assert opened.code == 1 and "no pull request merged as that commit" in opened.err
    github.merge(14, "merged-14")
    real = github.comments[14][-1]["body"]
    github.comments[14][-1]["body"] = real  # rewritten by the bot after the merge:
    github.comments[14][-1]["updated_at"] = github.now()
    late = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "merged-14")
    assert late.code == 1 and "from before its merge" in late.err, late.both
    assert cli.snapshot() == before


def test_drift_never_touches_an_issue_a_person_opened(cli: Cli, github: FakeGitHub) -> None:
    """A person's open issue holding the drift marker is not the drift issue: its author
    could edit or close it and hide the drift. A new one is opened by the bot."""
    assert cli("apply", "--auto-approve").code == 0
    marker = "<!-- iamstate-drift account=sandbox -->"
    captured = github.open_issue("hide it", f"{marker}\nnothing to see", login="mallory")
    quoted = github.open_issue("about drift", f"see below\n{marker}")  # the bot's, quoted
    cli.iam.create_user(UserName="intruder")
    first = cli("ci", "drift")
    assert first.code == 2, first.both
    assert captured["body"] == f"{marker}\nnothing to see" and "updated_at" in captured
    assert quoted["body"] == f"see below\n{marker}"
    [drift] = [i for i in github.issues if i["user"]["login"] == BOT and
               i["body"].startswith(marker)]
    assert "intruder" in drift["body"] and f"created #{drift['number']}" in first.out
    cli.iam.create_user(UserName="intruder2")
    second = cli("ci", "drift")
    assert f"updated #{drift['number']}" in second.out and "intruder2" in drift["body"]
    assert captured["body"] == f"{marker}\nnothing to see"


def test_github_calls_retry_5xx_and_rate_limits_with_a_bound(
    cli: Cli, github: FakeGitHub
) -> None:
    assert cli("plan", "--out", "p.json").code == 0
    github.faults += [Fault(502), Fault(503, {"Retry-After": "0"}),
                      Fault(403, {"Retry-After": "1"}, "You have exceeded a secondary rate "
                                                       "limit"),
                      Fault(429, {"X-RateLimit-Remaining": "0", "Retry-After": "0"})]
    ok = cli("ci", "comment", "p.json", "--pr", "15")
    assert ok.code == 0, ok.both
    assert not github.faults and len(github.comments[15]) == 1
    github.faults += [Fault(500, {"Retry-After": "0"})] * 6  # more than 5 retries: fails
    failed = cli("ci", "comment", "p.json", "--pr", "15")
    assert failed.code == 1 and "HTTP 500" in failed.err and "after 5 retries" in failed.err
    assert not github.faults
    github.faults += [Fault(403, {"Retry-After": "3600"}, "secondary rate limit")]
    started = time.monotonic()
    hopeless = cli("ci", "comment", "p.json", "--pr", "15")  # an hour: not waited for
    assert hopeless.code == 1 and "HTTP 403" in hopeless.err
    assert time.monotonic() - started < 30
    github.faults += [Fault(404, {}, "Not Found"), Fault(502)]  # a 404 is not retried
    missing = cli("ci", "comment", "p.json", "--pr", "15")
    assert missing.code == 1 and "HTTP 404" in missing.err and len(github.faults) == 1


ADMINS = """groups:
  Admins:
    inline_policies:
      All: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "iam:*", Resource: "*"}]}
  Readers:
    inline_policies:
      Read: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "s3:GetObject",
                                                 Resource: "*"}]}
users:
  HeadlessUser-boss: {groups: [GROUPS]}
"""


def test_an_administrator_gaining_or_losing_a_permission_applies_as_reviewed(
    cli: Cli, github: FakeGitHub
) -> None:
    """The comment (rendered from the plan file) and apply (rendering its own plan) agree
    on an administrator before and after: not "becomes administrator-equivalent"."""
    account = cli.repo / "accounts/sandbox/account.yaml"
    account.write_text(account.read_text() + "accepted_risks:\n  - {id: ADMIN-EQUIVALENT, "
                       "principal: user/HeadlessUser-boss, reason: break-glass}\n"
                       "  - {id: ADMIN-EQUIVALENT, principal: group/Admins, reason: ops}\n")
    admins = cli.repo / "accounts/sandbox/admins.yaml"
    admins.write_text(ADMINS.replace("GROUPS", "Admins"))
    assert cli("apply", "--auto-approve").code == 0
    for number, groups in ((16, "Admins, Readers"), (17, "Admins")):  # gains, then loses
        admins.write_text(ADMINS.replace("GROUPS", groups))
        plan_and_comment(cli, number)
        body = github.comments[number][-1]["body"]
        assert "becomes administrator" not in body and "no longer administrator" not in body
        github.merge(number, f"merge-{number}")
        applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit",
                      f"merge-{number}")
        assert applied.code == 0, applied.both
        assert "the reviewed plan is live" in applied.out
    assert cli("plan", "--detailed-exitcode").code == 0


def test_a_2000_user_pull_request_with_one_deletion_is_reviewable_and_applies(
    cli: Cli, github: FakeGitHub
) -> None:
    """2,000 identical creations are one headline (members folded); the one deletion is a
    headline of its own; the merge applies exactly that."""
    assert cli("apply", "--auto-approve").code == 0
    cli.iam.create_user(UserName="HeadlessUser-leaver")  # live, and not in the repository
    users = "".join(f"  HeadlessUser-u{i:04d}: {{groups: [BackupWriters]}}\n"
                    for i in range(2000))
    (cli.repo / "accounts/sandbox/bulk.yaml").write_text(f"users:\n{users}")
    plan_and_comment(cli, 18)
    body = github.comments[18][-1]["body"]
    assert "too large" not in body and len(body) < 65_536
    lines = body.split("\n")
    assert "- destroy user HeadlessUser-leaver" in lines
    assert "+ create 2,000 users HeadlessUser-u0000 ... HeadlessUser-u1999" in lines
    assert "HeadlessUser-u1234" in lines or "more in the plan file artifact" in body
    github.merge(18, "bulk")
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "bulk")
    assert applied.code == 0, applied.both[-2000:]
    assert cli("plan", "--detailed-exitcode").code == 0


def test_drift_opens_one_issue_and_updates_it(cli: Cli, github: FakeGitHub) -> None:
    assert cli("apply", "--auto-approve").code == 0
    assert cli("ci", "drift").code == 0 and not github.issues
    cli.iam.create_user(UserName="intruder")
    first = cli("ci", "drift")
    assert first.code == 2 and "created #" in first.out
    cli.iam.create_user(UserName="intruder2")
    second = cli("ci", "drift")
    assert second.code == 2 and "updated #" in second.out
    [issue] = github.issues
    assert "intruder2" in issue["body"] and "drifted" in issue["title"]


def test_the_plan_json_and_comment_hold_no_secret(cli: Cli, github: FakeGitHub) -> None:
    plan_and_comment(cli, 12)
    body = github.comments[12][-1]["body"]
    text = (cli.repo / "p.json").read_text() + body
    data = json.loads((cli.repo / "p.json").read_text())

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    assert not keys(data) & {"Password", "SecretAccessKey", "SessionToken", "PrivateKey",
                             "password", "secret"}
    assert "BEGIN" not in text  # no key material, only the recipient's public key
    assert not (cli.repo / ".iamstate/out").exists()  # planning makes no password


def test_drift_lists_what_expires_within_a_week(cli: Cli, github: FakeGitHub) -> None:
    """The daily run says what is about to end while there is time to renew it: in its
    output for every account, and in the drift issue when there is one."""
    from tests.e2e.test_expire import expiring

    expiring(cli)  # asmith in BackupWriters until 2026-12-20, today 2026-12-19
    quiet = cli("ci", "drift")
    assert quiet.code == 0 and not github.issues, quiet.both
    line = "group membership asmith BackupWriters (expires 2026-12-20) at "
    assert f"sandbox: {line}" in quiet.out and "users.yaml:" in quiet.out
    cli.env["IAMSTATE_TODAY"] = "2026-12-10"  # ten days before: not yet worth a line
    assert line not in cli("ci", "drift").out
    cli.env["IAMSTATE_TODAY"] = "2026-12-19"
    cli.iam.create_user(UserName="intruder")
    drifted = cli("ci", "drift")
    assert drifted.code == 2, drifted.both
    [issue] = github.issues
    assert "intruder" in issue["body"] and "Expires within 7 days" in issue["body"]
    assert line in issue["body"] and "users.yaml:" in issue["body"]


def test_a_run_of_another_history_never_hides_a_merge_from_apply(
    cli: Cli, github: FakeGitHub
) -> None:
    """GitHub's runs say only `head_branch` (a tag's name for a tag push): a successful
    push run of a commit that is not on this history is no last apply — every account is
    applied then, none skipped; one on it is."""
    base, merged, head, side = history(cli)
    github.run(base, "success")
    github.run(merged, "failure")
    assert since_last_apply(cli) == [{"batch": 0, "accounts": "sandbox", "since": base}]
    for elsewhere in (side, "f" * 40):
        github.run(elsewhere, "success")
        assert since_last_apply(cli) == [{"batch": 0, "accounts": "sandbox", "since": ""}]
    github.run(head, "success", branch="feature")  # another branch's run: not listed
    assert since_last_apply(cli)[0]["since"] == ""
    github.run(head, "success")
    assert since_last_apply(cli) == []


def test_a_pull_request_merged_into_another_branch_applies_nothing(
    cli: Cli, github: FakeGitHub
) -> None:
    (cli.repo / "accounts/sandbox/admins.yaml").write_text("groups:\n  Admins: {}\n")
    plan_and_comment(cli, 30)
    github.merge(30, "x30", base="release")
    github.main.append("x30")  # pushed to main as it is
    before = cli.snapshot()
    pushed = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "x30")
    assert pushed.code == 1, pushed.both
    assert "merge of pull request #30 (into 'release'), not of one into 'main'" in pushed.err
    by_hand = cli("ci", "apply-reviewed", "--account", "sandbox", "--pr", "30")
    assert by_hand.code == 1 and "#30 was merged into 'release', not into 'main'" in \
        by_hand.err, by_hand.both
    assert cli.snapshot() == before and len(github.comments[30]) == 1
    github.merge(31, "x31")
    github.comments[31] = list(github.comments[30])  # the same plan, reviewed on main
    applied = cli("ci", "apply-reviewed", "--account", "sandbox", "--commit", "x31")
    assert applied.code == 0, applied.both
