"""IAM ARNs, built and read in one place: `arn:PARTITION:iam::ACCOUNT:KIND/PATH/NAME`.

A user, group, role or customer managed policy lives under a path; the ARN is the kind,
the path (starting and ending with `/`) and the name. AWS managed policies belong to the
account `aws`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

AWS_MANAGED = ":iam::aws:policy/"  # in every AWS managed policy's ARN, any partition
# Paths AWS keeps for itself: service-linked roles and service roles (and their policies).
PROTECTED_PATHS = ("/aws-service-role/", "/service-role/")
# A managed policy ARN as AWS accepts it on AttachGroupPolicy: AWS managed (account "aws")
# or customer managed in an account, with an optional path.
POLICY_ARN = re.compile(
    r"^arn:(?P<partition>[a-z-]+):iam::(?P<account>aws|[0-9]{12}):policy"
    r"(?P<path>/(?:[\x21-\x7e]*/)?)(?P<name>[\w+=,.@-]{1,128})$", re.ASCII)


def iam_arn(partition: str, account: str, kind: str, name: str, path: str = "/") -> str:
    """`iam_arn("aws", "123456789012", "policy", "p", "/team/")` ->
    `arn:aws:iam::123456789012:policy/team/p`."""
    return f"arn:{partition}:iam::{account}:{kind}{path}{name}"


def policy_arn(partition: str, account: str, path: str, name: str) -> str:
    return iam_arn(partition, account, "policy", name, path)


def own_policy_prefix(partition: str, account: str) -> str:
    """What every customer managed policy ARN of the account starts with."""
    return iam_arn(partition, account, "policy", "")


def is_aws_managed(arn: str) -> bool:
    return AWS_MANAGED in arn


@dataclass(frozen=True)
class IamArn:
    """The parts of an IAM ARN (`resource` is everything after the account)."""

    partition: str
    account: str
    kind: str
    path: str
    name: str

    @property
    def resource(self) -> str:
        return f"{self.kind}{self.path}{self.name}"


def parse(arn: str) -> IamArn | None:
    """An IAM ARN's parts, or None for anything else."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        return None
    kind, slash, rest = parts[5].partition("/")
    if not slash:
        return IamArn(parts[1], parts[4], kind, "", "")
    path, _, name = rest.rpartition("/")
    return IamArn(parts[1], parts[4], kind, f"/{path}/" if path else "/", name)


def account_of(arn: str) -> str | None:
    """The account of any ARN (`arn:aws:iam::123456789012:role/x` -> 123456789012)."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 else None


def name_of(arn: str) -> str:
    """The last part of an ARN's resource: a user's, group's, role's or policy's name."""
    return arn.rsplit("/", 1)[-1]
