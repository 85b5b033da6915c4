"""Deliver DynamoDB stream records to the trigger the way Lambda's event source mapping does.

Batches of ``BatchSize`` in shard order, gathered as Lambda gathers them: a batch goes when it is
full, when the records waiting reach the 6 MB invocation payload, or when
``MaximumBatchingWindowInSeconds`` has passed since its first record was seen (the background
delivery of ``changetrail local`` waits so; a test that pumps by hand lets the window pass at
once). Filter criteria applied before invoking, partial batch
responses honoured (checkpoint at the lowest failed sequence number), function errors retried
with bisection, finite retries and record age, and an on-failure message in AWS's shape sent
to the destination queue when a batch is given up. Nothing here knows what the trigger does.

``ParallelizationFactor`` N > 1: as in Lambda, up to N batches of one shard are processed at
once. Each record goes to one of N lanes by its item's key (``Keys``: partition and sort key), so
one item's records stay in order in one lane; each lane batches, retries, bisects and gives up
on its own, in a thread of its own, so a failing lane does not hold the others back. A lane's
on-failure message names its batch's first and last sequence numbers, a range that also spans
records other lanes delivered. Factor 1 is the single in-order reader it always was. (The
in-process Lambda runtime runs one handler body at a time, as one instance with one copy of the
module state would, so through the real trigger the lanes' invocations interleave there.)
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from moto.awslambda.models import lambda_backends
from moto.events.models import EventPattern

from changetrail.embedded.accounts import account_of, client
from changetrail.embedded.stream_toggles import shard_of
from changetrail.streams import lambda_record

if TYPE_CHECKING:
    from moto.events.utils import EventMessageType

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
"""Lambda's synchronous invocation payload: a batch is sent before its records pass it."""
Invoke = Callable[[dict[str, Any]], tuple[dict[str, Any] | None, str | None]]
"""Invokes the function with an event; returns (response, function error or None)."""


@dataclass
class Mapping:
    """The settings of one event source mapping, from the program's resource inputs."""

    uuid: str
    function_arn: str
    stream_arn: str
    batch_size: int = 100
    maximum_retry_attempts: int = -1
    maximum_record_age_seconds: int = -1
    bisect: bool = False
    report_item_failures: bool = False
    on_failure_arn: str | None = None
    filters: list[EventPattern] = field(default_factory=list)
    parallelization_factor: int = 1
    batching_window_seconds: float = 0
    in_moto: bool = False
    """Created in moto's Lambda too (so ``UpdateEventSourceMapping`` reaches it): gone from there means deleted."""

    @classmethod
    def from_inputs(cls, inputs: dict[str, Any]) -> Mapping:
        destination = ((inputs.get("destinationConfig") or {}).get("onFailure") or {}).get("destinationArn")
        patterns = [f["pattern"] for f in ((inputs.get("filterCriteria") or {}).get("filters") or [])]
        return cls(
            uuid=inputs["uuid"],
            function_arn=inputs["functionName"],
            stream_arn=inputs["eventSourceArn"],
            batch_size=int(inputs.get("batchSize") or 100),
            maximum_retry_attempts=int(inputs.get("maximumRetryAttempts", -1)),
            maximum_record_age_seconds=int(inputs.get("maximumRecordAgeInSeconds", -1)),
            bisect=bool(inputs.get("bisectBatchOnFunctionError")),
            report_item_failures="ReportBatchItemFailures" in (inputs.get("functionResponseTypes") or []),
            on_failure_arn=destination,
            filters=[EventPattern.load(p) for p in patterns],
            parallelization_factor=int(inputs.get("parallelizationFactor") or 1),
            batching_window_seconds=float(inputs.get("maximumBatchingWindowInSeconds") or 0),
            in_moto=bool(inputs.get("inMoto")),
        )

    def wants(self, record: dict[str, Any]) -> bool:
        # Filter criteria use EventBridge's pattern syntax, so moto's EventBridge matcher (typed for its events) serves.
        event = cast("EventMessageType", record)
        return not self.filters or any(pattern.matches_event(event) for pattern in self.filters)

    def lane_of(self, record: dict[str, Any]) -> int:
        """Which of the ``parallelization_factor`` lanes takes the record: a stable hash of its item's key."""
        if self.parallelization_factor <= 1:
            return 0
        key = json.dumps(record["dynamodb"]["Keys"], sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.md5(key, usedforsecurity=False).digest()
        return int.from_bytes(digest[:8], "big") % self.parallelization_factor


@dataclass
class DeliveryStats:
    batches: int = 0
    records: int = 0
    retries: int = 0
    given_up: int = 0


class StreamPoller:
    """One mapping's reader: ``poll()`` delivers everything new on the stream, then returns."""

    def __init__(self, mapping: Mapping, invoke: Invoke) -> None:
        self.mapping = mapping
        self.invoke = invoke
        self.stats = DeliveryStats()
        self._checkpoints: dict[str, str | None] = {}
        self._waiting_since: dict[str, float] = {}
        self._stats_lock = threading.Lock()

    def enabled(self) -> bool:
        """Whether the mapping, as moto keeps it (``UpdateEventSourceMapping``), is enabled; a deleted one is not."""
        region = self.mapping.function_arn.split(":")[3] if self.mapping.function_arn.startswith("arn:") else "us-east-1"
        account = account_of(self.mapping.stream_arn)
        found = lambda_backends[account][region]._event_source_mappings.get(self.mapping.uuid)
        if found is None:
            return not self.mapping.in_moto
        return str(found.enabled).lower() != "false"

    def shards(self) -> list[dict[str, Any]]:
        """The stream's shard, read where the stream keeps it (no ``DescribeStream``: a disabled stream has none in moto)."""
        shard = shard_of(self.mapping.stream_arn)
        return [] if shard is None else [{"ShardId": shard.id}]

    def poll(self, wait_for_batches: bool = False) -> int:
        """Deliver the records after each shard's checkpoint; returns how many were read.

        ``wait_for_batches``: hold a batch that is neither full nor at the payload limit until the
        batching window has passed since its first record was seen, as Lambda does. A disabled mapping
        reads nothing and keeps its checkpoints: enabled again, it resumes where it stopped (Lambda's
        UpdateEventSourceMapping: "you don't lose processing of any records").
        """
        if not self.enabled():
            return 0
        shards = self.shards()
        read = 0
        for shard in shards:
            if self.mapping.parallelization_factor > 1:
                if not (wait_for_batches and self._gathering(shard["ShardId"])):
                    read += self._poll_lanes(shard["ShardId"])
                continue
            while not (wait_for_batches and self._gathering(shard["ShardId"])):
                records = self._within_payload(self._read(shard["ShardId"], self.mapping.batch_size))
                if not records:
                    break
                read += len(records)
                wanted = [r for r in records if self.mapping.wants(r)]
                if wanted:
                    self._deliver(shard["ShardId"], wanted, attempt=0)
                self._checkpoints[shard["ShardId"]] = records[-1]["dynamodb"]["SequenceNumber"]
        return read

    def _gathering(self, shard_id: str) -> bool:
        """Whether the shard's next batch is still filling: not full, under 6 MB, its window still open."""
        waiting = self._read(shard_id, self.mapping.batch_size)
        if not waiting:
            self._waiting_since.pop(shard_id, None)
            return False
        since = self._waiting_since.setdefault(shard_id, time.monotonic())
        full = len(waiting) >= self.mapping.batch_size or len(self._within_payload(waiting)) < len(waiting)
        if full or time.monotonic() - since >= self.mapping.batching_window_seconds:
            self._waiting_since.pop(shard_id, None)
            return False
        return True

    @staticmethod
    def _within_payload(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The longest head of ``records`` whose invocation event stays within Lambda's 6 MB (at least one record)."""
        size = len('{"Records": []}')
        for count, record in enumerate(records):
            size += len(json.dumps(record)) + 2
            if size > MAX_PAYLOAD_BYTES and count:
                return records[:count]
        return records

    def skip_to_latest(self) -> int:
        """Move every shard's checkpoint past its newest record without delivering it; returns how many were skipped."""
        skipped = 0
        for shard in self.shards():
            if records := self._read(shard["ShardId"], None):
                skipped += len(records)
                self._checkpoints[shard["ShardId"]] = records[-1]["dynamodb"]["SequenceNumber"]
        return skipped

    def _poll_lanes(self, shard_id: str) -> int:
        """Everything new on the shard, each item's records in their lane, the lanes delivered at once."""
        records = self._read(shard_id, None)
        if not records:
            return 0
        lanes: list[list[dict[str, Any]]] = [[] for _ in range(self.mapping.parallelization_factor)]
        for record in records:
            if self.mapping.wants(record):
                lanes[self.mapping.lane_of(record)].append(record)
        busy = [lane for lane in lanes if lane]
        if busy:
            with ThreadPoolExecutor(max_workers=len(busy), thread_name_prefix="esm-lane") as pool:
                for future in [pool.submit(self._deliver_lane, shard_id, lane) for lane in busy]:
                    future.result()  # a bug in delivery surfaces here, as it would with factor 1
        self._checkpoints[shard_id] = records[-1]["dynamodb"]["SequenceNumber"]
        return len(records)

    def _deliver_lane(self, shard_id: str, lane: list[dict[str, Any]]) -> None:
        while lane:
            batch = self._within_payload(lane[: self.mapping.batch_size])
            self._deliver(shard_id, batch, attempt=0)
            lane = lane[len(batch) :]

    def _read(self, shard_id: str, limit: int | None) -> list[dict[str, Any]]:
        checkpoint = self._checkpoints.get(shard_id)
        return stored_records(self.mapping.stream_arn, int(checkpoint) + 1 if checkpoint else None, limit)

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for name, value in increments.items():
                setattr(self.stats, name, getattr(self.stats, name) + value)

    def _deliver(self, shard_id: str, batch: list[dict[str, Any]], attempt: int) -> None:
        while batch:
            self._count(batches=1, records=len(batch))
            response, error = self.invoke({"Records": batch})
            failed = self._failed_tail(batch, response, error)
            if not failed:
                return
            if self._exhausted(failed, attempt):
                self._give_up(shard_id, failed, attempt + 1, error)
                return
            attempt += 1
            self._count(retries=1)
            if error and self.mapping.bisect and len(failed) > 1:
                half = len(failed) // 2
                self._deliver(shard_id, failed[:half], attempt)
                self._deliver(shard_id, failed[half:], attempt)
                return
            batch = failed

    def _failed_tail(self, batch: list[dict[str, Any]], response: Any, error: str | None) -> list[dict[str, Any]]:
        """The records to retry: all on a function error, else from the lowest reported failure on."""
        if error:
            return batch
        if not self.mapping.report_item_failures or not isinstance(response, dict):
            return []
        failures = response.get("batchItemFailures") or []
        ids = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
        if not ids:
            return []
        positions = [i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in ids]
        # An identifier that names no record in the batch fails the whole batch, as in Lambda.
        return batch[min(positions) :] if len(positions) == len(ids) else batch

    def _exhausted(self, failed: list[dict[str, Any]], attempt: int) -> bool:
        limit = self.mapping.maximum_retry_attempts
        if limit >= 0 and attempt >= limit:
            return True
        age_limit = self.mapping.maximum_record_age_seconds
        oldest = failed[0]["dynamodb"]["ApproximateCreationDateTime"]
        return age_limit >= 0 and time.time() - float(oldest) > age_limit

    def _give_up(self, shard_id: str, failed: list[dict[str, Any]], invocations: int, error: str | None) -> None:
        self._count(given_up=len(failed))
        if not self.mapping.on_failure_arn:
            return
        first, last = failed[0]["dynamodb"], failed[-1]["dynamodb"]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.mapping.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": error or ""},
            "version": "1.0",
            "timestamp": _iso(time.time()),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
                "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
                "batchSize": len(failed),
                "streamArn": self.mapping.stream_arn,
            },
        }
        sqs = client("sqs")
        url = sqs.get_queue_url(QueueName=self.mapping.on_failure_arn.split(":")[-1])["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message))


def stored_records(stream_arn: str, first: int | None, limit: int | None) -> list[dict[str, Any]]:
    """Up to ``limit`` records (all if None) from sequence number ``first`` on (the shard's start if None), in Lambda's shape.

    Read where the stream keeps them, as the event source mapping does inside AWS: through
    ``GetRecords``, moto's response serializer cost more than the whole pipeline did per record.
    The records are exactly what ``GetRecords`` returns (``tests/e2e/test_stream_delivery.py``).
    """
    shard = shard_of(stream_arn)
    if shard is None:
        return []
    start = max(0, (first if first is not None else shard.starting_sequence_number) - shard.starting_sequence_number)
    end = None if limit is None else start + limit
    return [_wire_record(stored.to_json(), stream_arn) for stored in shard.items[start:end]]


def _wire_record(stored: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A stored record as it leaves ``GetRecords`` (JSON, timestamps in epoch milliseconds), then Lambda's shape."""
    created = stored["dynamodb"]["ApproximateCreationDateTime"]
    body = {**stored, "dynamodb": {**stored["dynamodb"], "ApproximateCreationDateTime": 0}}
    wire = json.loads(json.dumps(body, default=lambda blob: base64.b64encode(blob).decode()))
    wire["dynamodb"]["ApproximateCreationDateTime"] = calendar.timegm(created.timetuple()) + created.microsecond // 1000 / 1000
    return lambda_record(wire, stream_arn)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(float(epoch), tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
