"""Test helpers that talk to IAM with plain boto3, independent of the code under test."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

from iamstate.model.state import State
from iamstate.repository.policy import PolicyDocument

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ID = "123456789012"


def doc(*statements: dict[str, Any]) -> PolicyDocument:
    """An identity policy document of these statements (Version 2012-10-17)."""
    return PolicyDocument({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: str | list[str], resource: str | list[str] = "*",
          condition: dict[str, Any] | None = None) -> dict[str, Any]:
    """An Allow statement, with a Condition block only when one is given."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def copy_example(target: Path) -> Path:
    shutil.copytree(ROOT / "accounts", target / "accounts")
    shutil.copytree(ROOT / "policies", target / "policies")
    return target


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def minimal_repo(
    root: Path, account_yaml: str | None = None, files: dict[str, str] | None = None
) -> Path:
    """An account `acme` with a common group and two categories, plus `files` (path: text)."""
    write(root, "accounts/acme/account.yaml", account_yaml or f"""
        account_id: "{ACCOUNT_ID}"
        common_groups: [AllUsers]
        categories:
          AllHumans: {{}}
          AllHeadlessUsers: {{match: "^HeadlessUser-"}}
        """)
    for relative, text in (files or {}).items():
        write(root, relative, text)
    return root


def seed(iam: Any, state: State, account_id: str = ACCOUNT_ID) -> None:
    """Create `state` in IAM directly (user policies included, which iamstate never makes)."""
    for policy in state.policies.values():
        iam.create_policy(PolicyName=policy.name, Path=policy.path,
                          PolicyDocument=policy.document.to_json(),
                          **({"Description": policy.description} if policy.description else {}))
    for group in state.groups.values():
        iam.create_group(GroupName=group.name, Path=group.path)
        for name, document in group.inline_policies:
            iam.put_group_policy(GroupName=group.name, PolicyName=name,
                                 PolicyDocument=document.to_json())
        for arn in group.managed_policies:
            iam.attach_group_policy(GroupName=group.name, PolicyArn=arn)
    for user in state.users.values():
        tags = [{"Key": k, "Value": v} for k, v in user.tags]
        iam.create_user(UserName=user.name, Path=user.path, **({"Tags": tags} if tags else {}))
        for group_name in user.groups:
            iam.add_user_to_group(UserName=user.name, GroupName=group_name)
        for name, document in user.inline_policies:
            iam.put_user_policy(UserName=user.name, PolicyName=name,
                                PolicyDocument=document.to_json())
        for arn in user.attached_policies:
            iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
        if user.console_access:
            iam.create_login_profile(UserName=user.name, Password="Seeded-Passw0rd!")
    if state.password_policy is not None:
        settings = {k: v for k, v in state.password_policy.as_dict().items()
                    if not (k in ("MaxPasswordAge", "PasswordReusePrevention") and v == 0)}
        iam.update_account_password_policy(**settings)


def snapshot(iam: Any) -> str:
    """Everything an apply could change, as one comparable string."""
    details: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "Policies": []}
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group", "LocalManagedPolicy"])
    for page in pages:
        for key in details:
            details[key] += page.get(key, [])
    extra = {}
    for user in details["UserDetailList"]:
        name = user["UserName"]
        keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
        profile = exists(iam, "get_login_profile", UserName=name)
        extra[name] = {"keys": sorted(k["AccessKeyId"] for k in keys), "profile": profile,
                       "mfa": [m["SerialNumber"] for m in
                               iam.list_mfa_devices(UserName=name)["MFADevices"]]}
    try:
        password_policy = iam.get_account_password_policy()["PasswordPolicy"]
    except iam.exceptions.NoSuchEntityException:
        password_policy = None
    return json.dumps({"details": details, "credentials": extra,
                       "password_policy": password_policy}, sort_keys=True, default=str)


def exists(iam: Any, operation: str, **params: str) -> bool:
    """Does IAM answer `operation` (a Get...) for these parameters, or say NoSuchEntity?"""
    try:
        getattr(iam, operation)(**params)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


def extended(state: State, **more: Any) -> State:
    """A new State: `state` with entries added or replaced (users={...}, groups={...},
    policies={...}) or removed (value None). States are immutable; tests build new ones."""
    fields: dict[str, Any] = {}
    for name in ("users", "groups", "policies"):
        current = dict(getattr(state, name))
        for key, value in (more.get(name) or {}).items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        fields[name] = current
    password = more.get("password_policy", state.password_policy)
    return State(fields["users"], fields["groups"], fields["policies"], password)


def summary_of(changes: Any) -> list[tuple[str, str, str]]:
    """(action, kind, name) of each change, as the plan JSON writes them."""
    from iamstate.plan.planfile import change_to_json

    return [(c["action"], c["kind"], c["name"]) for c in map(change_to_json, changes)]


def apply_changes(conn: Any, config: Any, changes: Any, root: Path, workers: int = 4,
                  retry: Any = None, password_policy: Any = None) -> Any:
    """Apply typed changes as `iamstate apply` does (the runner with the kinds' handlers)."""
    from iamstate.aws.client import Iam
    from iamstate.plan.apply import Runner
    from iamstate.plan.kinds.base import ApplyContext

    ctx = ApplyContext(Iam(conn.iam, retry), config, root, root / ".iamstate" / "out",
                       password_policy, conn.emulated)
    return Runner(ctx, workers).run(list(changes))
