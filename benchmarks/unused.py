"""`iamstate unused` on 300 groups against the sandbox: `python -m benchmarks.unused`.

Prints numbers, asserts nothing: API calls by operation and wall time, for the report and
for `--write`. 300 groups (AllUsers, AllHeadlessUsers, 298 teams with an inline policy for
S3, DynamoDB and SQS, every third team also with AWS's ReadOnlyAccess), two users per team;
one user in three made calls with their own key (S3 and STS), so most groups have something
to trim and some have something in use.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

from benchmarks.common import ACCOUNT_ID, client, moto_server
from iamstate.analysis.unused import run
from iamstate.aws.session import CallCounter

GROUPS = 300
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
TEAM = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "s3:PutObject", "s3:GetObject"],
     "Resource": "*"},
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "*"},
    {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]}


def teams() -> list[str]:
    return [f"Team{i:03d}" for i in range(GROUPS - 2)]


def write_repo(root: Path) -> None:
    account = root / "accounts" / "bench"
    account.mkdir(parents=True)
    (account / "account.yaml").write_text(
        f'account_id: "{ACCOUNT_ID}"\ncommon_groups: [AllUsers]\n'
        'categories:\n  AllHeadlessUsers: {match: "^HeadlessUser-"}\n')
    lines = ["groups:", "  AllUsers: {}", "  AllHeadlessUsers: {}"]
    for i, name in enumerate(teams()):
        lines += [f"  {name}:", "    inline_policies:",
                  f"      Team: {json.dumps(TEAM)}"]
        if i % 3 == 0:
            lines.append(f"    managed_policies: [{READ_ONLY}]")
    (account / "groups.yaml").write_text("\n".join(lines) + "\n")
    users = ["users:"] + [f"  HeadlessUser-{i:04d}: {{groups: [{team}]}}"
                          for i, team in enumerate(t for t in teams() for _ in range(2))]
    (account / "users.yaml").write_text("\n".join(users) + "\n")
    when = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=60)).isoformat()
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.com",
           "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run(["git", *command], cwd=root, env=env, check=True, capture_output=True)


def seed(endpoint: str) -> None:
    iam = client(endpoint)
    for name in ("AllUsers", "AllHeadlessUsers"):
        iam.create_group(GroupName=name)

    def team(item: tuple[int, str]) -> None:
        i, name = item
        iam.create_group(GroupName=name)
        iam.put_group_policy(GroupName=name, PolicyName="Team", PolicyDocument=json.dumps(TEAM))
        if i % 3 == 0:
            iam.attach_group_policy(GroupName=name, PolicyArn=READ_ONLY)
        for j in (2 * i, 2 * i + 1):
            user = f"HeadlessUser-{j:04d}"
            iam.create_user(UserName=user)
            for group in ("AllUsers", "AllHeadlessUsers", name):
                iam.add_user_to_group(UserName=user, GroupName=group)
            if j % 3 == 0:
                use(endpoint, iam, user)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(team, enumerate(teams())))


def use(endpoint: str, iam: object, user: str) -> None:
    key = iam.create_access_key(UserName=user)["AccessKey"]  # type: ignore[attr-defined]
    own = {"endpoint_url": endpoint, "region_name": "us-east-1",
           "aws_access_key_id": key["AccessKeyId"],
           "aws_secret_access_key": key["SecretAccessKey"]}
    boto3.client("s3", **own).list_buckets()
    boto3.client("sts", **own).get_caller_identity()


def measure(repo: Path, write: bool) -> None:
    counter = CallCounter()
    start = time.perf_counter()
    (outcome,) = run(repo, None, 90, write, counter=counter)
    seconds = time.perf_counter() - start
    found = sum(1 for r in outcome.reports if r.found)
    removals = sum(len(r.removals) for r in outcome.reports)
    print(f"unused{' --write' if write else ''}: {len(outcome.reports)} groups, {found} with "
          f"something unused, {removals} grants to remove, {len(outcome.written)} file(s) "
          f"written; {counter.total} calls in {seconds:.1f} s")
    for name, count in sorted(counter.calls.items()):
        print(f"  {name}: {count}")


def main() -> None:
    with moto_server(managed_policies=True) as endpoint, \
            tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint})
        repo = Path(tmp)
        write_repo(repo)
        started = time.perf_counter()
        seed(endpoint)
        print(f"seeded {GROUPS} groups, {2 * (GROUPS - 2)} users in "
              f"{time.perf_counter() - started:.0f} s")
        measure(repo, write=False)
        measure(repo, write=True)


if __name__ == "__main__":
    main()
