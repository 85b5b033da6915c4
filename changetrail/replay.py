"""Replay: re-run archived changes through the pipeline, or print them as JSON Lines.

Each archive object is replayed as the chunk it was: the same records, the same batch coordinates
and the object's own key, so the pipeline writes the same audit ids, each change's claim names the
same object again, and the archive write meets the object already there (If-None-Match leaves it
untouched). Replaying what is already processed therefore adds nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from changetrail.archive import Archive, ArchivedObject, in_window
from changetrail.outputs import sources
from functions import claims, trigger
from functions.contracts import CONTRACT_VERSION

TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def stream_record(line: dict[str, Any], source_arn: str) -> dict[str, Any]:
    """An archived change back in the shape the trigger received it."""
    created = datetime.fromisoformat(line["modificationTime"].replace("Z", "+00:00")).timestamp()
    stream: dict[str, Any] = {
        "ApproximateCreationDateTime": created,
        "Keys": line["keys"],
        "SequenceNumber": line["sequenceNumber"],
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    for image in ("oldImage", "newImage"):
        if image in line:
            stream[image[0].upper() + image[1:]] = line[image]
    record = {
        "eventID": line["eventId"],
        "eventName": line["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": source_arn,
        "dynamodb": stream,
    }
    if line.get("expiredByTtl"):
        record["userIdentity"] = TTL_IDENTITY
    return record


def source_arn_for(outputs: dict[str, Any], table: str) -> str:
    """The table's stream ARN from the outputs; a table no longer audited gets a stand-in of the same shape."""
    for source in sources(outputs):
        if source["table_name"] == table and source.get("stream_arn"):
            return str(source["stream_arn"])
    return f"arn:aws:dynamodb:{outputs['region']}:{outputs['pipeline_account_id']}:table/{table}/stream/replay"


def selected(
    archive: Archive, table: str, start: datetime, end: datetime, item_key: str | None
) -> Iterator[tuple[ArchivedObject, list[dict[str, Any]]]]:
    for archived in archive.objects(table, start, end):
        lines = [line for line in archived.lines if in_window(line, start, end, item_key)]
        if lines:
            yield archived, lines


def replay_input(
    archived: ArchivedObject, lines: list[dict[str, Any]], source_arn: str, store: Any
) -> tuple[str, dict[str, Any]]:
    records = [stream_record(line, source_arn) for line in lines]
    chunk = trigger.Chunk(records=records, size=sum(trigger.record_size(r) for r in records))
    batch = {
        "eventSourceArn": source_arn,
        "firstSequenceNumber": archived.first_sequence,
        "lastSequenceNumber": archived.last_sequence,
        "recordCount": len(records),
    }
    execution_input = trigger.execution_input(chunk, batch, trigger.DEFAULT_INLINE_BUDGET, store)  # type: ignore[arg-type]
    digest = hashlib.sha256((archived.key + "|" + ",".join(r["eventID"] for r in records)).encode()).hexdigest()[:40]
    # The object the changes came from: the replay claims them for it again, and rewrites nothing else.
    return f"replay-{digest}", {**execution_input, "version": CONTRACT_VERSION, "archiveKey": archived.key}


def start_replays(
    outputs: dict[str, Any], archive: Archive, table: str, start: datetime, end: datetime, item_key: str | None, sfn: Any, s3: Any
) -> list[str]:
    """Start one execution per archive object in the window; returns their names."""

    store = claims.records_store(s3, outputs["payload_bucket_name"])
    names = []
    for archived, lines in selected(archive, table, start, end, item_key):
        name, execution_input = replay_input(archived, lines, source_arn_for(outputs, table), store)
        # Already replayed under this name: its writes were idempotent anyway.
        with contextlib.suppress(sfn.exceptions.ExecutionAlreadyExists):
            sfn.start_execution(
                stateMachineArn=outputs["state_machine_arn"], name=name, input=json.dumps(execution_input, separators=(",", ":"))
            )
        names.append(name)
    return names
