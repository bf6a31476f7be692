"""Sessions, the assumed role, retry configuration and the account guard."""

from __future__ import annotations

import datetime
import os
import threading
import urllib.request
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import botocore.session
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import parse_timestamp

from iamstate.aws.answers import error_code
from iamstate.aws.identity import TokenSource, web_identity_token
from iamstate.errors import AccountMismatch, AwsError, RoleRefused
from iamstate.model.account import AccountConfig
from iamstate.model.arn import account_of, name_of

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
    return _answers_as_moto(str(client.meta.endpoint_url))


@lru_cache(maxsize=64)
def _answers_as_moto(endpoint: str) -> bool:
    url = urlparse(endpoint)
    if url.hostname not in LOCAL_HOSTS:
        return False
    try:
        with urllib.request.urlopen(f"{url.scheme}://{url.netloc}/moto-api/",
                                    timeout=5) as answer:
            return b"Moto" in answer.read(4096)
    except (OSError, ValueError):
        return False


Creds = dict[str, str]  # aws_access_key_id, aws_secret_access_key, aws_session_token
_SESSIONS: dict[tuple[str | None, ...], Any] = {}
_SESSION_LOCK = threading.Lock()


def timestamp(value: str) -> datetime.datetime:
    """A response's timestamp, as botocore's own parser reads it: IAM answers ISO 8601 with a
    zone (`2026-01-01T00:00:00Z`), which the standard library reads several times faster
    than dateutil (a 5,000-user GAAD has 5,500 of them); any other form (no zone, epoch
    seconds, RFC 822) goes to botocore's parser."""
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        fallback: datetime.datetime = parse_timestamp(value)
        return fallback
    return parsed


def client(service: str, creds: Creds | None = None, unsigned: bool = False) -> Any:
    """A client from one shared session (its service models are loaded once, not for every
    account of a batch); `creds` an assumed role's, else boto3's usual chain."""
    # One session per environment it was made in (credentials, profile, endpoints), so a
    # process that changes them (tests do) never gets a session made for other ones.
    key = tuple(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("AWS_"))
    with _SESSION_LOCK:  # boto3 sessions are not safe to share across threads otherwise
        session = _SESSIONS.get(key)
        if session is None:
            # botocore's own session: boto3 adds nothing iamstate uses, and costs its
            # import (s3transfer...) on every command
            session = _SESSIONS[key] = botocore.session.get_session()
            session.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=timestamp)
        config = RETRIES.merge(Config(signature_version=UNSIGNED)) if unsigned else RETRIES
        region = session.get_config_variable("region") or IAM_REGION
        return session.create_client(service, region_name=region, config=config,
                                     **(creds or {}))


def _creds(answer: Any) -> Creds:
    found = answer["Credentials"]
    return {"aws_access_key_id": found["AccessKeyId"],
            "aws_secret_access_key": found["SecretAccessKey"],
            "aws_session_token": found["SessionToken"]}


def connect(config: AccountConfig, counter: CallCounter | None = None,
            purpose: str = "plan", web_identity: TokenSource | None = None) -> Connection:
    """Clients for the account, in the role for `purpose` (plan: the read-only role; apply:
    the write role); refuse any other account, and refuse to apply from the plan role.

    In a CI job, the role is assumed with the job's OIDC token (`web_identity`; by default
    the source the command line named, `aws.identity`: the CI host's), so one job reaches
    each account in its own role and no key is stored anywhere."""
    role = config.role_for(purpose)
    token = (web_identity or web_identity_token)() if role else None
    note = None
    try:
        if role and token:
            creds: Creds | None = _creds(client("sts", unsigned=True)
                                         .assume_role_with_web_identity(
                RoleArn=role, RoleSessionName=f"iamstate-{purpose}", WebIdentityToken=token))
            identity = own_sts = None
        else:
            own_sts = client("sts")
            identity = own_sts.get_caller_identity()
            caller = str(identity["Arn"])
            if purpose == "apply" and config.plan_role_arn and config.apply_role_arn and \
                    in_role(caller, config.plan_role_arn):
                raise RoleRefused(
                    f"account {config.name}: these credentials are the read-only plan role "
                    f"({config.plan_role_arn}); apply needs {config.apply_role_arn}, which "
                    "only the protected apply job can assume: nothing was changed")
            creds = None
            if role and not in_role(caller, role):
                creds, note = _assume(role, config, str(identity["Account"]))
        # in one's own credentials, the client that asked who we are serves on
        sts = client("sts", creds) if creds or own_sts is None else own_sts
        iam = client("iam", creds)
        if counter is not None:
            counter.attach(iam)
            counter.attach(sts)
        actual = str(sts.get_caller_identity()["Account"] if creds or identity is None
                     else identity["Account"])
    except (BotoCoreError, ClientError) as error:
        how = f"cannot assume {role} with the CI job's OIDC token" if token else \
            "cannot reach AWS"
        raise AwsError(f"account {config.name}: {how}: {error}") from None
    _guard(config, actual)
    return Connection(iam, sts, actual, emulated=is_emulator(iam), note=note)


def _guard(config: AccountConfig, actual: str) -> None:
    if actual != config.account_id:
        raise AccountMismatch(
            f"account {config.name}: the credentials reach AWS account {actual}, but "
            f"accounts/{config.name}/account.yaml says account_id {config.account_id}: "
            "refusing to read or change anything; use the right profile or role")


def _assume(role: str, config: AccountConfig, own_account: str) -> tuple[Creds | None,
                                                                          str | None]:
    """Credentials of `role`. The roles `iamstate bootstrap` makes trust only the CI host's
    OIDC provider: someone running iamstate at their desk, already in the account, works with
    their own credentials instead (and is told so)."""
    try:
        return _creds(client("sts").assume_role(RoleArn=role,
                                                RoleSessionName="iamstate")), None
    except ClientError as error:
        if error_code(error) != "AccessDenied" or own_account != config.account_id:
            raise
        return None, (f"account {config.name}: cannot assume {role} (it trusts the CI jobs "
                      "only): using your own credentials in the account")


def in_role(caller_arn: str, role_arn: str) -> bool:
    """True when `caller_arn` is a session of `role_arn` (e.g. a CI job that assumed it
    through OIDC): assuming it again would need the role to trust itself."""
    # arn:aws:iam::123456789012:role/path/name -> a session arn:aws:sts::123456789012:
    # assumed-role/name/session (the role's path is not in it)
    return f":{account_of(role_arn)}:assumed-role/{name_of(role_arn)}/" in caller_arn

