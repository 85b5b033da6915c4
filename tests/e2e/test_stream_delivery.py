"""The embedded event source mapping reads records where the stream keeps them; what it hands the
trigger must be exactly what ``GetRecords`` returns, turned into Lambda's shape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from changetrail.embedded import client, lambdas
from changetrail.embedded.stream import MAX_PAYLOAD_BYTES, stored_records
from changetrail.streams import read_range

pytestmark = pytest.mark.e2e

EVERY_TYPE = {
    "key": {"S": "every-type"},
    "text": {"S": "naïve ☃"},
    "number": {"N": "-12345678901234567890.123456789012345678"},
    "binary": {"B": b"\x00\xffbinary"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "strings": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "binaries": {"BS": [b"\x01", b"\x02"]},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"B": b"\x03"}, {"M": {"deep": {"BS": [b"\x04"]}}}]},
    "map": {"M": {"inner": {"M": {"n": {"N": "0.1"}}}, "bin": {"B": b"\x05"}}},
}


def test_records_read_in_process_are_exactly_what_get_records_returns(aws):
    ddb, table = client("dynamodb"), aws.outputs["source_table_name"]
    ddb.put_item(TableName=table, Item=EVERY_TYPE)
    ddb.put_item(TableName=table, Item={**EVERY_TYPE, "number": {"N": "2"}})
    ddb.delete_item(TableName=table, Key={"key": {"S": "every-type"}})
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = client("dynamodbstreams").describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]
    first = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])

    in_process = stored_records(stream_arn, None, 10)
    through_api = read_range(client("dynamodbstreams"), stream_arn, shard["ShardId"], str(first), str(first + 2))

    assert [r["eventName"] for r in in_process] == ["INSERT", "MODIFY", "REMOVE"]
    assert in_process == through_api
    assert stored_records(stream_arn, first + 1, 1) == through_api[1:2]
    assert stored_records(stream_arn, first + 3, 10) == []


@contextmanager
def trigger_batches(aws) -> Iterator[list[int]]:
    """The size of every batch the trigger is invoked with meanwhile, oldest first."""
    sizes: list[int] = []
    trigger = aws.outputs["trigger_function_name"]

    def record(function_name, event):
        if function_name == trigger:
            sizes.append(len(event["Records"]))

    lambdas.hooks.append(record)
    try:
        yield sizes
    finally:
        lambdas.hooks.remove(record)


def test_writes_within_the_batching_window_reach_the_trigger_as_one_batch(deploy):
    """AWS waits up to MaximumBatchingWindowInSeconds to fill a batch; records written meanwhile go together."""
    aws = deploy({"changetrail:trigger": {"batchingWindowSeconds": 2, "batchSize": 100}})
    ddb = client("dynamodb")
    with trigger_batches(aws) as sizes:
        for n in range(30):
            ddb.put_item(TableName="Configuration", Item={"key": {"S": f"k{n}"}, "value": {"N": str(n)}})
            assert aws.pump(wait_for_batches=True) == 0, "the window is open: nothing goes yet"
        deadline = time.monotonic() + 10
        while not aws.pump(wait_for_batches=True):
            assert time.monotonic() < deadline, "the window never closed"
            time.sleep(0.1)
    assert sizes == [30]


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_its_own_window(deploy):
    aws = deploy({"changetrail:trigger": {"batchingWindowSeconds": 30, "batchSize": 10}})
    ddb = client("dynamodb")
    with trigger_batches(aws) as sizes:
        for n in range(25):
            ddb.put_item(TableName="Configuration", Item={"key": {"S": f"k{n}"}, "value": {"N": str(n)}})
        assert aws.pump(wait_for_batches=True) == 20
        assert aws.pump() == 5, "a pump without waiting lets every window pass"
    assert sizes == [10, 10, 5]


def test_records_past_the_6_mb_invocation_payload_go_in_the_next_batch(deploy):
    aws = deploy({"changetrail:trigger": {"batchingWindowSeconds": 30, "batchSize": 100}})
    ddb = client("dynamodb")
    with trigger_batches(aws) as sizes:
        for n in range(30):  # 30 records of ~350 KB: ~10 MB waiting, more than one invocation may carry
            ddb.put_item(TableName="Configuration", Item={"key": {"S": f"k{n}"}, "blob": {"S": "x" * 350_000}})
        assert aws.pump(wait_for_batches=True) > 0, "a batch at the payload limit goes without waiting"
        aws.pump()
    assert sum(sizes) == 30 and len(sizes) >= 2
    assert all(size * 350_000 <= MAX_PAYLOAD_BYTES for size in sizes)
