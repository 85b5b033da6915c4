"""Items up to DynamoDB's 400 KB with both images: past every Step Functions limit, never truncated.

Records travel by claim check, Decode and Diff pass the changes on the same way, audit rows never
travel in the state (a value too large for a row is left to the archive line), the archive body
goes by claim check and is copied across accounts as the writer role, and a retry rewrites nothing.
"""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import ARCHIVE_ACCOUNT, client
from tests.e2e.conftest import archive_objects, archive_versions, audit_rows, drain, statuses

pytestmark = pytest.mark.e2e
KB = 1024


def put(key: str, **attributes: dict[str, str]) -> None:
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": key}, **attributes})


def by_event(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row["eventName"]["S"], []).append(row)
    return grouped


def test_a_390_kb_item_inserted_rewritten_and_removed_is_audited_and_archived_whole(aws):
    first, second = "a" * (390 * KB), "b" * (390 * KB)
    put("HUGE", blob={"S": first})
    put("HUGE", blob={"S": second})
    client("dynamodb").delete_item(TableName="Configuration", Key={"key": {"S": "HUGE"}})
    executions = aws.settle()

    assert statuses(executions) == {"SUCCEEDED": len(executions)}
    assert not drain(aws.outputs["dlq_url"])
    lines = [line for body in archive_objects(aws).values() for line in body]
    assert [line["eventName"] for line in lines] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = lines
    assert insert["newImage"]["blob"]["S"] == first
    assert (modify["oldImage"]["blob"]["S"], modify["newImage"]["blob"]["S"]) == (first, second)
    assert modify["changedAttributes"] == ["blob"]
    assert remove["oldImage"]["blob"]["S"] == second

    rows = by_event(audit_rows(aws))
    assert sorted(rows) == ["INSERT", "MODIFY", "REMOVE"] and all(len(r) == 1 for r in rows.values())
    (changed,) = rows["MODIFY"]
    assert changed["updatedAttribute"]["S"] == "blob"
    # Both values (780 KB) cannot be in one row: the row names the values its change's archive line holds.
    assert "oldValue" not in changed and "newValue" not in changed
    assert sorted(changed["valuesInArchive"]["M"]["attributes"]["SS"]) == ["newValue", "oldValue"]
    assert changed["archiveKey"]["S"] in archive_objects(aws), "the change's claim names its archive object"
    for row, line in ((rows["INSERT"][0], insert), (rows["REMOVE"][0], remove)):
        assert row["eventId"]["S"] == line["eventId"]


def test_the_large_archive_body_is_copied_as_the_writer_role_into_the_archive_account(aws):
    put("HUGE", blob={"S": "c" * (300 * KB)})
    (execution,) = aws.settle()

    history = client("stepfunctions").get_execution_history(executionArn=execution["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    assert {"ArchiveByParts", "StartArchiveUpload", "CopyArchivePart", "CompleteArchiveUpload"} <= set(entered)
    assert "Archive" not in entered
    s3 = client("s3", ARCHIVE_ACCOUNT)
    (key,) = archive_objects(aws)
    head = s3.head_object(Bucket=aws.outputs["archive_bucket_name"], Key=key)
    assert head["ContentType"] == "application/x-ndjson"
    assert head["ServerSideEncryption"] == "aws:kms"


def test_a_redriven_large_change_rewrites_neither_rows_nor_the_archive_object(aws):
    put("HUGE", blob={"S": "e" * (350 * KB)})
    (execution,) = aws.settle()
    rows, objects, versions = audit_rows(aws), archive_objects(aws), archive_versions(aws)
    sfn = client("stepfunctions")
    started = sfn.describe_execution(executionArn=execution["executionArn"])["input"]
    assert "recordsRef" in json.loads(started)

    sfn.start_execution(stateMachineArn=aws.outputs["state_machine_arn"], name="again", input=started)
    executions = aws.wait_for_executions()

    assert statuses(executions) == {"SUCCEEDED": 2}
    assert audit_rows(aws) == rows and archive_objects(aws) == objects
    assert archive_versions(aws) == versions == 1


def test_without_the_bucket_grant_the_writer_role_cannot_copy_and_the_change_lands_in_the_dlq(aws):
    """The copy really crosses accounts under the payload bucket's policy: take the grant away and it fails."""
    s3 = client("s3")
    bucket = aws.outputs["payload_bucket_name"]
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    policy["Statement"] = [s for s in policy["Statement"] if s.get("Sid") != "ArchiveWriterReadsArchiveBodies"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    put("HUGE", blob={"S": "g" * (300 * KB)})
    aws.settle()

    (letter,) = drain(aws.outputs["dlq_url"])
    assert letter["Body"]["failedState"] == "Archive"
    assert not archive_objects(aws)
