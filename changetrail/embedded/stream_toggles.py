"""A table's stream switched off and on as DynamoDB does it, and the event source mappings moto keeps.

moto, on ``UpdateTable`` with ``StreamEnabled: false``, keeps the stream's label, so the stream can
never be enabled again (``StreamAlreadyEnabledException``), and ``DescribeStream`` on it then fails
inside moto (the local endpoint's delivery logged that traceback every 0.2 s). DynamoDB: a disabled
stream takes no new records, its records stay readable (24 hours), and enabling the stream again
creates a *new* stream, with a new label and ARN; a mapping on the old ARN gets nothing new. Here a
disabled stream's shard is retired under its ARN (the mapping on it reads what remains, then nothing)
and the table forgets the label, so the next enable starts a new stream.
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import StreamShard, Table

_original = Table.set_stream_specification
_retired: dict[str, StreamShard] = {}
"""Stream ARN -> the shard of a stream that was disabled."""


def set_stream_specification(table: Table, streams: dict[str, Any] | None) -> None:
    enabling = bool(streams and (streams.get("StreamEnabled") or streams.get("StreamViewType")))
    if not enabling and table.latest_stream_label and table.stream_shard is not None:
        _retired[f"{table.table_arn}/stream/{table.latest_stream_label}"] = table.stream_shard
        table.stream_shard = None
        table.latest_stream_label = None
    _original(table, streams)


def shard_of(stream_arn: str) -> StreamShard | None:
    """The shard behind a stream ARN: the table's current stream, a disabled one, or None (unknown, or the table gone)."""
    if stream_arn in _retired:
        return _retired[stream_arn]
    _, _, _, region, account, resource = stream_arn.split(":", 5)
    tables = dynamodb_backends[account][region].tables
    table = tables.get(resource.split("/")[1])
    if table is None or not table.latest_stream_label or stream_arn != f"{table.table_arn}/stream/{table.latest_stream_label}":
        return None
    return table.stream_shard


def install() -> None:
    _retired.clear()
    Table.set_stream_specification = set_stream_specification  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    Table.set_stream_specification = _original  # type: ignore[method-assign]
    _retired.clear()
