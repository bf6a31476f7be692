"""The consequences' worst case: `python -m benchmarks.consequences_worst`.

Consequences are computed once per distinct set of groups, so the cost grows with the
number of distinct sets, not of users. Here every user has a set of their own: 5,000 users
(half humans, half headless) each in the common group, their category and 3 of 297 team
groups drawn at random (seed 7), about 5,000 distinct sets. Three pull requests against the
same server: a change to the common group's policy (every user), to the AllHumans category's
(half of them) and to one team's (the ~50 users of Team001). For each: the plan without and
with consequences (in this process, median of 3, alternating), then one `iamstate plan`
process for its peak memory. Prints numbers, asserts nothing.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import ACCOUNT_ID, client, env_for, moto_server
from benchmarks.consequences_plan import READ_ONLY, _document, _team, seed_groups

USERS = 5_000
TEAMS = 297  # + AllUsers, AllHumans, AllHeadlessUsers = 300 groups
PER_USER = 3
SEED = 7
RUNS = 3
EXTRA = {"Sid": "ReadShared", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]}


def name(i: int) -> str:
    return f"user{i:05d}" if i % 2 == 0 else f"HeadlessUser-{i:05d}"


def memberships() -> list[list[str]]:
    """Each user's 3 team groups, drawn at random (seed 7): the same on the server and in
    the repository."""
    rng = random.Random(SEED)
    teams = [f"Team{i:03d}" for i in range(TEAMS)]
    return [sorted(rng.sample(teams, PER_USER)) for _ in range(USERS)]


def seed(endpoint: str, teams_of: list[list[str]]) -> None:
    iam = client(endpoint)
    seed_groups(iam, TEAMS)

    def one(i: int) -> None:
        iam.create_user(UserName=name(i))
        category = "AllHumans" if i % 2 == 0 else "AllHeadlessUsers"
        for group in ("AllUsers", category, *teams_of[i]):
            iam.add_user_to_group(UserName=name(i), GroupName=group)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(USERS)))


def _with_extra(document: str) -> str:
    changed = json.loads(document)
    changed["Statement"].append(EXTRA)
    return json.dumps(changed)


def repository(target: Path, teams_of: list[list[str]], changed: str) -> Path:
    """The repository of the seeded account with one group's policy changed (`changed`:
    AllUsers, AllHumans or a team)."""
    account = target / "accounts" / "bench"
    account.mkdir(parents=True)
    (account / "account.yaml").write_text(
        f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\ncategories:\n'
        '  AllHumans: {}\n  AllHeadlessUsers: {match: "^HeadlessUser-"}\n')
    policies = target / "policies"
    policies.mkdir()
    self_doc, mfa_doc = _document("self-manage-credentials"), _document("require-mfa")
    (policies / "self.json").write_text(_with_extra(self_doc) if changed == "AllUsers"
                                        else self_doc)
    (policies / "mfa.json").write_text(_with_extra(mfa_doc) if changed == "AllHumans"
                                       else mfa_doc)
    lines = ["groups:", "  AllUsers: {inline_policies: {Self: self}}",
             "  AllHumans: {inline_policies: {RequireMFA: mfa}}"]
    for i in range(TEAMS):
        team = f"Team{i:03d}"
        document = _with_extra(_team(i)) if changed == team else _team(i)
        managed = f", managed_policies: ['{READ_ONLY}']" if i % 3 == 0 else ""
        lines.append(f"  {team}: {{inline_policies: {{Team: {document}}}{managed}}}")
    lines.append("users:")
    for i in range(USERS):
        category = "category: AllHumans, " if i % 2 == 0 else ""
        lines.append(f"  {name(i)}: {{{category}groups: [{', '.join(teams_of[i])}]}}")
    (account / "iam.yaml").write_text("\n".join(lines) + "\n")
    return target


def timed(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def peak_mb_of_plan(repo: Path, endpoint: str) -> tuple[float, float]:
    """(wall s, peak resident MB) of one `iamstate plan` process, consequences included."""
    command = [sys.executable, "-m", "iamstate", "--repo", str(repo), "plan",
               "--out", str(repo / "plan.json")]
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env_for(endpoint), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def measure(repo: Path, endpoint: str, label: str) -> None:
    from iamstate import workflow
    without: list[float] = []
    with_: list[float] = []
    for _ in range(RUNS):
        without.append(timed(lambda: workflow.plan_all(repo, consequences=False)))
        with_.append(timed(lambda: workflow.plan_all(repo, consequences=True)))
    [planned] = workflow.plan_all(repo)
    consequences = planned.plan.consequences
    assert consequences is not None
    a, b = statistics.median(without), statistics.median(with_)
    wall, peak = peak_mb_of_plan(repo, endpoint)
    print(f"{label}: plan without consequences {a:.2f} s, with {b:.2f} s: "
          f"+{(b - a) / a * 100:.0f} % (target ≤ +50 %); users whose permissions change "
          f"{len(consequences.users):,}; `iamstate plan` process {wall:.2f} s, "
          f"peak {peak:.0f} MB (target < 500 MB)", flush=True)


def main() -> None:
    teams_of = memberships()
    sets = {frozenset(t) for t in teams_of}
    print(f"{USERS:,} users, {TEAMS + 3} groups, {PER_USER} teams each drawn with seed "
          f"{SEED}: {len(sets):,} distinct sets of teams (x2 categories)", flush=True)
    with moto_server(managed_policies=True) as endpoint, \
            tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        seed(endpoint, teams_of)
        print(f"seeded in {time.perf_counter() - started:.0f} s", flush=True)
        os.environ.update(env_for(endpoint))
        for changed, label in (("AllUsers", "the common group (every user)"),
                               ("AllHumans", "the AllHumans category (half the users)"),
                               ("Team001", "one team group (Team001)")):
            repo = repository(Path(tmp) / changed, teams_of, changed)
            measure(repo, endpoint, label)


if __name__ == "__main__":
    main()
