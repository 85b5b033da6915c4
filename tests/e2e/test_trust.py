"""Cross-account trust on the running stack: only the state machine's role may assume the archive
writer role; the pipeline archives through it, and fails into the DLQ when the trust is taken away."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import ARCHIVE_ACCOUNT, client, stepfunctions
from changetrail.embedded.trust import TrustDenied, assume_role, may_assume, trust_policy_of
from tests.e2e.conftest import archive_objects, drain, statuses

pytestmark = pytest.mark.e2e


def pipeline_roles() -> dict[str, str]:
    return {role["RoleName"]: role["Arn"] for role in client("iam").list_roles()["Roles"]}


def test_only_the_state_machine_role_may_assume_the_writer_role(aws):
    writer = aws.outputs["archive_role_arn"]
    roles = pipeline_roles()
    state_machine = stepfunctions.execution_role_arn
    assert state_machine and may_assume(trust_policy_of(writer), state_machine)
    assume_role(writer, state_machine)  # no error: the pipeline's own path
    others = [arn for arn in roles.values() if arn != state_machine]
    assert len(others) >= 3, "the trigger's and both functions' roles"
    for other in others:
        with pytest.raises(TrustDenied):
            assume_role(writer, other)
    look_alike = f"arn:aws:iam::333333333333:role/{state_machine.rsplit('/', 1)[-1]}"
    assert not may_assume(trust_policy_of(writer), look_alike)


def test_the_reader_role_trusts_the_pipeline_account_not_others(aws):
    reader = trust_policy_of(aws.outputs["archive_reader_role_arn"])
    assert may_assume(reader, stepfunctions.execution_role_arn)
    assert not may_assume(reader, "arn:aws:iam::333333333333:role/operator")


def test_with_the_trust_taken_away_the_archive_write_fails_into_the_dlq(aws):
    writer = aws.outputs["archive_role_arn"]
    iam = client("iam", ARCHIVE_ACCOUNT)
    someone_else = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/someone-else"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.update_assume_role_policy(RoleName=writer.rsplit("/", 1)[-1], PolicyDocument=json.dumps(someone_else))
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "K"}, "value": {"N": "1"}})

    executions = aws.settle()

    assert statuses(executions) == {"FAILED": 1}
    (letter,) = drain(aws.outputs["dlq_url"])
    assert letter["Body"]["failedState"] == "Archive"
    assert stepfunctions.refused and "is not authorized to perform: sts:AssumeRole" in stepfunctions.refused[-1]
    assert not archive_objects(aws)
