"""``GetRecords`` pages as DynamoDB Streams may return them: an empty page first, then the records.

AWS (DynamoDB Streams API reference, GetRecords): when the part of the shard an iterator points at
holds no records, GetRecords returns an empty list and a next iterator; "it might take multiple calls
to get to a portion of the shard that contains stream records". moto always returns the records at
once, so a reader that stops at the first empty page looks correct here and loses records on AWS.
Here every new iterator's first page is empty, and its next iterator points at the same place.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.dynamodbstreams.models import ShardIterator

_original_get = ShardIterator.get
_served: set[str] = set()
_lock = threading.Lock()


def get(iterator: ShardIterator, limit: int = 1000) -> dict[str, Any]:
    with _lock:
        first = iterator.id not in _served
        _served.add(iterator.id)
    if not first:
        return _original_get(iterator, limit)
    again = ShardIterator(iterator.streams_backend, iterator.stream_shard, "AT_SEQUENCE_NUMBER", iterator.sequence_number)
    with _lock:
        _served.add(again.id)  # the next page is a real one
    iterator.streams_backend.shard_iterators[again.arn] = again
    return {"NextShardIterator": again.arn, "Records": []}


def install() -> None:
    ShardIterator.get = get  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    ShardIterator.get = _original_get  # type: ignore[method-assign]
    with _lock:
        _served.clear()
