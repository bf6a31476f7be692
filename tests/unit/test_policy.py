"""Semantic comparison of policy documents: same meaning, same document."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from iamstate.repository.policy import PolicyDocument, lint, quota_length, substitute


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> PolicyDocument:
    return PolicyDocument({"Version": version, "Statement": list(statements)})


READ = {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}
WRITE = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": ["arn:aws:s3:::b/*"]}


def test_string_and_one_element_list_are_the_same() -> None:
    assert doc(READ) == doc({**READ, "Action": "s3:GetObject", "Resource": ["*"]})


def test_key_order_and_statement_order_do_not_matter() -> None:
    reordered = {"Resource": "*", "Action": ["s3:GetObject"], "Effect": "Allow"}
    assert doc(READ, WRITE) == doc(WRITE, reordered)


def test_action_case_does_not_matter_but_resource_case_does() -> None:
    assert doc(READ) == doc({**READ, "Action": ["S3:getobject"]})
    assert doc(WRITE) != doc({**WRITE, "Resource": "arn:aws:s3:::B/*"})


def test_a_single_statement_mapping_equals_a_list_of_one() -> None:
    assert doc(READ) == PolicyDocument({"Version": "2012-10-17", "Statement": READ})


def test_version_matters_and_defaults_to_2008() -> None:
    assert doc(READ) != doc(READ, version="2008-10-17")
    assert PolicyDocument({"Statement": [READ]}) == doc(READ, version="2008-10-17")


def test_condition_values_compare_as_sets() -> None:
    one = {**READ, "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["a", "b"]}}}
    two = {**READ, "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["b", "a"]}}}
    assert doc(one) == doc(two)
    assert doc(one) != doc(READ)


@given(st.permutations([READ, WRITE, {**READ, "Sid": "X"}]))
def test_any_statement_order_is_equal(statements: list[dict[str, Any]]) -> None:
    assert doc(*statements) == doc(READ, WRITE, {**READ, "Sid": "X"})


def test_substitute_replaces_ours_and_keeps_iam_variables() -> None:
    unknown: list[tuple[tuple[Any, ...], str]] = []
    out = substitute(
        {"Resource": ["arn:${partition}:iam::${account_id}:user/${aws:username}",
                      "${*}${?}${$}", "${aws:PrincipalTag/team, 'x'}", "${bucket}"]},
        {"account_id": "111122223333", "partition": "aws"},
        lambda path, name: unknown.append((path, name)))
    assert out["Resource"][:3] == ["arn:aws:iam::111122223333:user/${aws:username}",
                                   "${*}${?}${$}", "${aws:PrincipalTag/team, 'x'}"]
    assert unknown == [(("Resource", 3), "bucket")]


def test_lint_finds_each_grammar_error_with_its_path() -> None:
    findings = dict(lint({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "GetObject", "Resource": "bucket"},
    ]}))
    assert "cannot both be set" in findings[("Statement", 0, "NotAction")]
    assert "not an action name" in findings[("Statement", 1, "Action")]
    assert "not an ARN" in findings[("Statement", 1, "Resource")]
    assert lint({"Version": "2012-10-17", "Statement": [READ]}) == []


def test_quota_length_ignores_whitespace() -> None:
    spaced = {"Version": "2012-10-17", "Statement": [READ]}
    assert quota_length(spaced) == len(doc(READ).to_json().replace(" ", ""))
