"""moto builds AWS's 1,582 managed policies into each of its six partitions' IAM backends
whenever they start or reset (every `mock_aws`, every `/moto-api/reset` of a server), and
parses the same 4.7 MB of JSON and re-serialises every document each time: most of an AWS
test's set-up and teardown. `install()` parses once and keeps each document's text; the
policies built are the same (tests/unit/test_moto_speed.py compares them with moto's own).

    python -m tests.moto_speed -H 127.0.0.1 -p PORT    moto's server, with this installed
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple


class _Policy(NamedTuple):
    name: str
    default_version_id: str | None
    path: str | None
    document: str
    created: datetime
    updated: datetime


@cache
def _policies() -> tuple[_Policy, ...]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return tuple(_Policy(name, data.get("DefaultVersionId"), data.get("Path"),
                         json.dumps(data.get("Document")),
                         datetime.fromisoformat(data["CreateDate"]),
                         datetime.fromisoformat(data["UpdateDate"]))
                 for name, data in json.loads(aws_managed_policies_data).items())


def build(backend: Any) -> list[Any]:
    """What moto's IAMBackend._init_aws_policies returns, from the parsed-once data."""
    from moto.iam import models
    from moto.settings import load_iam_aws_managed_policies

    if not load_iam_aws_managed_policies():
        return []
    made: Any = models.AWSManagedPolicy  # moto's class is abstract to mypy (CloudFormation)
    return [made(p.name, account_id=backend.account_id,
                                    region=backend.region_name,
                                    default_version_id=p.default_version_id, path=p.path,
                                    document=p.document, create_date=p.created,
                                    update_date=p.updated)
            for p in _policies()]


def install() -> None:
    from moto.iam import models

    if models.IAMBackend.__dict__["_init_aws_policies"] is not build:
        models.IAMBackend._moto_init_aws_policies = (  # type: ignore[attr-defined]
            models.IAMBackend._init_aws_policies)
        models.IAMBackend._init_aws_policies = build  # type: ignore[method-assign,assignment]


if __name__ == "__main__":
    from moto.server import main

    install()
    main()
