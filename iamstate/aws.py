"""Sessions, the assumed role, retry configuration and the account guard."""

from __future__ import annotations

import threading
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from iamstate.errors import AccountMismatch, AwsError, RoleRefused
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
    note: str | None = None  # worth telling the user (e.g. the role could not be assumed)


def is_emulator(client: Any) -> bool:
    """True only for moto on this machine (the sandbox): a local endpoint that answers
    moto's own API. A local proxy in front of real AWS is not an emulator, and its gaps
    (APIs moto lacks) must not be read as "none exist" there."""
    url = urlparse(client.meta.endpoint_url)
    if url.hostname not in LOCAL_HOSTS:
        return False
    try:
        with urllib.request.urlopen(f"{url.scheme}://{url.netloc}/moto-api/",
                                    timeout=5) as answer:
            return b"Moto" in answer.read(4096)
    except (OSError, ValueError):
        return False


def connect(config: AccountConfig, counter: CallCounter | None = None,
            purpose: str = "plan") -> Connection:
    """Clients for the account, in the role for `purpose` (plan: the read-only role; apply:
    the write role); refuse any other account, and refuse to apply from the plan role."""
    try:
        session = boto3.Session()
        region = session.region_name or IAM_REGION
        identity = session.client("sts", region_name=region,
                                  config=RETRIES).get_caller_identity()
        caller = str(identity["Arn"])
        if purpose == "apply" and config.plan_role_arn and config.apply_role_arn and \
                in_role(caller, config.plan_role_arn):
            raise RoleRefused(
                f"account {config.name}: these credentials are the read-only plan role "
                f"({config.plan_role_arn}); apply needs {config.apply_role_arn}, which only "
                "the protected apply job can assume: nothing was changed")
        role = config.role_for(purpose)
        note = None
        assumed = bool(role) and not in_role(caller, str(role))
        if role and assumed:
            session, note = _assume(session, region, role, config, str(identity["Account"]))
        iam = session.client("iam", region_name=region, config=RETRIES)
        sts = session.client("sts", region_name=region, config=RETRIES)
        if counter is not None:
            counter.attach(iam)
            counter.attach(sts)
        actual = sts.get_caller_identity()["Account"] if assumed else identity["Account"]
    except (BotoCoreError, ClientError) as error:
        raise AwsError(f"account {config.name}: cannot reach AWS: {error}") from None
    if actual != config.account_id:
        raise AccountMismatch(
            f"account {config.name}: the credentials reach AWS account {actual}, but "
            f"accounts/{config.name}/account.yaml says account_id {config.account_id}: "
            "refusing to read or change anything; use the right profile or role")
    return Connection(iam, sts, actual, emulated=is_emulator(iam), note=note)


def _assume(session: Any, region: str, role: str, config: AccountConfig,
            own_account: str) -> tuple[Any, str | None]:
    """A session in `role`. The roles `iamstate bootstrap` makes trust only GitHub's OIDC
    provider: someone running iamstate at their desk, already in the account, works with
    their own credentials instead (and is told so)."""
    sts = session.client("sts", region_name=region, config=RETRIES)
    try:
        creds = sts.assume_role(RoleArn=role, RoleSessionName="iamstate")["Credentials"]
    except ClientError as error:
        if error_code(error) != "AccessDenied" or own_account != config.account_id:
            raise
        return session, (f"account {config.name}: cannot assume {role} (it trusts the CI "
                         "jobs only): using your own credentials in the account")
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"]), None


def in_role(caller_arn: str, role_arn: str) -> bool:
    """True when `caller_arn` is a session of `role_arn` (e.g. a CI job that assumed it
    through OIDC): assuming it again would need the role to trust itself."""
    # arn:aws:iam::123456789012:role/path/name -> a session arn:aws:sts::123456789012:
    # assumed-role/name/session (the role's path is not in it)
    parts = role_arn.split(":", 5)
    account, role_name = parts[4], parts[5].rsplit("/", 1)[-1]
    return f":{account}:assumed-role/{role_name}/" in caller_arn


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
