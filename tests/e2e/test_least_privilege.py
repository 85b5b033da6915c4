"""Least privilege, used: the pipeline runs with every call of a state machine task or a function checked
against the real deployed policies, and removing any one permission it uses breaks it where expected."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import ARCHIVE_ACCOUNT, authorization, client, stepfunctions
from tests.e2e.conftest import archive_objects, audit_rows, drain, statuses, subscribe_queue

pytestmark = pytest.mark.e2e


def remove_action(role_arn: str, action: str, resource_contains: str = "") -> None:
    """Rewrite the role's inline policies without ``action`` (only where a resource contains the text)."""
    iam = client("iam", role_arn.split(":")[4])
    role = role_arn.rsplit("/", 1)[-1]
    removed = 0
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            if action in actions and any(resource_contains in r for r in resources):
                statement["Action"] = [a for a in actions if a != action] or ["none:Nothing"]
                removed += 1
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    assert removed, f"{role} had no {action}"


def change(key: str = "K") -> None:
    """An insert, then a MODIFY of two attributes: the second row of the MODIFY is written in a batch."""
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": key}, "value": {"N": "1"}})
    ddb.put_item(TableName="Configuration", Item={"key": {"S": key}, "value": {"N": "2"}, "extra": {"S": "x"}})


def role_of(aws, who: str) -> str:
    if who == WORKFLOW_ROLE:
        return stepfunctions.execution_role_arn
    if who == WRITER_ROLE:
        return aws.outputs["archive_role_arn"]
    function = who if who == aws.outputs["trigger_function_name"] else f"changetrail-dev-{who}"
    return client("lambda").get_function(FunctionName=function)["Configuration"]["Role"]


def test_with_the_deployed_policies_everything_lands_and_nothing_is_refused(aws):
    inbox = subscribe_queue(aws, "subscriber")
    change()
    executions = aws.settle()

    assert statuses(executions) == {"SUCCEEDED": 1}
    assert len(audit_rows(aws)) == 3 and len(archive_objects(aws)) == 1 and len(drain(inbox)) == 2
    assert authorization.denied == [] and stepfunctions.refused == []


WORKFLOW_ROLE = "state machine"
WRITER_ROLE = "archive writer"
CASES = [
    # (role, action, resource contains, the state that fails)
    (WORKFLOW_ROLE, "lambda:InvokeFunction", "", "Decode"),
    ("write-audit", "dynamodb:PutItem", ":table/Audit", "WriteAudit"),
    ("write-audit", "dynamodb:BatchWriteItem", ":table/Audit", "WriteAudit"),
    (WORKFLOW_ROLE, "sts:AssumeRole", "", "Archive"),
    ("notify", "sns:Publish", "", "Notify"),
    (WRITER_ROLE, "s3:PutObject", "", "Archive"),
]


@pytest.mark.parametrize(("role", "action", "resource", "failed_state"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_removing_one_permission_breaks_the_pipeline_where_it_is_used(aws, role, action, resource, failed_state):
    remove_action(role_of(aws, role), action, resource)
    change()
    executions = aws.settle()

    assert statuses(executions) == {"FAILED": 1}
    (letter,) = drain(aws.outputs["dlq_url"])
    assert letter["Body"]["failedState"] == failed_state
    refusals = authorization.denied + stepfunctions.refused
    assert refusals and (action in " ".join(refusals) or action == "sts:AssumeRole"), refusals


def test_without_start_execution_the_trigger_fails_and_the_stream_keeps_the_records(deploy):
    aws = deploy({"changetrail:trigger": {"maximumRetryAttempts": 1}})
    remove_action(role_of(aws, "audit_producer"), "states:StartExecution")
    change()
    aws.settle()

    assert aws.executions() == []
    (message,) = drain(aws.outputs["stream_failures_queue_url"])
    assert message["Body"]["DDBStreamBatchInfo"]["batchSize"] == 2
    assert any("states:StartExecution" in refusal for refusal in authorization.denied)


def test_without_send_message_the_dead_letter_still_reaches_the_fallback(aws):
    remove_action(role_of(aws, "write-audit"), "dynamodb:PutItem", ":table/Audit")
    remove_action(stepfunctions.execution_role_arn, "sqs:SendMessage")
    change()
    aws.settle()

    assert drain(aws.outputs["dlq_url"]) == []
    s3 = client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=aws.outputs["payload_bucket_name"]).get("Contents", [])]
    assert [k for k in keys if k.startswith("payloads/dead-letters/")], keys
    assert any("sqs:SendMessage" in refusal for refusal in authorization.denied)
    assert ARCHIVE_ACCOUNT  # the archive side is untouched by this case


def remove_statement(role_arn: str, sid: str) -> None:
    iam, role = client("iam", role_arn.split(":")[4]), role_arn.rsplit("/", 1)[-1]
    removed = 0
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        kept = [s for s in document["Statement"] if s.get("Sid") != sid]
        removed += len(document["Statement"]) - len(kept)
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps({**document, "Statement": kept}))
    assert removed == 1, f"{role} had no statement {sid}"


def test_without_the_multipart_grant_a_large_change_fails_at_archive_while_small_ones_still_land(aws):
    remove_statement(role_of(aws, WRITER_ROLE), "UploadArchivePartsOnly")
    change("SMALL")
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "LARGE"}, "blob": {"S": "x" * 300_000}})
    executions = aws.settle()

    assert statuses(executions) == {"SUCCEEDED": 1, "FAILED": 1}
    (letter,) = drain(aws.outputs["dlq_url"])
    assert letter["Body"]["failedState"] == "Archive"
    assert any("s3:PutObject" in refusal for refusal in authorization.denied)
    assert len(archive_objects(aws)) == 1
