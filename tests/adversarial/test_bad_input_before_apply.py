"""Class: bad input must stop before the first AWS mutation. Each of these once passed
validate and then failed halfway through an apply (moto accepts most of them; AWS refuses
them mid-apply): now each is a file:line error at validate, or at plan (which reads AWS
anyway) where only AWS knows, and apply changes nothing."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli

GROUP = "groups:\n  Extra:\n"
CASES = {
    "tag value AWS refuses": (
        "users:\n  kim:\n    category: AllHumans\n    tags: {dept: R&D}\n",
        "validate", "extra.yaml:4"),
    "misspelt AWS managed policy": (
        GROUP + "    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAcess]\n",
        "plan", "extra.yaml:2"),
    "misspelt condition operator": (
        GROUP + "    inline_policies:\n      P:\n        Version: '2012-10-17'\n"
        "        Statement:\n          - Effect: Allow\n            Action: s3:GetObject\n"
        "            Resource: '*'\n            Condition: {StringEqualz: {aws:username: x}}\n",
        "validate", "extra.yaml:10"),
    "malformed resource ARN": (
        GROUP + "    inline_policies:\n      P:\n        Version: '2012-10-17'\n"
        "        Statement: [{Effect: Allow, Action: s3:GetObject, Resource: 'arn:aws:s3'}]\n",
        "validate", "extra.yaml:6"),
    "not an ARN in managed_policies": (
        GROUP + "    managed_policies: ['arn:nonsense']\n", "validate", "extra.yaml:3"),
    "own-account ARN of an undeclared policy": (
        GROUP + "    managed_policies: ['arn:aws:iam::${account_id}:policy/Sneaky']\n",
        "validate", "extra.yaml:3"),
}


@pytest.mark.parametrize("text,stage,where", CASES.values(), ids=list(CASES))
def test_refused_before_any_change(cli: Cli, text: str, stage: str, where: str) -> None:
    assert cli("apply", "--auto-approve").code == 0
    (cli.repo / "accounts/sandbox/extra.yaml").write_text(text)
    # a change that would go first, so a late refusal would leave it half-applied
    (cli.repo / "accounts/sandbox/first.yaml").write_text(
        "users:\n  HeadlessUser-first: {}\n")
    before = cli.snapshot()
    validated = cli("validate")
    if stage == "validate":
        assert validated.code == 1 and where in validated.err, validated.both
    else:
        assert validated.code == 0, validated.both
    planned = cli("plan")
    assert planned.code == 1 and where in planned.err, planned.both
    applied = cli("apply", "--auto-approve")
    assert applied.code == 1 and where in applied.err
    for result in (validated, planned, applied):
        assert "Traceback" not in result.both
    assert cli.snapshot() == before


def test_a_misspelt_aws_policy_gets_a_did_you_mean(cli: Cli) -> None:
    (cli.repo / "accounts/sandbox/extra.yaml").write_text(
        GROUP + "    managed_policies: [arn:aws:iam::aws:policy/ReadOnlyAcess]\n")
    planned = cli("plan")
    assert "does not exist in AWS (did you mean arn:aws:iam::aws:policy/ReadOnlyAccess?)" \
        in planned.err


def test_account_id_in_a_managed_policy_arn_is_substituted(cli: Cli) -> None:
    (cli.repo / "accounts/sandbox/extra.yaml").write_text(
        GROUP + "    managed_policies: ['arn:${partition}:iam::${account_id}:policy/"
        "assume-readonly-role']\n")
    assert cli("apply", "--auto-approve").code == 0
    attached = cli.iam.list_attached_group_policies(GroupName="Extra")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [
        "arn:aws:iam::123456789012:policy/assume-readonly-role"]
    assert cli("plan", "--detailed-exitcode").code == 0
