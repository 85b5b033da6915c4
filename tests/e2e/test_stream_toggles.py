"""Switching delivery off and on, as Lambda and DynamoDB do it, through plain boto3 clients.

GIVEN the dev stack on the embedded AWS, WHEN the event source mapping is disabled and enabled again
(``UpdateEventSourceMapping Enabled``), THEN nothing is delivered meanwhile and delivery resumes from
the checkpoint, no change lost, none twice; WHEN the table's stream is disabled and enabled again
(``UpdateTable StreamSpecification``), THEN delivery stops cleanly and the new stream has a new ARN,
which the mapping on the old one never reads.
"""

from __future__ import annotations

from collections import Counter

import boto3
import pytest
from botocore.config import Config

from tests.e2e.conftest import audit_rows

pytestmark = pytest.mark.e2e
CONFIG = Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 1})
TABLE = "Configuration"


def plain(service: str):
    return boto3.client(service, region_name="us-east-1", config=CONFIG)


def put(key: str, value: int) -> None:
    plain("dynamodb").put_item(TableName=TABLE, Item={"key": {"S": key}, "value": {"N": str(value)}})


def audited(aws) -> Counter[str]:
    """How many INSERT rows each item has (one change of each item here)."""
    return Counter(row["itemKey"]["S"] for row in audit_rows(aws) if row["eventName"]["S"] == "INSERT")


def test_a_disabled_mapping_delivers_nothing_and_enabled_again_resumes_from_its_checkpoint(aws):
    lam = plain("lambda")
    stream_arn = plain("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    (mapping,) = [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m["EventSourceArn"] == stream_arn]
    put("BEFORE", 1)
    aws.settle()
    before = len(aws.executions())
    assert set(audited(aws)) == {"BEFORE"}

    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    put("WHILE-OFF-1", 1)
    put("WHILE-OFF-2", 1)
    aws.settle()
    assert len(aws.executions()) == before and set(audited(aws)) == {"BEFORE"}

    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
    put("AFTER", 1)
    aws.settle()
    assert audited(aws) == {"BEFORE": 1, "WHILE-OFF-1": 1, "WHILE-OFF-2": 1, "AFTER": 1}


def test_a_disabled_stream_stops_delivery_cleanly_and_enabled_again_is_a_new_stream(aws):
    ddb, streams = plain("dynamodb"), plain("dynamodbstreams")
    described = ddb.describe_table(TableName=TABLE)["Table"]
    old_arn, view = described["LatestStreamArn"], described["StreamSpecification"]["StreamViewType"]
    put("BEFORE", 1)
    aws.settle()

    ddb.update_table(TableName=TABLE, StreamSpecification={"StreamEnabled": False})
    put("WHILE-OFF", 1)
    aws.settle()  # delivery stops without an error (moto failed in DescribeStream on every poll)
    assert set(audited(aws)) == {"BEFORE"}

    ddb.update_table(TableName=TABLE, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    renewed = ddb.describe_table(TableName=TABLE)["Table"]
    assert renewed["LatestStreamArn"] != old_arn and renewed["LatestStreamLabel"] != old_arn.rsplit("/", 1)[-1]
    put("ON-THE-NEW-STREAM", 1)
    aws.settle()
    assert set(audited(aws)) == {"BEFORE"}  # the mapping reads the old stream: nothing new arrives there

    (shard,) = streams.describe_stream(StreamArn=renewed["LatestStreamArn"])["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(
        StreamArn=renewed["LatestStreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = []
    for _ in range(5):  # a page may be empty before the records (as on DynamoDB Streams)
        page = streams.get_records(ShardIterator=iterator)
        records += page["Records"]
        iterator = page["NextShardIterator"]
    assert [r["dynamodb"]["Keys"]["key"]["S"] for r in records] == ["ON-THE-NEW-STREAM"]  # the change while off is in neither
