"""Trigger: the stream's Lambda. Splits a batch into execution inputs and starts one execution each.

Thin on purpose: no decoding here, so cold starts stay short. Records go inline while the input
stays under the configured budget, in chunks of even size; a record too big for the budget
travels by claim check in S3. On the first chunk that cannot be started, that chunk and every
later record are reported as failed, so the event source mapping checkpoints before them and
nothing is skipped. A chunk started twice (a retried batch, Express running it again) is safe
downstream: each change's audit rows claim its archive object, so it is archived once.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import boto3
from aws_lambda_powertools import Logger

from functions import claims
from functions.contracts import (
    CONTRACT_VERSION,
    IMAGES_BY_EVENT,
    REQUIRED_VIEW_TYPE,
    BatchCoordinates,
    ExecutionInput,
    batch_id,
)

logger = Logger(service="changetrail-trigger")
STARTED, NOT_STARTED = "execution started", "could not start execution"
"""Log messages the stack counts as metrics (metric filters on the trigger's log group): no metrics code here."""
DEFAULT_INLINE_BUDGET = 160_000
ENVELOPE_BYTES = 512
_clients: dict[str, Any] = {}


class Chunk:
    """Consecutive stream records that become one execution (a plain class: a dataclass costs cold-start time)."""

    __slots__ = ("records", "size")

    def __init__(self, records: list[dict[str, Any]] | None = None, size: int = 0) -> None:
        self.records = records if records is not None else []
        self.size = size


def record_size(record: dict[str, Any]) -> int:
    return len(json.dumps(record, separators=(",", ":")).encode())


REQUIRED_STREAM_FIELDS = ("Keys", "SequenceNumber", "ApproximateCreationDateTime")


def looks_like_stream_record(record: Any) -> bool:
    """Shape check only; Decode validates fully. Odd records run alone, so their dead letter names them alone."""
    if not isinstance(record, dict) or "eventID" not in record:
        return False
    stream = record.get("dynamodb")
    images = IMAGES_BY_EVENT.get(record.get("eventName"))  # type: ignore[arg-type]
    return (
        isinstance(stream, dict)
        and images is not None
        and stream.get("StreamViewType", REQUIRED_VIEW_TYPE) == REQUIRED_VIEW_TYPE
        and all(f in stream for f in (*REQUIRED_STREAM_FIELDS, *images))
    )


def plan_chunks(records: list[dict[str, Any]], budget: int = DEFAULT_INLINE_BUDGET) -> list[Chunk]:
    """Group records in stream order into chunks whose inline input stays within ``budget`` bytes.

    Each run of well-formed records is cut into as few chunks as the budget allows, and of those
    cuts the one whose largest chunk is smallest: two chunks of 50 rather than 90 and 10, so no
    execution carries a few stragglers.
    """
    chunks: list[Chunk] = []
    run: list[tuple[dict[str, Any], int]] = []
    for record in records:
        size = record_size(record)
        if looks_like_stream_record(record) and size + ENVELOPE_BYTES <= budget:
            run.append((record, size))
            continue
        chunks += _even_chunks(run, budget - ENVELOPE_BYTES)
        run = []
        chunks.append(Chunk([record], size))
    return chunks + _even_chunks(run, budget - ENVELOPE_BYTES)


def _even_chunks(run: list[tuple[dict[str, Any], int]], room: int) -> list[Chunk]:
    """The fewest chunks of at most ``room`` bytes, with the smallest largest chunk (binary search on it)."""
    if not run:
        return []
    fewest = len(_fill(run, room))
    low, high = max(size for _, size in run), room
    while low < high:
        middle = (low + high) // 2
        if len(_fill(run, middle)) <= fewest:
            high = middle
        else:
            low = middle + 1
    return _fill(run, low)


def _fill(run: list[tuple[dict[str, Any], int]], capacity: int) -> list[Chunk]:
    chunks = [Chunk()]
    for record, size in run:
        if chunks[-1].records and chunks[-1].size + size > capacity:
            chunks.append(Chunk())
        chunks[-1].records.append(record)
        chunks[-1].size += size
    return chunks


def sequence_number(record: Any) -> str:
    try:
        return str(record["dynamodb"]["SequenceNumber"])
    except (KeyError, TypeError):
        return str(record.get("eventID", "")) if isinstance(record, dict) else ""


def coordinates(chunk: Chunk, default_source_arn: str = "") -> BatchCoordinates:
    first, last = chunk.records[0], chunk.records[-1]
    return {
        "eventSourceArn": first.get("eventSourceARN", default_source_arn) if isinstance(first, dict) else "",
        "firstSequenceNumber": sequence_number(first),
        "lastSequenceNumber": sequence_number(last),
        "recordCount": len(chunk.records),
    }


def execution_name(batch: BatchCoordinates, suffix: str = "") -> str:
    """Deterministic and within the 80-character limit: the same chunk always gets the same name."""
    return f"{batch_id(batch)}{suffix}"[:80]


def execution_input(chunk: Chunk, batch: BatchCoordinates, budget: int, store: Any) -> ExecutionInput:
    """Inline records when they fit, else a claim-check reference written through ``store``."""
    payload: ExecutionInput = {"version": CONTRACT_VERSION, "batch": batch}
    if chunk.size + ENVELOPE_BYTES <= budget:
        payload["records"] = chunk.records
    else:
        payload["recordsRef"] = store(execution_name(batch), {"records": chunk.records})
    return payload


class TriggerSettings(NamedTuple):
    state_machine_arn: str
    payload_bucket: str
    inline_budget: int

    @classmethod
    def from_environment(cls) -> TriggerSettings:
        return cls(
            state_machine_arn=os.environ["STATE_MACHINE_ARN"],
            payload_bucket=os.environ["PAYLOAD_BUCKET"],
            inline_budget=int(os.environ.get("MAX_INLINE_PAYLOAD_BYTES", DEFAULT_INLINE_BUDGET)),
        )


def _client(service: str) -> Any:
    if service not in _clients:
        _clients[service] = boto3.client(service)
    return _clients[service]


def start_chunks(records: list[dict[str, Any]], settings: TriggerSettings, sfn: Any, s3: Any) -> list[str]:
    """Start one execution per chunk; return the sequence numbers to report as failed."""

    store = claims.records_store(s3, settings.payload_bucket)
    chunks = plan_chunks(records, settings.inline_budget)
    for index, chunk in enumerate(chunks):
        batch = coordinates(chunk)
        logger.set_correlation_id(batch_id(batch))
        try:
            payload = execution_input(chunk, batch, settings.inline_budget, store)
            sfn.start_execution(
                stateMachineArn=settings.state_machine_arn,
                name=execution_name(batch),
                input=json.dumps(payload, separators=(",", ":")),  # as record_size measured it
            )
        except Exception:
            logger.exception(NOT_STARTED, extra={"batch": batch, "eventIds": event_ids(chunk.records)})
            return [sequence_number(record) for later in chunks[index:] for record in later.records]
        logger.info(STARTED, extra={"batch": batch, "eventIds": event_ids(chunk.records)})
    return []


def event_ids(records: list[dict[str, Any]]) -> list[str]:
    return [record.get("eventID", "") if isinstance(record, dict) else "" for record in records]


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    records = event.get("Records", [])
    failed = start_chunks(records, TriggerSettings.from_environment(), _client("stepfunctions"), _client("s3"))
    logger.set_correlation_id(None)
    logger.info("batch handled", extra={"records": len(records), "failed": len(failed)})
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
