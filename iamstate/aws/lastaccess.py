"""AWS's last-accessed data (Access Advisor) for groups: which services and actions the
members used through the group's policies, and who.

One job per group (`GenerateServiceLastAccessedDetails`, action level: AWS adds the tracked
actions where it has them), read by the same client that created it (AWS shows a job only to
its creator), polled with back-off; jobs run a few at a time, within IAM's rate limits
(throttling is retried by the client's own retry mode).
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from iamstate.errors import AwsError
from iamstate.model.arn import name_of

WORKERS = 8  # jobs in flight at once: IAM's control plane throttles well before that hurts
FIRST_POLL = 0.1  # seconds; AWS's jobs take a few seconds, the sandbox's none
LONGEST_POLL = 5.0
JOB_DEADLINE = 600.0


@dataclass(frozen=True)
class Use:
    """The last use of a service or action: when, by whom (a user's name)."""

    when: datetime.datetime
    by: str


@dataclass(frozen=True)
class ServiceAccess:
    namespace: str
    name: str
    last: Use | None
    # action name ("s3:PutObject") -> its last use; None: AWS tracks no action of this service
    actions: Mapping[str, Use | None] | None
    users: Mapping[str, datetime.datetime]  # who used it (through the group), and when last


@dataclass(frozen=True)
class GroupAccess:
    group: str
    reported: datetime.datetime  # AWS's report time (JobCompletionDate)
    services: tuple[ServiceAccess, ...]


def _name(arn: str | None) -> str:
    return name_of(arn or "")


def _use(when: datetime.datetime | None, arn: str | None) -> Use | None:
    return None if when is None else Use(when, _name(arn))


def _actions(service: str, raw: list[dict[str, Any]] | None) -> dict[str, Use | None] | None:
    if raw is None:
        return None
    # AWS names the action alone ("PutObject"); accept a prefixed one too
    return {f"{service}:{a['ActionName'].rpartition(':')[2]}":
            _use(a.get("LastAccessedTime"), a.get("LastAccessedEntity")) for a in raw}


class Reader:
    """Reads last-accessed data for groups with one IAM client (jobs are per identity)."""

    def __init__(self, iam: Any, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.iam, self.sleep, self.clock = iam, sleep, clock

    def groups(self, arns: Mapping[str, str]) -> dict[str, GroupAccess]:
        """group name -> its data, for every group ARN given (concurrently)."""
        if not arns:
            return {}
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(arns))) as pool:
            found = pool.map(lambda item: self.group(*item), arns.items())
            return {access.group: access for access in found}

    def group(self, name: str, arn: str) -> GroupAccess:
        try:
            job = self.iam.generate_service_last_accessed_details(
                Arn=arn, Granularity="ACTION_LEVEL")["JobId"]
            first = self._completed(job, name)
            raw = list(first["ServicesLastAccessed"])
            raw += self._rest(first, lambda marker: self.iam.get_service_last_accessed_details(
                JobId=job, Marker=marker), "ServicesLastAccessed")
            services = tuple(self._service(job, s) for s in raw)
        except (BotoCoreError, ClientError) as error:
            raise AwsError(f"group {name}: cannot read its last-accessed data: {error}") from None
        return GroupAccess(name, first["JobCompletionDate"], services)

    def _completed(self, job: str, name: str) -> dict[str, Any]:
        """Poll until AWS has finished the job: back-off from 0.1 s to 5 s."""
        delay, deadline = FIRST_POLL, self.clock() + JOB_DEADLINE
        while True:
            answer: dict[str, Any] = self.iam.get_service_last_accessed_details(JobId=job)
            status = answer["JobStatus"]
            if status == "COMPLETED":
                return answer
            if status == "FAILED":
                error = answer.get("Error") or {}
                raise AwsError(f"group {name}: AWS could not make its last-accessed report: "
                               f"{error.get('Code', '?')}: {error.get('Message', '')}")
            if self.clock() > deadline:
                raise AwsError(f"group {name}: the last-accessed report was not ready after "
                               f"{JOB_DEADLINE:.0f} s: try again later")
            self.sleep(delay)
            delay = min(delay * 2, LONGEST_POLL)

    @staticmethod
    def _rest(first: dict[str, Any], more: Callable[[str], dict[str, Any]],
              key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = first
        while page.get("IsTruncated"):
            page = more(page["Marker"])
            items += page[key]
        return items

    def _service(self, job: str, raw: dict[str, Any]) -> ServiceAccess:
        namespace = raw["ServiceNamespace"]
        last = _use(raw.get("LastAuthenticated"), raw.get("LastAuthenticatedEntity"))
        users = self._users(job, namespace) if last is not None else {}
        return ServiceAccess(namespace, raw.get("ServiceName", namespace), last,
                             _actions(namespace, raw.get("TrackedActionsLastAccessed")), users)

    def _users(self, job: str, namespace: str) -> dict[str, datetime.datetime]:
        """Which members used the service, and when last (only asked for used services)."""
        def page(marker: str | None = None) -> dict[str, Any]:
            extra = {"Marker": marker} if marker else {}
            answer: dict[str, Any] = self.iam.get_service_last_accessed_details_with_entities(
                JobId=job, ServiceNamespace=namespace, **extra)
            return answer

        first = page()
        entities = list(first["EntityDetailsList"]) + self._rest(first, page, "EntityDetailsList")
        return {e["EntityInfo"]["Name"]: e["LastAuthenticated"] for e in entities
                if e.get("LastAuthenticated") is not None}
