"""The per-user reader a tool without GAAD would use: list users, then for each user its
groups, inline and attached policies, access keys, MFA devices and login profile."""

from __future__ import annotations

import json
import sys
import time

from botocore.exceptions import ClientError

from benchmarks.common import client, peak_rss_mb
from iamstate.aws.session import CallCounter


def main() -> None:
    iam = client(sys.argv[1])
    counter = CallCounter()
    counter.attach(iam)
    start = time.perf_counter()
    state = {}
    users = [u for page in iam.get_paginator("list_users").paginate() for u in page["Users"]]
    for user in users:
        name = user["UserName"]
        try:
            iam.get_login_profile(UserName=name)
            profile = True
        except ClientError:
            profile = False
        state[name] = {
            "groups": [g["GroupName"] for g in iam.list_groups_for_user(UserName=name)["Groups"]],
            "inline": iam.list_user_policies(UserName=name)["PolicyNames"],
            "attached": iam.list_attached_user_policies(UserName=name)["AttachedPolicies"],
            "keys": iam.list_access_keys(UserName=name)["AccessKeyMetadata"],
            "mfa": iam.list_mfa_devices(UserName=name)["MFADevices"],
            "profile": profile,
        }
    seconds = time.perf_counter() - start
    print(json.dumps({"calls": counter.total, "seconds": seconds, "peak_mb": peak_rss_mb(),
                      "users": len(state)}))


if __name__ == "__main__":
    main()
