"""Validate benchmark: the whole `iamstate validate` process, as a pre-commit hook runs it.

    python -m benchmarks.validate [USERS ...] [--runs N]      (default: 1000 5000, 5 runs)

Times the example repository (this repository's accounts/ and policies/) and, for each
size, a generated one-file repository of USERS users and 300 groups (categories, a common
group, team groups with inline and managed policies, tags, paths). Each run is its own
process, started the way a hook starts it; prints the median wall and CPU time and the
peak resident memory of the child (its ru_maxrss), so interpreter start-up and imports count.
An installed iamstate has its bytecode compiled, so the runs may write it (whatever
PYTHONDONTWRITEBYTECODE says) and one untimed run comes first.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ACCOUNT_ID, ROOT

GROUPS = 300
RUNS = 5
POLICY = ('{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", '
          '"Action": ["s3:GetObject", "s3:ListBucket"], '
          '"Resource": "arn:${{partition}}:s3:::team-{index:03d}-${{account_id}}/*"}}]}}\n')


def timed_validate(repo: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak MB) of one `iamstate --repo REPO validate` process;
    it must pass: a benchmark of the error path would measure something else. CPU time is
    there because wall time on a shared machine also measures the neighbours."""
    exe = Path(sys.executable).parent / "iamstate"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    start = time.perf_counter()
    process = subprocess.Popen([str(exe), "--repo", str(repo), "validate"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    errors = process.stderr.read()
    # wait4, not wait: the child's own rusage, so its peak memory is iamstate's alone.
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"validate failed on {repo}:\n{errors.decode()[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def example_repository(target: Path) -> Path:
    shutil.copytree(ROOT / "accounts", target / "accounts")
    shutil.copytree(ROOT / "policies", target / "policies")
    return target


def _group_lines(index: int) -> list[str]:
    """A team group: most reference a policies/ file, some write a document in place, some
    attach managed policies (an AWS one by ARN, a customer one by name)."""
    lines = [f"  Team{index:03d}:"]
    if index % 4 == 0:
        lines += ["    path: /teams/"]
    if index % 3 == 0:
        lines += ["    inline_policies:", f"      ReadTeamBucket: team-{index % 10}"]
    elif index % 3 == 1:
        lines += ["    inline_policies:", "      ReadLogs:", '        Version: "2012-10-17"',
                  "        Statement:", "          - Effect: Allow",
                  "            Action: [logs:GetLogEvents, logs:FilterLogEvents]",
                  f'            Resource: "arn:${{partition}}:logs:*:${{account_id}}:'
                  f'log-group:/team/{index:03d}/*"']
    else:
        lines += ["    managed_policies:", "      - arn:aws:iam::aws:policy/ReadOnlyAccess",
                  f"      - assume-role-{index % 20:02d}"]
    return lines


def _user_lines(index: int, teams: int) -> list[str]:
    """Two users in three are people (explicit category, tags, sometimes a path and a key);
    the rest are headless, their category inferred from the name."""
    team = index % teams
    if index % 3 == 2:
        return [f"  HeadlessUser-svc{index:05d}:", f"    groups: [Team{team:03d}]",
                f"    tags: {{owner: team-{team:03d}}}"]
    lines = [f"  user{index:05d}:", "    category: AllHumans",
             f"    groups: [Team{team:03d}, Team{(team + 7) % teams:03d}]",
             "    tags:", f"      team: team-{team:03d}", f"      cost-center: cc-{index % 40}"]
    if index % 5 == 0:
        lines += ["    path: /engineering/"]
    if index % 10 == 0:
        lines += ["    console_access: true",
                  "    public_key: age1chj4p4cagtermhvxyzdx4qtpl4yfkjww9v6w7lwnarmwn0tnxa9s39fjjw"]
    return lines


def generated_repository(target: Path, users: int) -> Path:
    """USERS users and GROUPS groups (2 categories + the common group + team groups) in one
    resource file, 20 customer managed policies, 10 policy files."""
    account = target / "accounts" / "bench"
    account.mkdir(parents=True)
    (account / "account.yaml").write_text(
        f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\ncategories:\n'
        '  AllHumans: {}\n  AllHeadlessUsers: {match: "^HeadlessUser-"}\n'
        'safety:\n  max_deletions: 5\nignore:\n  users: ["break-glass-*"]\n')
    policies = target / "policies"
    policies.mkdir()
    for index in range(10):
        (policies / f"team-{index}.json").write_text(POLICY.format(index=index))
    shutil.copy(ROOT / "policies" / "assume-readonly-role.json", policies)
    teams = GROUPS - 3
    lines = ["# generated by benchmarks.validate", "groups:", "  AllUsers:",
             "    inline_policies:", "      AssumeReadOnly: assume-readonly-role"]
    for index in range(teams):
        lines += _group_lines(index)
    lines += ["policies:"]
    for index in range(20):
        lines += [f"  assume-role-{index:02d}:", "    document: assume-readonly-role",
                  f"    description: Lets team {index} assume the ReadOnly role"]
    lines += ["users:"]
    for index in range(users):
        lines += _user_lines(index, teams)
    (account / "iam.yaml").write_text("\n".join(lines) + "\n")
    return target


def median_of(repo: Path, runs: int) -> tuple[float, float, float]:
    timed_validate(repo)  # bytecode written, files in the page cache: as on the second commit
    results = [timed_validate(repo) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
            max(r[2] for r in results))


def main() -> None:
    args = sys.argv[1:]
    runs = RUNS
    if "--runs" in args:
        at = args.index("--runs")
        runs = int(args[at + 1])
        del args[at:at + 2]
    sizes = [int(a) for a in args] or [1000, 5000]
    print(f"{'repository':>24} {'file KB':>8} | {'wall s':>7} {'cpu s':>6} {'peak MB':>8}   "
          f"(medians of {runs} runs)")
    with tempfile.TemporaryDirectory() as tmp:
        repos = [("example", example_repository(Path(tmp) / "example"))]
        repos += [(f"{users:,} users + {GROUPS} groups",
                   generated_repository(Path(tmp) / str(users), users)) for users in sizes]
        for label, repo in repos:
            size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file()) / 1024
            seconds, cpu, peak = median_of(repo, runs)
            print(f"{label:>24} {size:>8.0f} | {seconds:>7.3f} {cpu:>6.3f} {peak:>8.0f}",
                  flush=True)


if __name__ == "__main__":
    main()
