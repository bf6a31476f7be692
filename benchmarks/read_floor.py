"""The read floor: what any tool must do to plan an account, and nothing more. Raw boto3:
GAAD filtered to users, groups and local policies (every page), the password policy, and
the credential report (generate + get). No parsing, no repository.

    python -m benchmarks.read_floor          (AWS_ENDPOINT_URL points at the account)
"""

from __future__ import annotations

import contextlib
import time

import boto3
from botocore.exceptions import ClientError


def main() -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    boto3.client("sts", region_name="us-east-1").get_caller_identity()
    pages = iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Group", "LocalManagedPolicy"], PaginationConfig={"PageSize": 1000})
    for _ in pages:
        pass
    with contextlib.suppress(ClientError):
        iam.get_account_password_policy()
    while iam.generate_credential_report()["State"] != "COMPLETE":
        time.sleep(0.2)
    iam.get_credential_report()


if __name__ == "__main__":
    main()
