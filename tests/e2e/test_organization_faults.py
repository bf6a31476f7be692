"""An Organization's plan under throttling: the installed CLI plans a batch of accounts,
each through its own plan role assumed with GitHub's OIDC token, while 30 % of the
AssumeRoleWithWebIdentity and GetAccountAuthorizationDetails calls are answered
`Throttling` by a proxy in front of the moto server (moto never throttles; AWS does, per
account and for STS per caller, at an Organization's scale). The plan still completes, every
account in it, and the throttled calls were retried, not skipped."""

from __future__ import annotations

import json
import random

from iamstate.plan import planfile
from tests.e2e.conftest import Cli
from tests.e2e.fault_proxy import fault_proxy
from tests.e2e.test_gitops import (  # noqa: F401  (fixtures, used by name)
    SHARED,
    bare_endpoint,
    oidc,
    organization,
    seed_accounts,
)

ACCOUNTS = 24
THROTTLED = ("AssumeRoleWithWebIdentity", "GetAccountAuthorizationDetails")


def test_thirty_percent_throttled_role_and_read_calls_still_plan_every_account(
    cli: Cli, oidc: list[str], bare_endpoint: None  # noqa: F811
) -> None:
    names = organization(cli.repo, ACCOUNTS)
    seed_accounts(cli, ACCOUNTS)
    changed = {**SHARED, "Statement": [{**SHARED["Statement"][0],
                                        "Action": ["s3:GetObject", "s3:ListBucket"]}]}
    (cli.repo / "policies" / "shared.json").write_text(json.dumps(changed))
    rng = random.Random(7)

    def throttle(action: str, params: dict[str, str]) -> tuple[int, str] | None:
        if action in THROTTLED and rng.random() < 0.3:
            return 400, "Throttling"
        return None

    with fault_proxy(cli.env["AWS_ENDPOINT_URL"]) as (url, faults):
        faults.rule = throttle
        cli.env["AWS_ENDPOINT_URL"] = url
        result = cli("plan", "--account", " ".join(names), "--out", "plan.json")

    assert result.code == 0, result.both[-3000:]
    for action in THROTTLED:  # both kinds were throttled, and each account got through
        assert faults.injected.count(action) >= 3, faults.injected
        answered = [p for a, p in faults.seen if a == action]
        assert len(answered) - faults.injected.count(action) >= ACCOUNTS, action
    assert len(oidc) >= 1
    planned = planfile.read(cli.repo / "plan.json")["accounts"]
    assert sorted(entry["account"] for entry in planned) == names
    assert all(entry["changes"] for entry in planned), "every account has the policy change"
