"""The embedded event source mapping reads records where the stream keeps them; what it hands the
trigger must be exactly what ``GetRecords`` returns, turned into Lambda's shape."""

from __future__ import annotations

import pytest

from changetrail.embedded import client
from changetrail.embedded.stream import stored_records
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
