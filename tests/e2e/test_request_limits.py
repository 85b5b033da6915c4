"""Requests AWS refuses and moto alone took: the embedded AWS answers them as AWS documents.

PublishBatch (10 entries, 256 KiB in all, attributes counted; an entry SNS could not publish is
reported in ``Failed``), StartExecution's 262,144-byte input, BatchWriteItem's 25 requests, and
S3's bucket owner condition.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from moto.sns.models import SNSBackend

from changetrail.embedded import ARCHIVE_ACCOUNT, PIPELINE_ACCOUNT, client
from changetrail.embedded.faults import SNSInternalError

pytestmark = pytest.mark.e2e


def code_of(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def entries(count: int, size: int = 10) -> list[dict]:
    return [{"Id": str(n), "Message": "m" * size} for n in range(count)]


def test_publish_batch_refuses_eleven_entries_and_a_batch_past_256_kib_counting_attributes(aws):
    sns, topic = client("sns"), aws.outputs["topic_arn"]

    assert (
        code_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries(11)))
        == "TooManyEntriesInBatchRequest"
    )
    near = entries(2, 131_000)
    for entry in near:  # the messages alone fit; with their attributes the batch passes 262,144 bytes
        entry["MessageAttributes"] = {"padding": {"DataType": "String", "StringValue": "a" * 200}}
    assert code_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=near)) == "BatchRequestTooLong"
    response = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries(2, 131_000))
    assert len(response["Successful"]) == 2


def test_an_entry_sns_could_not_publish_is_reported_failed_not_dropped(aws, monkeypatch):
    sns, topic = client("sns"), aws.outputs["topic_arn"]

    def unavailable(self, *args, **kwargs):
        raise SNSInternalError("Request could not be processed")

    monkeypatch.setattr(SNSBackend, "publish", unavailable)
    response = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries(3))

    assert response["Successful"] == []
    assert [(f["Id"], f["SenderFault"]) for f in response["Failed"]] == [("0", False), ("1", False), ("2", False)]


def test_start_execution_refuses_an_input_past_262_144_bytes(aws):
    sfn, machine = client("stepfunctions"), aws.outputs["state_machine_arn"]
    too_big = json.dumps({"pad": "x" * 262_144})

    assert code_of(lambda: sfn.start_execution(stateMachineArn=machine, name="too-big", input=too_big)) == "ValidationException"


def test_batch_write_item_refuses_26_requests_and_writes_none(aws):
    ddb, table = client("dynamodb"), aws.outputs["source_table_name"]
    requests = [{"PutRequest": {"Item": {"key": {"S": f"k{n}"}}}} for n in range(26)]

    assert code_of(lambda: ddb.batch_write_item(RequestItems={table: requests})) == "ValidationException"
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 0
    assert ddb.batch_write_item(RequestItems={table: requests[:25]})["UnprocessedItems"] == {}


def test_a_wrong_expected_bucket_owner_is_refused_and_the_right_one_passes(aws):
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), aws.outputs["archive_bucket_name"]
    key = f"{aws.outputs['archive_prefix']}/owner-check.jsonl"

    put = lambda owner: s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n", ExpectedBucketOwner=owner, IfNoneMatch="*")  # noqa: E731
    assert code_of(lambda: put(PIPELINE_ACCOUNT)) == "AccessDenied"
    put(ARCHIVE_ACCOUNT)
    assert s3.head_object(Bucket=bucket, Key=key, ExpectedBucketOwner=ARCHIVE_ACCOUNT)["ContentLength"] == 3
