"""The account password policy as GetAccountPasswordPolicy answers it (all its settings)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iamstate.aws.answers import error_code
from iamstate.entities.base import Reading
from iamstate.entities.password_policy.model import PasswordPolicy
from iamstate.model.state import ONE


def read_password_policy(ctx: Reading) -> Mapping[str, PasswordPolicy]:
    found = password_policy(ctx.conn.iam)
    return {} if found is None else {ONE: found}


def password_policy(iam: Any) -> PasswordPolicy | None:
    from botocore.exceptions import ClientError  # only where AWS is called

    try:
        raw = iam.get_account_password_policy()["PasswordPolicy"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return None
        raise
    return PasswordPolicy.from_fields(raw, complete=True)
