"""The clients' timestamp parser reads every form botocore's does, to the same instant."""

from __future__ import annotations

import datetime

import pytest
from botocore.utils import parse_timestamp

from iamstate.aws.session import client, timestamp


@pytest.mark.parametrize("text", [
    "2026-12-05T07:54:58Z",  # IAM's form
    "2026-12-05T07:54:58.612271Z",  # moto's
    "2026-12-05T07:54:58.1Z",
    "2026-12-05T07:54:58+01:00",
    "2026-12-05T07:54:58",  # no zone: botocore's reading (local time), not guessed
    "1764921298",  # epoch seconds
    "Sat, 05 Dec 2026 07:54:58 GMT",  # RFC 822
])
def test_every_form_reads_as_botocore_reads_it(text: str) -> None:
    parsed, expected = timestamp(text), parse_timestamp(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_a_zoned_timestamp_is_aware_utc() -> None:
    assert timestamp("2026-12-05T07:54:58Z") == datetime.datetime(
        2026, 12, 5, 7, 54, 58, tzinfo=datetime.UTC)


def test_clients_parse_responses_with_it(moto: None) -> None:
    iam = client("iam")
    created = iam.create_user(UserName="jdoe")["User"]["CreateDate"]
    # the standard library's UTC (botocore's dateutil parser gives dateutil's tzutc())
    assert created.tzinfo is datetime.UTC
    assert iam.get_user(UserName="jdoe")["User"]["CreateDate"] == created
