"""The roles `iamstate bootstrap` writes are enough, and no more: every IAM call plan,
audit and import make is a read the plan role grants; every call apply makes is in the
apply role (recorded through botocore's hooks; moto does not enforce IAM)."""

from __future__ import annotations

from pathlib import Path

from iamstate.analysis.cis import read_facts
from iamstate.aws.bootstrap import template
from iamstate.aws.live import READ_ACTIONS, credential_report, outside_documents, read_live
from iamstate.aws.session import Connection
from iamstate.plan.kinds import all_actions
from iamstate.plan.planner import plan_account
from iamstate.repository.loader import load_repository
from tests.helpers import apply_changes, seed


def _granted(role: dict[str, object]) -> set[str]:
    actions: set[str] = set()
    for policy in role["Properties"]["Policies"]:  # type: ignore[index]
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                raw = statement["Action"]
                actions |= set(raw if isinstance(raw, list) else [raw])
    return actions


def test_plan_audit_and_apply_call_only_what_the_roles_grant(conn: Connection,
                                                            example_repo: Path) -> None:
    [account] = load_repository(example_repo)
    seed(conn.iam, account.desired)
    conn.iam.create_user(UserName="intruder")  # a teardown to list
    conn.iam.create_access_key(UserName="intruder")
    called: list[str] = []
    conn.iam.meta.events.register("before-call.iam.*",
                                  lambda model, **_: called.append(f"iam:{model.name}"))
    live = read_live(conn, account.config, account.desired)
    documents = outside_documents(conn, account.config, account.desired, live)
    read_facts(conn, credential_report(conn.iam, with_root=True))  # the CIS audit's reads
    plan = plan_account(account.config, account.desired, live, documents)
    reads = set(called)
    assert reads <= READ_ACTIONS, sorted(reads - READ_ACTIONS)
    called.clear()
    apply_changes(conn, account.config, plan.changes, example_repo)
    writes = set(called)
    assert writes and writes <= all_actions(), sorted(writes - all_actions())

    resources = template("acme/iam", plan_actions=sorted(READ_ACTIONS),
                         apply_actions=sorted(all_actions()))["Resources"]
    plan_role = next(r for r in resources.values() if r["Type"] == "AWS::IAM::Role"
                     and "plan" in str(r["Properties"].get("RoleName", "")))
    apply_role = next(r for r in resources.values() if r["Type"] == "AWS::IAM::Role"
                      and "apply" in str(r["Properties"].get("RoleName", "")))
    assert reads <= _granted(plan_role) and not (writes - reads) & _granted(plan_role)
    assert reads | writes <= _granted(apply_role)
