"""DynamoDB stream records in the shape Lambda hands them to the trigger, and reading them back."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any


class LostToRetentionError(LookupError):
    """The stream no longer holds these records (24 h retention, or the shard is gone)."""


def wire_json(value: Any) -> Any:
    """boto3's decoded bytes back to the base64 text that Lambda events carry."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {key: wire_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [wire_json(item) for item in value]
    return value


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A ``GetRecords`` record as Lambda hands it over: epoch seconds, base64 binary, ``eventSourceARN``."""
    stream = wire_json(dict(record["dynamodb"]))
    created = record["dynamodb"].get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "eventVersion": "1.1", "dynamodb": stream, "eventSourceARN": stream_arn}


MAX_EMPTY_PAGES = 20
"""Empty ``GetRecords`` pages followed in a row before a range counts as unreadable for now."""


class IncompleteRangeError(LookupError):
    """The stream returned the start of a range but not yet its end (read it again later)."""


def read_range(streams: Any, stream_arn: str, shard_id: str, first: str, last: str) -> list[dict[str, Any]]:
    """Records ``first``..``last`` of one shard, in Lambda's shape; raises unless it returns them all.

    ``GetRecords`` may return an empty page with a next iterator while records follow ("it might take
    multiple calls to get to a portion of the shard that contains stream records", DynamoDB Streams
    API reference): empty pages are followed, a bounded number in a row.
    """
    where = f"records {first}..{last} of {shard_id}"
    shards = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    shard = next((s for s in shards if s["ShardId"] == shard_id), None)
    if shard is None or int(first) < int(shard["SequenceNumberRange"]["StartingSequenceNumber"]):
        raise LostToRetentionError(f"{where} are past the stream's retention")
    try:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=first
        )["ShardIterator"]
    except streams.exceptions.TrimmedDataAccessException as error:
        raise LostToRetentionError(f"{where} are past the stream's retention") from error
    records: list[dict[str, Any]] = []
    empty = 0
    while iterator and empty < MAX_EMPTY_PAGES:
        response = streams.get_records(ShardIterator=iterator, Limit=1000)
        batch = response["Records"]
        records.extend(r for r in batch if int(first) <= int(r["dynamodb"]["SequenceNumber"]) <= int(last))
        if batch and int(batch[-1]["dynamodb"]["SequenceNumber"]) >= int(last):
            break
        empty = 0 if batch else empty + 1
        iterator = response.get("NextShardIterator")
    if not records or records[0]["dynamodb"]["SequenceNumber"] != first:
        raise LostToRetentionError(f"{where}: the stream no longer starts at {first}")
    if records[-1]["dynamodb"]["SequenceNumber"] != last:
        reached = records[-1]["dynamodb"]["SequenceNumber"]
        raise IncompleteRangeError(
            f"{where}: the stream returned them only up to {reached}; the message stays for a later redrive"
        )
    return [lambda_record(r, stream_arn) for r in records]
