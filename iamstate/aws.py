"""Sessions, the assumed role, retry configuration and the account guard."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from iamstate.errors import AccountMismatch, AwsError
from iamstate.model import AccountConfig

IAM_REGION = "us-east-1"  # IAM's control plane is global and lives here
# Adaptive mode retries Throttling with backoff and rate-limits the client when AWS pushes
# back; errors no botocore mode retries (ConcurrentModification, ...) are iamstate's job.
RETRIES = Config(retries={"mode": "adaptive", "total_max_attempts": 10},
                 max_pool_connections=32)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class CallCounter:
    """Counts IAM/STS API calls made through clients it is attached to (for tests, benchmarks)."""

    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls[model.name] = self.calls.get(model.name, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self)


@dataclass
class Connection:
    """The clients for one account, once its identity has been checked."""

    iam: Any
    sts: Any
    account_id: str
    # True against an emulator (the sandbox: moto on a local endpoint), whose known gaps
    # (APIs it does not implement) may be read as "nothing of that kind exists".
    emulated: bool = False


def is_local_endpoint(client: Any) -> bool:
    return urlparse(client.meta.endpoint_url).hostname in LOCAL_HOSTS


def connect(config: AccountConfig, counter: CallCounter | None = None) -> Connection:
    """Clients for the account, assuming `role_arn` if set; refuse any other account."""
    try:
        session = boto3.Session()
        region = session.region_name or IAM_REGION
        if config.role_arn and not _already_in_role(session, region, config.role_arn):
            sts = session.client("sts", region_name=region, config=RETRIES)
            creds = sts.assume_role(RoleArn=config.role_arn,
                                    RoleSessionName="iamstate")["Credentials"]
            session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                    aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"])
        iam = session.client("iam", region_name=region, config=RETRIES)
        sts = session.client("sts", region_name=region, config=RETRIES)
        if counter is not None:
            counter.attach(iam)
            counter.attach(sts)
        actual = sts.get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as error:
        raise AwsError(f"account {config.name}: cannot reach AWS: {error}") from None
    if actual != config.account_id:
        raise AccountMismatch(
            f"account {config.name}: the credentials reach AWS account {actual}, but "
            f"accounts/{config.name}/account.yaml says account_id {config.account_id}: "
            "refusing to read or change anything; use the right profile or role_arn")
    return Connection(iam, sts, actual, emulated=is_local_endpoint(iam))


def _already_in_role(session: Any, region: str, role_arn: str) -> bool:
    """True when the credentials are already a session of `role_arn` (e.g. a CI job that
    assumed it through OIDC): assuming it again would need the role to trust itself."""
    # arn:aws:iam::123456789012:role/path/name -> a session arn:aws:sts::123456789012:
    # assumed-role/name/session (the role's path is not in it)
    parts = role_arn.split(":", 5)
    account, role_name = parts[4], parts[5].rsplit("/", 1)[-1]
    try:
        sts = session.client("sts", region_name=region, config=RETRIES)
        arn = str(sts.get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError):
        return False
    return f":{account}:assumed-role/{role_name}/" in arn


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
