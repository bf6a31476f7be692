"""Conditions in words (issue 21): each idiom, its negated and IfExists forms, lists of
values, and the fallback to compact JSON for what iamstate has no words for. A grant line
says every condition once, and the JSON only in the detail."""

from __future__ import annotations

from typing import Any

import pytest

from iamstate.analysis.conditions import Said, said, wording
from iamstate.analysis.meaning import grant_detail, grant_line
from iamstate.analysis.permissions.condition_eval import _clause_holds

MFA = "aws:MultiFactorAuthPresent"
KEYS = "with long-term access keys"

WORDS: dict[str, tuple[tuple[str, str, tuple[str, ...]], Said]] = {
    "MFA required": (("Bool", MFA, ("true",)), Said("with MFA", "without MFA")),
    "MFA required, other spelling": (("Bool", "aws:multifactorauthpresent", ("True",)),
                                     Said("with MFA", "without MFA")),
    "require-MFA Deny": (("BoolIfExists", MFA, ("false",)), Said("without MFA", "with MFA")),
    "Deny on MFA false only": (("Bool", MFA, ("false",)),
                               Said("in a session without MFA", f"with MFA or {KEYS}")),
    "MFA or keys": (("BoolIfExists", MFA, ("true",)),
                    Said(f"with MFA or {KEYS}", "in a session without MFA")),
    "no MFA context": (("Null", MFA, ("true",)), Said(KEYS, "with temporary credentials")),
    "an MFA context": (("Null", MFA, ("false",)), Said("with temporary credentials", KEYS)),
    "one CIDR": (("IpAddress", "aws:SourceIp", ("10.0.0.0/8",)),
                 Said("from 10.0.0.0/8", "not from 10.0.0.0/8")),
    "CIDRs": (("IpAddress", "aws:SourceIp", ("10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32")),
              Said("from 10.0.0.0/8, 192.0.2.0/24 or 2001:db8::/32",
                   "not from 10.0.0.0/8, 192.0.2.0/24 or 2001:db8::/32")),
    "outside the CIDRs": (("NotIpAddress", "aws:sourceip", ("10.0.0.0/8", "172.16.0.0/12")),
                          Said("not from 10.0.0.0/8 or 172.16.0.0/12",
                               "from 10.0.0.0/8 or 172.16.0.0/12")),
    "CIDR if known": (("IpAddressIfExists", "aws:SourceIp", ("10.0.0.0/8",)),
                      Said("from 10.0.0.0/8 or without aws:SourceIp", "not from 10.0.0.0/8")),
    "not CIDR if known": (("NotIpAddressIfExists", "aws:SourceIp", ("10.0.0.0/8",)),
                          Said("not from 10.0.0.0/8", "from 10.0.0.0/8")),
    "region": (("StringEquals", "aws:RequestedRegion", ("eu-west-1",)),
               Said("in eu-west-1", "outside eu-west-1")),
    "regions": (("StringLike", "aws:RequestedRegion", ("eu-*", "us-east-1")),
                Said("in eu-* or us-east-1", "outside eu-* or us-east-1")),
    "not a region": (("StringNotEquals", "aws:RequestedRegion", ("us-east-1",)),
                     Said("outside us-east-1", "in us-east-1")),
    "principal tag": (("StringEquals", "aws:PrincipalTag/team", ("data",)),
                      Said("for users tagged team=data", "for users not tagged team=data")),
    "principal tags": (("StringEquals", "aws:PrincipalTag/team", ("data", "ml")),
                       Said("for users tagged team=data or team=ml",
                            "for users not tagged team=data or team=ml")),
    "resource tag": (("StringEquals", "aws:ResourceTag/env", ("dev",)),
                     Said("on resources tagged env=dev", "on resources not tagged env=dev")),
    "resource tag negated": (("StringNotEquals", "aws:ResourceTag/env", ("prod",)),
                             Said("on resources not tagged env=prod",
                                  "on resources tagged env=prod")),
    "TLS": (("Bool", "aws:SecureTransport", ("true",)), Said("over TLS", "without TLS")),
    "no TLS Deny": (("Bool", "aws:SecureTransport", ("false",)),
                    Said("without TLS", "over TLS")),
    "until a day": (("DateLessThan", "aws:CurrentTime", ("2027-01-01T00:00:00Z",)),
                    Said("before 2027-01-01T00:00:00Z", "from 2027-01-01T00:00:00Z on")),
    "recent MFA": (("NumericLessThan", "aws:MultiFactorAuthAge", ("3600",)),
                   Said("with MFA in the last 3600 seconds",
                        "without MFA in the last 3600 seconds")),
}


@pytest.mark.parametrize("case", WORDS, ids=list(WORDS))
def test_each_idiom_in_words(case: str) -> None:
    clause, words = WORDS[case]
    assert said(clause) == words


# Requests and whether the words say the clause holds for them, checked against the
# permission engine's evaluation of the clause (the engine is refereed by the simulator).
CONTEXTS: list[tuple[tuple[str, str, tuple[str, ...]], dict[str, str], bool]] = [
    (("BoolIfExists", MFA, ("false",)), {MFA: "false"}, True),  # "without MFA"
    (("BoolIfExists", MFA, ("false",)), {}, True),
    (("BoolIfExists", MFA, ("false",)), {MFA: "true"}, False),
    (("Bool", MFA, ("false",)), {}, False),  # long-term keys: "in a session without MFA"? no
    (("Bool", MFA, ("false",)), {MFA: "false"}, True),
    (("BoolIfExists", MFA, ("true",)), {}, True),  # "with MFA or with long-term keys"
    (("Bool", MFA, ("true",)), {}, False),  # "with MFA": keys have none
    (("Null", MFA, ("true",)), {}, True),
    (("NotIpAddress", "aws:SourceIp", ("10.0.0.0/8",)), {}, True),  # "not from 10.0.0.0/8"
    (("IpAddressIfExists", "aws:SourceIp", ("10.0.0.0/8",)), {}, True),  # "or without"
    (("IpAddress", "aws:SourceIp", ("10.0.0.0/8",)), {}, False),
]


@pytest.mark.parametrize(("clause", "context", "holds"), CONTEXTS)
def test_the_words_mean_what_the_engine_evaluates(
        clause: tuple[str, str, tuple[str, ...]], context: dict[str, str], holds: bool) -> None:
    values: dict[str, str | None] = {k.lower(): v for k, v in context.items()}
    assert _clause_holds(clause, values) is holds


@pytest.mark.parametrize("clause", [
    ("ForAnyValue:StringEquals", "aws:TagKeys", ("team",)),  # set operators
    ("StringEquals", "s3express:SessionMode", ("ReadOnly",)),  # a key without words
    ("ArnLike", "aws:PrincipalArn", ("arn:aws:iam::*:role/x",)),
    ("Bool", MFA, ("true", "false")),  # both: no single sentence
    ("Bool", MFA, ("maybe",)),
    ("NumericGreaterThan", "aws:MultiFactorAuthAge", ("3600",)),
    ("StringEqualsFancy", "aws:RequestedRegion", ("eu-west-1",)),  # an unknown operator
    ("DateLessThan", "aws:CurrentTime", ("2027-01-01", "2028-01-01")),
    ("StringEquals", "aws:PrincipalTag/", ("x",)),  # no tag key
])
def test_what_has_no_words_is_not_guessed(clause: tuple[str, str, tuple[str, ...]]) -> None:
    assert said(clause) is None


def line(grant: dict[str, Any], user: str | None = None) -> str:
    return grant_line({"actions": ["s3:GetObject"], "resources": ["*"], "via": ["group/G"],
                       **grant}, user=user)


REQUIRE_MFA = {"BoolIfExists": {MFA: ["false"]}}


def test_the_require_mfa_deny_reads_only_with_mfa_and_its_json_is_in_the_detail() -> None:
    grant = {"unless": [REQUIRE_MFA], "denied_by": ["group/AllHumans inline RequireMFA"]}
    assert line(grant) == ("s3:GetObject on * only with MFA  (via group/G; restricted by "
                           "group/AllHumans inline RequireMFA)")
    full = {"actions": ["s3:GetObject"], "resources": ["*"], "via": ["group/G"], **grant}
    assert grant_detail(full) == ('as written: denied when '
                                  '{"BoolIfExists":{"aws:MultiFactorAuthPresent":["false"]}}')


@pytest.mark.parametrize("grant", [
    {"conditions": {"Bool": {MFA: ["true"]}}, "unless": [REQUIRE_MFA]},
    {"conditions": {"Bool": {MFA: "true"}}, "unless": [{"BoolIfExists": {MFA: "false"}}]},
    {"unless": [REQUIRE_MFA, {"Null": {MFA: ["true"]}}, {"BoolIfExists": {MFA: ["false"]}}]},
])
def test_the_same_condition_is_never_said_twice(grant: dict[str, Any]) -> None:
    text = line(grant)
    assert text.count("with MFA") == 1 and "{" not in text, text


def test_conditions_and_deny_exceptions_together() -> None:
    text = line({"conditions": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"]},
                                "StringEquals": {"aws:PrincipalTag/team": ["data"]}},
                 "unless": [REQUIRE_MFA, {"Bool": {"aws:SecureTransport": ["false"]}}]})
    assert text.startswith("s3:GetObject on * only from 10.0.0.0/8 or 192.0.2.0/24, only for "
                           "users tagged team=data, only with MFA, only over TLS  (via")


def test_a_deny_of_several_clauses_reads_unless_all_of_them() -> None:
    block = {"StringEquals": {"aws:RequestedRegion": ["us-east-1"]},
             "NotIpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}}
    assert " unless in us-east-1 and not from 10.0.0.0/8  (via" in line({"unless": [block]})


def test_unknown_parts_stay_json_once_and_known_parts_are_words() -> None:
    grant = {"conditions": {"StringEquals": {"s3express:SessionMode": ["ReadOnly"],
                                             "aws:RequestedRegion": ["eu-west-1"]}},
             "unless": [{"ForAnyValue:StringLike": {"aws:TagKeys": ["secret*"]}}]}
    text = line(grant)
    assert ('only in eu-west-1 when {"StringEquals":{"s3express:SessionMode":["ReadOnly"]}} '
            'unless {"ForAnyValue:StringLike":{"aws:TagKeys":["secret*"]}}') in text
    full = {"actions": ["a:b"], "resources": ["*"], "via": [], **grant}
    detail = grant_detail(full)
    assert "aws:RequestedRegion" in detail and "SessionMode" not in detail  # once each
    assert "TagKeys" not in detail


def test_a_deny_block_with_an_unknown_clause_is_json_as_a_whole() -> None:
    block = {"BoolIfExists": {MFA: ["false"]}, "StringLike": {"aws:userid": ["AIDA*"]}}
    words = wording({}, [block])
    assert words.text.startswith('unless {"BoolIfExists"') and "only" not in words.text
    assert words.written == ()


def test_nothing_to_say_without_conditions() -> None:
    assert wording({}, ()).text == "" and grant_detail(
        {"actions": ["a:b"], "resources": ["*"], "via": []}) == ""


def test_their_own_user_and_mfa_device() -> None:
    own = {"resources": ["arn:aws:iam::123456789012:user/*/jdoe",
                         "arn:aws:iam::123456789012:user/jdoe"]}
    assert line(own, "jdoe").startswith("s3:GetObject on their own user  (via")
    assert line(own, "asmith").startswith("s3:GetObject on arn:aws:iam::123456789012:user/*/")
    assert line(own).startswith("s3:GetObject on arn:aws:iam::")  # nobody named: as written
    mixed = {"resources": ["arn:aws-cn:iam::123456789012:mfa/jdoe",
                           "arn:aws:iam::123456789012:user/ops/jdoe", "arn:aws:s3:::b/*"]}
    assert line(mixed, "jdoe").startswith(
        "s3:GetObject on their own MFA device, their own user, arn:aws:s3:::b/*  (via")
    assert "their own" not in line({"resources": ["arn:aws:iam::123456789012:user/jdoe2"]},
                                   "jdoe")
    but = {"resources": ["*"], "not_resources": ["arn:aws:iam::123456789012:mfa/jdoe"]}
    assert line(but, "jdoe").startswith("s3:GetObject on * except their own MFA device  (via")


@pytest.mark.parametrize(("actions", "tail"), [
    ([f"s3:A{i}" for i in range(13)], "... 1 more in 1 service on"),
    ([f"s3:Get{i}" for i in range(6)] + [f"ec2:Describe{i}" for i in range(9)],
     "more in 2 services on"),
])
def test_counted_actions_say_service_or_services(actions: list[str], tail: str) -> None:
    text = grant_line({"actions": actions, "resources": ["*"], "via": ["g"]}, 12)
    assert tail in text and "1 services" not in text


def test_a_long_list_of_actions_is_cut_by_length_not_only_by_count() -> None:
    actions = [f"access-analyzer:GetSomethingRatherLong{i}" for i in range(12)]
    text = grant_line({"actions": actions, "resources": ["*"], "via": ["g"]}, 12)
    assert len(text) < 200 and "more in 1 service on *" in text
    assert grant_line({"actions": ["a:" + "x" * 300], "resources": ["*"], "via": []}, 12
                      ).startswith("a:xxx")  # one action is always shown
