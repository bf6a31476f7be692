"""The sandbox's server: moto's WSGI app, plus what moto lacks and iamstate reads.

moto answers IAM/STS (and every other service it emulates). In front of it, this module
records who called which service and action, and when (the caller is the IAM user whose
access key signed the request), and answers AWS's last-accessed APIs
(`GenerateServiceLastAccessedDetails`, `GetServiceLastAccessedDetails[WithEntities]`) from
that record; it also adds the root account's row to the credential report. Responses are
serialised from botocore's service model, so they have AWS's shapes.

Only for a laptop or a test: it listens on 127.0.0.1. `POST /iamstate-sandbox/clock` with
`{"now": "2026-01-31T12:00:00+00:00"}` sets the time the record uses (`{"now": null}`: the
real time again); `/moto-api/reset` forgets the record with moto's state.
"""

from __future__ import annotations

import argparse
import base64
import csv
import datetime
import io
import json
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from moto.core.serialize import QuerySerializer
from moto.core.utils import get_service_model
from moto.iam.models import get_account_id_from, iam_backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

from iamstate.analysis.permissions import ActionSet
from iamstate.model.arn import iam_arn
from iamstate.model.arn import parse as parse_arn

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]
Clock = Callable[[], datetime.datetime]

CONTROL_PATH = "/iamstate-sandbox/clock"
TRACKING_DAYS = 400  # AWS keeps last-accessed data for at least 400 days
PAGE = 100  # MaxItems' default in AWS
# Services whose actions AWS tracks (action-level data); the sandbox tracks every action of
# these services, AWS only its documented list of (mostly management) actions.
TRACKED_SERVICES = frozenset({"iam", "s3", "ec2", "lambda"})
ROOT_USER = "<root_account>"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_JOB_APIS = ("GenerateServiceLastAccessedDetails", "GetServiceLastAccessedDetails",
             "GetServiceLastAccessedDetailsWithEntities")


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SettableClock:
    """The real time, or the time a test set (so history can be made without waiting)."""

    def __init__(self) -> None:
        self.fixed: datetime.datetime | None = None

    def __call__(self) -> datetime.datetime:
        return self.fixed or utc_now()


@dataclass(frozen=True)
class Call:
    """One request as AWS's last-accessed data sees it."""

    key: str  # the access key that signed it
    service: str  # the signing name, which is the IAM namespace for the services iamstate uses
    region: str
    action: str | None  # None where the protocol does not name it (REST services)


@dataclass(frozen=True)
class Access:
    when: datetime.datetime
    account_id: str
    user: str  # the IAM user's name
    service: str
    action: str | None
    region: str


@dataclass
class Job:
    caller: str  # the access key that created it: only that identity may read it
    account_id: str
    arn: str
    granularity: str
    created: datetime.datetime
    services: list[dict[str, Any]]
    entities: dict[str, list[dict[str, Any]]]  # service namespace -> EntityDetailsList


@dataclass
class Record:
    """Every access by an IAM user the sandbox has served, and the jobs asked about them."""

    clock: Clock = utc_now
    accesses: list[Access] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, access: Access) -> None:
        with self.lock:
            self.accesses.append(access)

    def clear(self) -> None:
        with self.lock:
            self.accesses.clear()
            self.jobs.clear()

    def of(self, account_id: str, users: set[str], since: datetime.datetime) -> list[Access]:
        with self.lock:
            return [a for a in self.accesses if a.account_id == account_id
                    and a.user in users and a.when >= since]


class ApiError(Exception):
    """An error IAM would answer (code, message, HTTP status)."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def parse_call(environ: Environ, body: bytes) -> Call | None:
    """Who signed the request, for which service and action (None: not signed)."""
    header = str(environ.get("HTTP_AUTHORIZATION", ""))
    query = parse_qs(str(environ.get("QUERY_STRING", "")))
    found = _CREDENTIAL.search(header) or _CREDENTIAL.search(
        "Credential=" + (query.get("X-Amz-Credential") or [""])[0])
    if found is None:
        return None
    key, region, service = found.groups()
    action = _action(environ, body, query)
    if action is None and service == "s3":
        action = _s3_action(str(environ.get("REQUEST_METHOD", "")),
                            str(environ.get("PATH_INFO", "")), query)
    return Call(key, service, region, action)


def _action(environ: Environ, body: bytes, query: dict[str, list[str]]) -> str | None:
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:  # JSON protocols: "DynamoDB_20120810.GetItem"
        return target.rpartition(".")[2] or None
    if "form-urlencoded" in str(environ.get("CONTENT_TYPE", "")):
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("Action"):
            return form["Action"][0]
    actions = query.get("Action")
    return actions[0] if actions else None


def _s3_action(method: str, path: str, query: dict[str, list[str]]) -> str | None:
    """S3's REST protocol names no action: the common ones from the method and path (path
    style, as a client pointed at 127.0.0.1 sends them); query sub-resources aside."""
    if query.keys() - {"list-type", "prefix", "delimiter", "max-keys", "x-id"}:
        return None
    depth = len([p for p in path.split("/") if p][:2])
    table = {("GET", 0): "ListAllMyBuckets", ("GET", 1): "ListBucket",
             ("PUT", 1): "CreateBucket", ("DELETE", 1): "DeleteBucket",
             ("GET", 2): "GetObject", ("HEAD", 2): "GetObject", ("PUT", 2): "PutObject",
             ("DELETE", 2): "DeleteObject"}
    return table.get((method, depth))


def _iam(account_id: str) -> Any:
    return iam_backends[account_id]["aws"]


_READ_TRIES = 20  # moto's user dict read again when a concurrent request resized it


def _caller(key: str) -> tuple[str, str] | None:
    """(account id, user name) of the IAM user holding the access key, if one does."""
    account_id = get_account_id_from(key)
    for _ in range(_READ_TRIES):
        try:
            user = _iam(account_id).get_user_from_access_key_id(key)
            break
        except RuntimeError:  # moto iterates its users while another request adds one
            continue
    else:
        return None  # not recorded: the request itself still goes to moto
    return None if user is None else (account_id, str(user.name))


class SandboxApp:
    """WSGI: record, answer the last-accessed APIs, complete the credential report; moto
    does the rest."""

    def __init__(self, inner: WsgiApp, clock: Clock = utc_now) -> None:
        self.inner = inner
        self.settable = clock if isinstance(clock, SettableClock) else None
        self.record = Record(clock)
        self.started = clock()
        # botocore's service model (in moto's wrapper, which its serialiser needs)
        model = get_service_model("iam")
        self.operations = {name: model.operation_model(name)
                           for name in (*_JOB_APIS, "GetCredentialReport")}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == CONTROL_PATH:
            return self._set_clock(environ, start_response)
        if path == "/moto-api/reset":
            self.record.clear()
        body = _read_body(environ)
        call = parse_call(environ, body)
        if call is None:
            return self.inner(environ, start_response)
        caller = _caller(call.key)
        if caller is not None:
            self.record.add(Access(self.record.clock(), caller[0], caller[1], call.service,
                                   call.action, call.region))
        if call.service == "iam" and call.action in _JOB_APIS:
            return self._answer(call, body, start_response)
        if call.service == "iam" and call.action == "GetCredentialReport":
            return self._with_root_row(call, environ, start_response)
        return self.inner(environ, start_response)

    def _set_clock(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self.settable is None or environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"the clock can only be set (POST) on a sandbox started with one\n"]
        now = json.loads(_read_body(environ) or b"{}").get("now")
        when = None if now is None else datetime.datetime.fromisoformat(now)
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)  # a time without a zone is UTC, as in AWS
        self.settable.fixed = when
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"now": self.settable().isoformat()}).encode()]

    def _answer(self, call: Call, body: bytes, start_response: StartResponse) -> Iterable[bytes]:
        params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        assert call.action is not None
        try:
            result = self._result(call, params)
        except ApiError as error:
            return _error(error, start_response)
        except (KeyError, ValueError, TypeError) as error:  # a document moto let through
            return _error(ApiError("ServiceFailure", f"the sandbox failed: {error!r}", 500),
                          start_response)
        serialized = QuerySerializer(self.operations[call.action]).serialize(result)
        return _respond(200, serialized["headers"], str(serialized["body"]).encode(),
                        start_response)

    def _result(self, call: Call, params: dict[str, str]) -> dict[str, Any]:
        account_id = get_account_id_from(call.key)
        if call.action == "GenerateServiceLastAccessedDetails":
            return {"JobId": self._generate(call.key, account_id, params)}
        job = self.record.jobs.get(params.get("JobId", ""))
        if job is None or job.caller != call.key or job.account_id != account_id:
            # AWS: a job is visible only to the identity that created it
            raise ApiError("NoSuchEntity", f"No job found with id {params.get('JobId')}.", 404)
        if call.action == "GetServiceLastAccessedDetails":
            return _details(job, params)
        return _details_with_entities(job, params)

    def _generate(self, key: str, account_id: str, params: dict[str, str]) -> str:
        arn, granularity = params.get("Arn", ""), params.get("Granularity", "SERVICE_LEVEL")
        if granularity not in ("SERVICE_LEVEL", "ACTION_LEVEL"):
            raise ApiError("ValidationError", f"Invalid Granularity {granularity!r}.")
        members, documents = _entity(account_id, arn)
        now = self.record.clock()
        since = now - datetime.timedelta(days=TRACKING_DAYS)
        accesses = self.record.of(account_id, set(members), since)
        services = _services_last_accessed(account_id, documents, accesses,
                                           granularity == "ACTION_LEVEL")
        job = Job(key, account_id, arn, granularity, now, services,
                  {s["ServiceNamespace"]: _entity_details(account_id, members, accesses,
                                                          s["ServiceNamespace"])
                   for s in services})
        job_id = str(uuid.uuid4())
        with self.record.lock:
            self.record.jobs[job_id] = job
        return job_id

    def _with_root_row(self, call: Call, environ: Environ,
                       start_response: StartResponse) -> Iterable[bytes]:
        status, headers, body = _call_inner(self.inner, environ)
        if status.startswith("200"):
            body = _add_root_row(body, _root_row(get_account_id_from(call.key), self.started))
        return _respond(int(status.split()[0]), dict(headers), body, start_response)


def _entity(account_id: str, arn: str) -> tuple[list[str], list[str]]:
    """(user names whose use counts, the identity policy documents) of a group or user."""
    parts = parse_arn(arn)
    kind, name = (parts.kind, parts.name) if parts else ("", "")
    iam = _iam(account_id)
    if kind not in ("group", "user") or not name:
        raise ApiError("InvalidInput", f"ARN {arn} is not valid.")
    holder = (iam.groups if kind == "group" else iam.users).get(name)
    if holder is None or holder.arn != arn:
        raise ApiError("NoSuchEntity", f"The entity {arn} cannot be found.", 404)
    documents = [str(doc) for doc in holder.policies.values()]
    documents += [str(v.document) for p in holder.managed_policies.values()
                  for v in p.versions if v.version_id == p.default_version_id]
    if kind == "user":
        return [name], documents
    return [str(u.name) for u in holder.users], documents


def _allowed(documents: list[str]) -> ActionSet:
    """The actions the documents' Allow statements name (conditions and Deny aside: AWS's
    data lists what the policies grant, whether or not it is denied elsewhere)."""
    allowed = ActionSet()
    for text in documents:
        statements = json.loads(unquote(text) if text.startswith("%") else text).get(
            "Statement", [])
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            if "NotAction" in statement:
                allowed |= ActionSet.everything() - ActionSet.of(_strings(statement["NotAction"]))
            else:
                allowed |= ActionSet.of(_strings(statement.get("Action", [])))
    return allowed


def _strings(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _services_last_accessed(account_id: str, documents: list[str], accesses: list[Access],
                            action_level: bool) -> list[dict[str, Any]]:
    from iamstate.analysis.actions import data

    by_service: dict[str, list[str]] = {}
    for name in _allowed(documents).names():
        service, _, action = name.partition(":")
        by_service.setdefault(service, []).append(action)
    answer = []
    for service in sorted(by_service):
        used = [a for a in accesses if a.service == service]
        entry: dict[str, Any] = {"ServiceName": data().services.get_service_name(service),
                                 "ServiceNamespace": service,
                                 "TotalAuthenticatedEntities": len({a.user for a in used})}
        if used:
            last = max(used, key=lambda a: a.when)
            entry.update(LastAuthenticated=last.when, LastAuthenticatedRegion=last.region,
                         LastAuthenticatedEntity=_user_arn(account_id, last.user))
        if action_level and service in TRACKED_SERVICES:
            entry["TrackedActionsLastAccessed"] = [
                _tracked(account_id, action, [a for a in used if a.action == action])
                for action in by_service[service]]
        answer.append(entry)
    return answer


def _tracked(account_id: str, action: str, used: list[Access]) -> dict[str, Any]:
    if not used:
        return {"ActionName": action}
    last = max(used, key=lambda a: a.when)
    return {"ActionName": action, "LastAccessedEntity": _user_arn(account_id, last.user),
            "LastAccessedTime": last.when, "LastAccessedRegion": last.region}


def _user_arn(account_id: str, user: str) -> str:
    found = _iam(account_id).users.get(user)
    return str(found.arn) if found is not None else iam_arn("aws", account_id, "user", user)


def _entity_details(account_id: str, members: list[str], accesses: list[Access],
                    service: str) -> list[dict[str, Any]]:
    details = []
    users = _iam(account_id).users
    for name in members:
        user = users.get(name)
        if user is None:
            continue
        used = [a.when for a in accesses if a.user == name and a.service == service]
        entry: dict[str, Any] = {"EntityInfo": {"Arn": user.arn, "Name": name, "Type": "USER",
                                                "Id": user.id, "Path": user.path}}
        if used:
            entry["LastAuthenticated"] = max(used)
        details.append(entry)
    return details


def _page(items: list[dict[str, Any]], params: dict[str, str]) -> tuple[list[Any], dict[str, Any]]:
    start = int(params.get("Marker") or 0)
    size = int(params.get("MaxItems") or PAGE)
    more = start + size < len(items)
    return items[start:start + size], ({"IsTruncated": True, "Marker": str(start + size)}
                                       if more else {"IsTruncated": False})


def _details(job: Job, params: dict[str, str]) -> dict[str, Any]:
    page, paging = _page(job.services, params)
    return {"JobStatus": "COMPLETED", "JobType": job.granularity,
            "JobCreationDate": job.created, "JobCompletionDate": job.created,
            "ServicesLastAccessed": page, **paging}


def _details_with_entities(job: Job, params: dict[str, str]) -> dict[str, Any]:
    service = params.get("ServiceNamespace", "")
    if service not in job.entities:
        raise ApiError("InvalidInput", f"Service namespace {service} is not in the report.")
    page, paging = _page(job.entities[service], params)
    return {"JobStatus": "COMPLETED", "JobCreationDate": job.created,
            "JobCompletionDate": job.created, "EntityDetailsList": page, **paging}


def _root_row(account_id: str, created: datetime.datetime) -> dict[str, str]:
    """The root account's row as AWS writes it; the sandbox's root has never signed in, has
    no MFA and no access keys (as moto's GetAccountSummary says: 0 and 0)."""
    no_key = {"active": "false", "last_rotated": "N/A", "last_used_date": "N/A",
              "last_used_region": "N/A", "last_used_service": "N/A"}
    row = {"user": ROOT_USER, "arn": f"arn:aws:iam::{account_id}:root",
           "user_creation_time": created.replace(microsecond=0).isoformat(),
           "password_enabled": "not_supported", "password_last_used": "no_information",
           "password_last_changed": "not_supported", "password_next_rotation": "not_supported",
           "mfa_active": "false"}
    for number in (1, 2):
        row.update({f"access_key_{number}_{k}": v for k, v in no_key.items()})
    for number in (1, 2):
        row.update({f"cert_{number}_active": "false", f"cert_{number}_last_rotated": "N/A"})
    return row


def _add_root_row(xml: bytes, root: dict[str, str]) -> bytes:
    """moto's GetCredentialReport answer with the root row first, as AWS has it."""
    tree = ElementTree.fromstring(xml)
    content = next((e for e in tree.iter() if e.tag.endswith("Content")), None)
    if content is None or not content.text:
        return xml
    text = base64.b64decode(content.text).decode()
    header, _, rest = text.partition("\n")
    if rest.startswith(ROOT_USER):
        return xml
    line = io.StringIO()
    csv.DictWriter(line, header.split(","), lineterminator="\n").writerow(
        {k: root.get(k, "N/A") for k in header.split(",")})
    content.text = base64.b64encode(f"{header}\n{line.getvalue()}{rest}".encode()).decode()
    ElementTree.register_namespace("", tree.tag.partition("}")[0].lstrip("{"))
    return bytes(ElementTree.tostring(tree, encoding="utf-8", xml_declaration=True))


def _error(error: ApiError, start_response: StartResponse) -> Iterable[bytes]:
    body = ("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error>"
            f"<Type>Sender</Type><Code>{error.code}</Code><Message>{escape(error.message)}</Message>"
            f"</Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
    return _respond(error.status, {"Content-Type": "text/xml"}, body.encode(), start_response)


def _respond(status: int, headers: Mapping[str, str], body: bytes,
             start_response: StartResponse) -> Iterable[bytes]:
    kept = [(k, v) for k, v in headers.items() if k.lower() != "content-length"]
    start_response(f"{status} {'OK' if status == 200 else 'Error'}",
                   [*kept, ("Content-Length", str(len(body)))])
    return [body]


def _read_body(environ: Environ) -> bytes:
    """The request body, put back so moto reads it too."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _call_inner(app: WsgiApp, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
    captured: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        captured.update(status=status, headers=headers)

    chunks: Iterator[bytes] = iter(app(environ, capture))
    body = b"".join(chunks)
    return captured["status"], captured["headers"], body


def application(clock: Clock | None = None) -> SandboxApp:
    """moto's app behind the sandbox's; `clock` decides the time the record uses."""
    return SandboxApp(DomainDispatcherApplication(create_backend_app),
                      clock or SettableClock())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m iamstate.aws.sandbox_server")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5055)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run_simple(args.host, args.port, application(), threaded=True,
               request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
