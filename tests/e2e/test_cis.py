"""The CIS audit through the installed CLI against the sandbox server, whose credential
report carries AWS's `<root_account>` row (root: no MFA, no keys, never used)."""

from __future__ import annotations

import json

from tests.e2e.conftest import Cli


def test_audit_reads_the_root_row_and_shows_cis_ids(sandbox: Cli) -> None:
    assert sandbox("apply", "--auto-approve").code == 0
    sandbox.iam.create_role(RoleName="support", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole"}]}))
    sandbox.iam.attach_role_policy(RoleName="support",
                                   PolicyArn="arn:aws:iam::aws:policy/AWSSupportAccess")
    result = sandbox("audit", "--format", "json")
    assert result.code == 3, result.both
    found = {(f["rule"], f["resource"]): f["cis"] for f in json.loads(result.out)["sandbox"]}
    assert found[("IAM-013", "account/root")] == "CIS 1.5 / 2.5"
    assert ("IAM-020", "account/support-role") not in found  # the role above is one
    assert not {rule for rule, _ in found} & {"IAM-012", "IAM-015", "IAM-016", "IAM-017",
                                              "IAM-023"}
    text = sandbox("audit")
    assert "IAM-013 (CIS 1.5 / 2.5) account/root: the root account has no MFA" in text.out
