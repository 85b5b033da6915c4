"""Trust-policy evaluation of the embedded AWS, against the archive roles' real policy shapes."""

from __future__ import annotations

import pytest

from changetrail.embedded.trust import may_assume

PIPELINE = "123456789012"
WORKFLOW = f"arn:aws:iam::{PIPELINE}:role/changetrail-dev-workflow"
WRITER_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{PIPELINE}:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnEquals": {"aws:PrincipalArn": WORKFLOW}},
        }
    ],
}
READER_TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PIPELINE}:root"}, "Action": "sts:AssumeRole"}]
}


def test_the_writer_role_admits_the_state_machine_role():
    assert may_assume(WRITER_TRUST, WORKFLOW)


@pytest.mark.parametrize(
    "caller",
    [
        f"arn:aws:iam::{PIPELINE}:role/audit_producer-role",  # the trigger, same account
        f"arn:aws:iam::{PIPELINE}:role/changetrail-dev-workflow-copy",  # a look-alike name
        "arn:aws:iam::333333333333:role/changetrail-dev-workflow",  # the same name in another account
    ],
)
def test_the_writer_role_refuses_every_other_principal(caller):
    assert not may_assume(WRITER_TRUST, caller)


def test_the_reader_role_admits_principals_of_the_pipeline_account_only():
    assert may_assume(READER_TRUST, f"arn:aws:iam::{PIPELINE}:role/operator")
    assert not may_assume(READER_TRUST, "arn:aws:iam::333333333333:role/operator")


def test_an_explicit_deny_wins_and_unknown_operators_or_missing_keys_deny():
    deny = {**WRITER_TRUST, "Statement": [*WRITER_TRUST["Statement"], {**READER_TRUST["Statement"][0], "Effect": "Deny"}]}
    assert not may_assume(deny, WORKFLOW)
    odd = {"Statement": [{**WRITER_TRUST["Statement"][0], "Condition": {"NumericEquals": {"aws:PrincipalArn": "1"}}}]}
    assert not may_assume(odd, WORKFLOW)
    external = {"Statement": [{**READER_TRUST["Statement"][0], "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]}
    assert not may_assume(external, WORKFLOW)
    assert may_assume(external, WORKFLOW, external_id="x")
    like = {
        "Statement": [{**READER_TRUST["Statement"][0], "Condition": {"ArnLike": {"aws:PrincipalArn": "*:role/changetrail-*"}}}]
    }
    assert may_assume(like, WORKFLOW) and not may_assume(like, f"arn:aws:iam::{PIPELINE}:role/other")
