"""The long-lived simulator process (tests/policy_eval/serve.mjs) decides exactly as a
one-shot run of the same script, keeps answers in order across calls, and serves only the
decision scripts of its folder."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import ACCOUNT_ID
from tests.simulator import _SERVER, _one_shot, needs_node, simulate

USER = f"arn:aws:iam::{ACCOUNT_ID}:user/u"


def _case(action: str, effect: str = "Allow", resource: str = "arn:aws:s3:::b/k"
          ) -> dict[str, Any]:
    return {"principal": USER, "action": action, "resource": resource,
            "account": ACCOUNT_ID, "context": {}, "policies": [{"name": "p", "policy": {
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {"Effect": effect, "Action": "s3:DeleteObject", "Resource": "*"}]}}]}


@needs_node
def test_the_process_decides_as_a_one_shot_run_in_order_across_calls() -> None:
    cases = [_case("s3:GetObject"), _case("s3:DeleteObject", "Deny"),
             _case("sqs:SendMessage", resource=f"arn:aws:sqs:us-east-1:{ACCOUNT_ID}:q")]
    expected = ["Allowed", "ExplicitlyDenied", "ImplicitlyDenied"]
    assert [r["decision"] for r in _one_shot(cases, "evaluate.mjs")] == expected
    for _ in range(3):  # the same process, several requests
        assert simulate(cases) == expected
        assert simulate(cases[::-1]) == expected[::-1]


@needs_node
@pytest.mark.parametrize("script", ["../package.json", "serve.mjs", "missing.mjs"])
def test_only_decision_scripts_of_the_folder_are_served(script: str) -> None:
    with pytest.raises(RuntimeError, match="simulator could not run"):
        _SERVER.ask(script, [])
    assert simulate([_case("s3:GetObject")]) == ["Allowed"]  # still serving
