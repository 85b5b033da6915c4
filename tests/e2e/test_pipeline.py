"""The running pipeline on the embedded AWS: the program's own stack, in moto, end to end."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from changetrail.embedded import ARCHIVE_ACCOUNT, client
from changetrail.history import history_entries, item_history
from components.audit_table import HISTORY_ATTRIBUTES
from components.config import TriggerConfig
from tests.e2e.conftest import archive_objects, archive_versions, audit_rows, drain, statuses, subscribe_queue

pytestmark = pytest.mark.e2e
UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


def put(key: str, **attributes: dict) -> None:
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": key}, **attributes})


def test_the_original_insert_then_update_gives_exactly_its_audit_rows(aws):
    # GIVEN the original example's configuration item, WHEN it is saved and its value updated
    put("CACHE_TTL_SEC", value={"N": "3600"})
    client("dynamodb").update_item(
        TableName="Configuration",
        Key={"key": {"S": "CACHE_TTL_SEC"}},
        UpdateExpression="SET #v = :v",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":v": {"N": "1800"}},
    )
    executions = aws.settle()

    # THEN one execution ran the batch and the Audit table holds exactly the original example's two rows
    assert statuses(executions) == {"SUCCEEDED": 1}
    rows = sorted(audit_rows(aws), key=lambda r: r["sequenceNumber"]["S"])
    assert len(rows) == 2
    insert, update = rows
    assert insert["itemKey"] == {"S": "CACHE_TTL_SEC"}
    assert insert["newValue"] == {"M": {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}}}
    assert "oldValue" not in insert and "updatedAttribute" not in insert
    assert update["itemKey"] == {"S": "CACHE_TTL_SEC"}
    assert update["updatedAttribute"] == {"S": "value"}
    assert update["oldValue"] == {"N": "3600"}
    assert update["newValue"] == {"N": "1800"}
    for row in rows:
        assert row["modificationTime"]["S"].endswith("Z") and len(row["modificationTime"]["S"]) == 24
        assert uuid.UUID(row["id"]["S"]).version == 5


def test_history_index_returns_one_items_changes_newest_first(aws):
    for value in ("1", "2", "3"):
        put("FEATURE_FLAG", value={"N": value})
    put("OTHER", value={"N": "9"})
    aws.settle()

    ddb, index = client("dynamodb"), aws.outputs["audit_history_index"]
    entries = history_entries(ddb, "Audit", index, "FEATURE_FLAG")
    history = item_history(ddb, "Audit", index, "FEATURE_FLAG")

    # The index carries keys and the small metadata only (one write unit a row); values come from the table.
    assert all(set(entry) <= {"id", "itemKey", "historySortKey", *HISTORY_ATTRIBUTES} for entry in entries)
    assert [entry["id"] for entry in entries] == [row["id"] for row in history]
    assert [row.get("newValue") for row in history] == [
        {"N": "3"},
        {"N": "2"},
        {"M": {"key": {"S": "FEATURE_FLAG"}, "value": {"N": "1"}}},
    ]


def test_delete_archives_the_old_image_in_the_target_accounts_bucket(aws):
    put("DB_POOL", size={"N": "12345678901234567890123456789012345678"}, tags={"SS": ["a", "b"]}, blob={"B": b"\x00\xff"})
    aws.settle()
    client("dynamodb").delete_item(TableName="Configuration", Key={"key": {"S": "DB_POOL"}})
    aws.settle()

    lines = [line for body in archive_objects(aws).values() for line in body]
    removed = [line for line in lines if line["eventName"] == "REMOVE"]
    assert len(removed) == 1
    old_image = removed[0]["oldImage"]
    assert old_image["size"] == {"N": "12345678901234567890123456789012345678"}
    assert sorted(old_image["tags"]["SS"]) == ["a", "b"]
    assert removed[0]["itemKey"] == "DB_POOL"
    assert all(key.startswith("ddb-changes/Configuration/") and key.endswith(".jsonl") for key in archive_objects(aws))
    remove_row = next(r for r in audit_rows(aws) if r["eventName"] == {"S": "REMOVE"})
    assert remove_row["oldValue"]["M"]["size"] == {"N": "12345678901234567890123456789012345678"}


def test_archive_bucket_is_in_the_other_account_and_closed_to_the_pipeline_account(aws):
    put("K", value={"S": "v"})
    aws.settle()
    bucket = aws.outputs["archive_bucket_name"]

    assert archive_objects(aws)  # readable as the archive account
    with pytest.raises(ClientError):  # the pipeline account's own credentials get nothing
        boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=bucket)


def test_archive_write_is_refused_unless_made_as_the_archive_accounts_role(deploy):
    # GIVEN a bucket in the archive account, but a stack whose archive role is in another account, where no
    # such role exists (the pipeline account itself is refused at deploy time)
    aws = deploy(
        {
            "changetrail:archive": {
                "create": False,
                "accountId": "333333333333",
                "bucketName": "archive-in-222",
                "roleName": "writer-in-the-wrong-account",
            }
        }
    )
    s3 = client("s3", ARCHIVE_ACCOUNT)
    s3.create_bucket(Bucket="archive-in-222")
    # WHEN a change flows
    put("K", value={"S": "v"})
    executions = aws.settle()

    # THEN the Archive task, acting as the pipeline account, cannot write: the change is in the DLQ
    assert statuses(executions) == {"FAILED": 1}
    (message,) = drain(aws.outputs["dlq_url"])
    assert message["Body"]["failedState"] == "Archive"
    assert "403" in message["Body"]["cause"] or "Denied" in message["Body"]["cause"]
    assert s3.list_objects_v2(Bucket="archive-in-222").get("KeyCount", 0) == 0


def test_sns_delivers_each_change_to_an_sqs_subscriber_with_filterable_attributes(aws):
    everything = subscribe_queue(aws, "all-changes")
    removals = subscribe_queue(aws, "removals", {"eventName": ["REMOVE"]})
    put("A", value={"N": "1"})
    put("A", value={"N": "2"})
    client("dynamodb").delete_item(TableName="Configuration", Key={"key": {"S": "A"}})
    aws.settle()

    received = [json.loads(m["Body"]["Message"]) for m in drain(everything)]
    assert sorted(n["eventName"] for n in received) == ["INSERT", "MODIFY", "REMOVE"]
    assert all(n["eventId"] and n["table"] == "Configuration" and n["itemKey"] == "A" for n in received)
    only_removals = drain(removals)
    assert [json.loads(m["Body"]["Message"])["eventName"] for m in only_removals] == ["REMOVE"]
    assert only_removals[0]["Body"]["MessageAttributes"]["table"]["Value"] == "Configuration"


def test_batch_notification_mode_sends_one_summary_per_execution(deploy):
    aws = deploy({"changetrail:notifications": {"mode": "batch"}})
    subscriber = subscribe_queue(aws, "summaries")
    for index in range(5):
        put(f"K{index}", value={"N": str(index)})
    aws.settle()

    messages = [json.loads(m["Body"]["Message"]) for m in drain(subscriber)]
    assert len(messages) == 1
    assert messages[0]["changes"] == 5 and len(messages[0]["eventIds"]) == 5


def test_missing_archive_bucket_sends_the_change_to_the_dlq_with_full_context(aws):
    # GIVEN a first change archived normally
    put("KEEP", value={"N": "1"})
    aws.settle()
    # WHEN the archive bucket disappears and another change arrives
    s3 = client("s3", ARCHIVE_ACCOUNT)
    bucket = aws.outputs["archive_bucket_name"]
    for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True)
    s3.delete_bucket(Bucket=bucket)
    put("LOST?", value={"N": "2"})
    executions = aws.settle()

    # THEN the failed execution's input, error, cause, state and ARN are in the DLQ
    assert statuses(executions) == {"SUCCEEDED": 1, "FAILED": 1}
    (message,) = drain(aws.outputs["dlq_url"])
    body = message["Body"]
    assert body["failedState"] == "Archive"
    assert (body["error"] and "NoSuchBucket" in body["cause"]) or "does not exist" in body["cause"]
    assert body["executionArn"] == next(e["executionArn"] for e in executions if e["status"] == "FAILED")
    assert [r["dynamodb"]["Keys"]["key"]["S"] for r in body["input"]["records"]] == ["LOST?"]
    assert message["MessageAttributes"]["failedState"]["StringValue"] == "Archive"
    # AND nothing else is lost: the audit rows of both changes were written before Archive
    assert sorted(r["itemKey"]["S"] for r in audit_rows(aws)) == ["KEEP", "LOST?"]
    failed = client("stepfunctions").describe_execution(executionArn=body["executionArn"])
    assert failed["status"] == "FAILED" and failed["error"] == body["error"]


def test_replaying_the_same_batch_adds_no_audit_row_and_no_archive_object(aws):
    for index in range(4):
        put(f"K{index}", value={"N": str(index)})
    put("K0", value={"N": "100"})
    (execution,) = aws.settle()
    rows, objects, versions = audit_rows(aws), archive_objects(aws), archive_versions(aws)
    sfn = client("stepfunctions")
    execution_input = sfn.describe_execution(executionArn=execution["executionArn"])["input"]

    # WHEN the trigger gets the same stream batch again (the stream's own retry): Express keeps no
    # registry of names, so the same name runs again, as on AWS ...
    replay = {"Records": json.loads(execution_input)["records"]}
    response, error = aws.invoke_function_for(aws.outputs["trigger_function_name"])(replay)
    assert error is None and response == {"batchItemFailures": []}
    # ... and Express runs the same input again under another name (at-least-once delivery)
    sfn.start_execution(stateMachineArn=aws.outputs["state_machine_arn"], name="replayed", input=execution_input)
    executions = aws.wait_for_executions()

    # THEN every execution succeeded and nothing was added or rewritten
    assert statuses(executions) == {"SUCCEEDED": 3}
    assert sorted(e["name"] for e in executions) == sorted([execution["name"], execution["name"], "replayed"])
    assert sorted(r["id"]["S"] for r in audit_rows(aws)) == sorted(r["id"]["S"] for r in rows)
    assert archive_objects(aws) == objects
    assert archive_versions(aws) == versions == 1


def test_a_record_too_big_to_travel_inline_goes_by_claim_check_and_is_audited_whole(aws):
    big = "x" * (TriggerConfig.max_inline_payload_bytes + 1)
    put("BIG", blob={"S": big})
    (execution,) = aws.settle()

    started = json.loads(client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"])
    assert "recordsRef" in started and "records" not in started
    assert execution["status"] == "SUCCEEDED"
    (row,) = audit_rows(aws)
    assert row["newValue"]["M"]["blob"]["S"] == big
    (lines,) = archive_objects(aws).values()
    assert lines[0]["newImage"]["blob"]["S"] == big


def test_a_malformed_record_fails_alone_into_the_dlq_and_the_rest_of_the_batch_proceeds(aws):
    put("GOOD", value={"N": "1"})
    stream = client("dynamodbstreams")
    shard = stream.describe_stream(StreamArn=aws.outputs["source_stream_arn"])["StreamDescription"]["Shards"][0]
    iterator = stream.get_shard_iterator(
        StreamArn=aws.outputs["source_stream_arn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )
    page = stream.get_records(ShardIterator=iterator["ShardIterator"])
    while not page["Records"]:  # GetRecords may answer an empty page before the records, as on AWS
        page = stream.get_records(ShardIterator=page["NextShardIterator"])
    (good,) = page["Records"]
    good = {**good, "eventSourceARN": aws.outputs["source_stream_arn"]}
    good["dynamodb"] = {
        **good["dynamodb"],
        "ApproximateCreationDateTime": good["dynamodb"]["ApproximateCreationDateTime"].timestamp(),
    }
    bad = {"eventID": "bad-1", "eventName": "MODIFY", "dynamodb": {"SequenceNumber": "1", "Keys": {"key": {"S": "X"}}}}

    response, error = aws.invoke_function_for("audit_producer")({"Records": [bad, good]})
    executions = aws.wait_for_executions()

    assert error is None and response == {"batchItemFailures": []}
    assert statuses(executions) == {"SUCCEEDED": 1, "FAILED": 1}
    (message,) = drain(aws.outputs["dlq_url"])
    assert message["Body"]["error"] == "MalformedStreamRecordError"
    assert message["Body"]["failedState"] == "Decode"
    assert "bad-1" in message["Body"]["cause"]
    assert [r["itemKey"]["S"] for r in audit_rows(aws)] == ["GOOD"]


def test_when_executions_cannot_start_the_stream_retries_then_writes_an_on_failure_message(deploy):
    aws = deploy({"changetrail:trigger": {"maximumRetryAttempts": 2}})
    client("stepfunctions").delete_state_machine(stateMachineArn=aws.outputs["state_machine_arn"])
    put("A", value={"N": "1"})
    put("B", value={"N": "2"})
    aws.pump()

    (poller,) = aws.pollers
    assert poller.stats.retries == 2 and poller.stats.given_up == 2
    (message,) = drain(aws.outputs["stream_failures_queue_url"])
    info = message["Body"]["DDBStreamBatchInfo"]
    assert info["batchSize"] == 2 and info["streamArn"] == aws.outputs["source_stream_arn"]
    assert int(info["endSequenceNumber"]) - int(info["startSequenceNumber"]) == 1
    assert message["Body"]["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert audit_rows(aws) == []


def test_filter_criteria_limit_which_changes_reach_the_pipeline(deploy):
    aws = deploy({"changetrail:trigger": {"filterPatterns": ['{"eventName": ["REMOVE"]}']}})
    put("A", value={"N": "1"})
    client("dynamodb").delete_item(TableName="Configuration", Key={"key": {"S": "A"}})
    aws.settle()

    assert [r["eventName"]["S"] for r in audit_rows(aws)] == ["REMOVE"]


def test_small_batches_split_a_burst_into_several_executions_in_stream_order(deploy):
    aws = deploy({"changetrail:trigger": {"batchSize": 3}})
    for index in range(7):
        put("SAME", value={"N": str(index)})
    executions = aws.settle()

    assert statuses(executions) == {"SUCCEEDED": 3}
    rows = [r for r in audit_rows(aws) if r["eventName"]["S"] == "MODIFY"]
    ordered = sorted(rows, key=lambda r: r["historySortKey"]["S"])
    assert [r["newValue"]["N"] for r in ordered] == [str(i) for i in range(1, 7)]


def test_a_wrong_config_value_fails_the_deploy_naming_the_key_and_leaves_nothing_running():
    import os

    from changetrail.embedded import EmbeddedAws
    from components.config import ConfigError

    before = dict(os.environ)
    with pytest.raises(ConfigError, match=r"changetrail:trigger\.batchSize must be an integer .* fix: "):
        EmbeddedAws("dev", {"changetrail:trigger": {"batchSize": "lots"}}).start()
    assert dict(os.environ) == before
