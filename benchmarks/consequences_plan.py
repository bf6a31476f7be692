"""What the consequences cost in a real plan: `python -m benchmarks.consequences_plan`.

A moto server holds 5,000 users in 300 groups (the common group with the shipped
self-manage policy, humans under require-MFA, team groups with their own policies, a third
of them with AWS's ReadOnlyAccess); the repository changes the common group's policy, so
everyone's permissions change. Times, in one process against the same server: the plan
without consequences, and with them (median of 5 each, alternating), and the size of the
PR comment. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import ACCOUNT_ID, ROOT, client, env_for, moto_server
from iamstate.outputs.markdown import render_markdown

USERS = 5_000
GROUPS = 300
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _document(name: str) -> str:
    text = (ROOT / "policies" / f"{name}.json").read_text(encoding="utf-8")
    return text.replace("${partition}", "aws").replace("${account_id}", ACCOUNT_ID)


def _team(index: int) -> str:
    bucket = f"arn:aws:s3:::team-{index:03d}"
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"{bucket}/*"}]})


def seed_groups(iam: Any, teams: int) -> None:
    """The common group, the two categories with the shipped policies, and `teams` team
    groups (each with its own S3 policy; every third also with ReadOnlyAccess)."""
    iam.create_group(GroupName="AllUsers")
    iam.put_group_policy(GroupName="AllUsers", PolicyName="Self",
                         PolicyDocument=_document("self-manage-credentials"))
    iam.create_group(GroupName="AllHumans")
    iam.put_group_policy(GroupName="AllHumans", PolicyName="RequireMFA",
                         PolicyDocument=_document("require-mfa"))
    iam.create_group(GroupName="AllHeadlessUsers")
    for i in range(teams):
        iam.create_group(GroupName=f"Team{i:03d}")
        iam.put_group_policy(GroupName=f"Team{i:03d}", PolicyName="Team",
                             PolicyDocument=_team(i))
        if i % 3 == 0:
            iam.attach_group_policy(GroupName=f"Team{i:03d}", PolicyArn=READ_ONLY)


def seed(endpoint: str) -> None:
    iam = client(endpoint)
    seed_groups(iam, GROUPS - 3)

    def one(i: int) -> None:
        human = i % 2 == 0
        name = f"user{i:05d}" if human else f"HeadlessUser-{i:05d}"
        iam.create_user(UserName=name)
        for group in ("AllUsers", "AllHumans" if human else "AllHeadlessUsers",
                      f"Team{i % (GROUPS - 3):03d}"):
            iam.add_user_to_group(UserName=name, GroupName=group)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(USERS)))


def repository(target: Path) -> Path:
    account = target / "accounts" / "bench"
    account.mkdir(parents=True)
    (account / "account.yaml").write_text(
        f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\ncategories:\n'
        '  AllHumans: {}\n  AllHeadlessUsers: {match: "^HeadlessUser-"}\n')
    policies = target / "policies"
    policies.mkdir()
    changed = json.loads(_document("self-manage-credentials"))
    changed["Statement"].append({"Sid": "ReadShared", "Effect": "Allow",
                                 "Action": ["s3:GetObject", "s3:ListBucket"],
                                 "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]})
    (policies / "self.json").write_text(json.dumps(changed))
    (policies / "mfa.json").write_text(_document("require-mfa"))
    lines = ["groups:", "  AllUsers: {inline_policies: {Self: self}}",
             "  AllHumans: {inline_policies: {RequireMFA: mfa}}"]
    for i in range(GROUPS - 3):
        managed = f", managed_policies: ['{READ_ONLY}']" if i % 3 == 0 else ""
        lines.append(f"  Team{i:03d}: {{inline_policies: {{Team: {_team(i)}}}{managed}}}")
    lines.append("users:")
    for i in range(USERS):
        human = i % 2 == 0
        name = f"user{i:05d}" if human else f"HeadlessUser-{i:05d}"
        category = "category: AllHumans, " if human else ""
        lines.append(f"  {name}: {{{category}groups: [Team{i % (GROUPS - 3):03d}]}}")
    (account / "iam.yaml").write_text("\n".join(lines) + "\n")
    return target


def main() -> None:
    import os

    from iamstate import workflow
    with moto_server(managed_policies=True) as endpoint, \
            tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        seed(endpoint)
        print(f"seeded {USERS} users, {GROUPS} groups in {time.perf_counter() - started:.0f} s",
              flush=True)
        repo = repository(Path(tmp))
        os.environ.update(env_for(endpoint))
        without: list[float] = []
        with_: list[float] = []
        plans = []
        for _ in range(5):
            for flag, times in ((False, without), (True, with_)):
                start = time.perf_counter()
                planned = workflow.plan_all(repo, consequences=flag)
                times.append(time.perf_counter() - start)
                plans.append(planned[0].plan)
        plan = plans[-1]
        assert plan.consequences is not None
        comment = render_markdown([plan], "the plan artifact")
        a, b = statistics.median(without), statistics.median(with_)
        print(f"plan without consequences {a:.2f} s, with {b:.2f} s: consequences add "
              f"{(b - a) / a * 100:.0f} %; users whose permissions change: "
              f"{len(plan.consequences.users):,}; PR comment {len(comment):,} characters "
              "(limit 65,536)", flush=True)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
