"""The embedded event source mapping's ParallelizationFactor: up to N batches of one shard at once,
each item's records in one lane and in order, each lane retrying and giving up on its own."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from changetrail.embedded import client, lambdas
from changetrail.embedded.stream import Mapping, StreamPoller
from changetrail.redrive import RedriveSettings
from tests.e2e.conftest import audit_rows, drain, statuses
from tests.e2e.test_redrive import redriver

pytestmark = pytest.mark.e2e
KEYS = [f"ITEM-{n:02d}" for n in range(16)]
ROUNDS = 3


@dataclass
class Call:
    records: list[dict[str, Any]]
    started: float
    ended: float
    thread: str
    failed: bool


@dataclass
class RecordingFunction:
    """Stands in for the trigger: records each invocation (and how long it took), fails when told to."""

    seconds: float = 0.05
    fails: Any = lambda records: False
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        started = time.monotonic()
        time.sleep(self.seconds)
        failed = bool(self.fails(event["Records"]))
        with self._lock:
            self.calls.append(Call(event["Records"], started, time.monotonic(), threading.current_thread().name, failed))
        return (None, "Unhandled") if failed else ({"batchItemFailures": []}, None)

    def delivered(self) -> list[dict[str, Any]]:
        return [record for call in self.calls if not call.failed for record in call.records]


def write_changes(table: str = "Configuration") -> None:
    """``ROUNDS`` changes to each of ``KEYS``, round by round, so the items' records interleave in the shard."""
    ddb = client("dynamodb")
    for round_ in range(ROUNDS):
        for key in KEYS:
            ddb.put_item(TableName=table, Item={"key": {"S": key}, "value": {"N": str(round_)}})


def poller(aws, function: RecordingFunction, **settings: Any) -> StreamPoller:
    """A poller over the stack's source stream with the stack's mapping settings, some overridden."""
    (inputs,) = aws.registry.mappings
    return StreamPoller(Mapping.from_inputs({**inputs, **settings}), function)


def key_of(record: dict[str, Any]) -> str:
    return record["dynamodb"]["Keys"]["key"]["S"]


def sequence(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def most_at_once(calls: list[Call]) -> int:
    moments = sorted([(c.started, 1) for c in calls] + [(c.ended, -1) for c in calls], key=lambda m: (m[0], m[1]))
    running = peak = 0
    for _, step in moments:
        running += step
        peak = max(peak, running)
    return peak


def test_each_items_records_go_to_one_lane_and_reach_the_function_in_stream_order(aws):
    write_changes()
    function = RecordingFunction(seconds=0.0)
    reader = poller(aws, function, parallelizationFactor=4, batchSize=5)

    assert reader.poll() == len(KEYS) * ROUNDS

    mapping = reader.mapping
    assert {mapping.lane_of(r) for r in function.delivered()} == {0, 1, 2, 3}, "16 items spread over all 4 lanes"
    for call in function.calls:
        assert len({mapping.lane_of(r) for r in call.records}) == 1, "a batch holds one lane's records"
        assert len(call.records) <= 5
        assert [sequence(r) for r in call.records] == sorted(sequence(r) for r in call.records)
    for key in KEYS:
        seen = [r for r in function.delivered() if key_of(r) == key]
        assert [sequence(r) for r in seen] == sorted(sequence(r) for r in seen), f"{key} out of order"
        assert [r["eventName"] for r in seen] == ["INSERT", "MODIFY", "MODIFY"]
    assert len(function.delivered()) == len({sequence(r) for r in function.delivered()}) == len(KEYS) * ROUNDS
    assert reader.stats.records == len(KEYS) * ROUNDS and reader.stats.retries == 0


def test_the_lanes_process_their_batches_at_the_same_time(aws):
    write_changes()
    function = RecordingFunction(seconds=0.1)
    reader = poller(aws, function, parallelizationFactor=4, batchSize=3)

    started = time.monotonic()
    reader.poll()
    took = time.monotonic() - started

    assert most_at_once(function.calls) == 4
    assert len({call.thread for call in function.calls}) == 4
    assert took < 0.6 * sum(call.ended - call.started for call in function.calls), "not one batch after another"


def failing_lane(aws, lane: int, **settings: Any) -> tuple[RecordingFunction, dict[int, int], list[dict[str, Any]]]:
    """Four lanes, ``lane`` failing on every attempt: (the function, each record's lane, the on-failure messages)."""
    write_changes()
    probe = Mapping.from_inputs({**aws.registry.mappings[0], "parallelizationFactor": 4})
    function = RecordingFunction(seconds=0.01, fails=lambda records: probe.lane_of(records[0]) == lane)
    poller(aws, function, parallelizationFactor=4, batchSize=4, maximumRetryAttempts=2, **settings).poll()
    lanes = {sequence(r): probe.lane_of(r) for call in function.calls for r in call.records}
    messages = [m["Body"]["DDBStreamBatchInfo"] for m in drain(aws.outputs["stream_failures_queue_url"])]
    return function, lanes, messages


def test_a_lane_that_always_fails_gives_up_its_records_while_the_other_lanes_deliver(aws):
    function, lanes, messages = failing_lane(aws, 1)

    # THEN every record of the other lanes reached the function, none of lane 1's did
    assert len(lanes) == len(KEYS) * ROUNDS
    assert {lanes[sequence(r)] for r in function.delivered()} == {0, 2, 3}
    assert len(function.delivered()) == sum(1 for n in lanes.values() if n != 1)
    # AND lane 1's records are in the on-failure queue, bisected down to one record a message
    assert sorted(int(m["startSequenceNumber"]) for m in messages) == sorted(s for s, n in lanes.items() if n == 1)
    assert all(m["batchSize"] == 1 and m["startSequenceNumber"] == m["endSequenceNumber"] for m in messages)
    # AND the failing lane held no other lane back: they were done while it still retried
    other_lanes_done = max(c.ended for c in function.calls if not c.failed)
    assert other_lanes_done < max(c.ended for c in function.calls if c.failed)


def test_a_failing_lanes_batch_range_interleaves_records_other_lanes_delivered(aws):
    function, lanes, messages = failing_lane(aws, 1, bisectBatchOnFunctionError=False)

    # THEN each given-up batch is one message with its first and last sequence numbers and its size ...
    assert sum(m["batchSize"] for m in messages) == sum(1 for n in lanes.values() if n == 1)
    spans = []
    for message in messages:
        first, last = int(message["startSequenceNumber"]), int(message["endSequenceNumber"])
        spanned = [n for s, n in lanes.items() if first <= s <= last]
        assert spanned.count(1) == message["batchSize"] <= 4
        spans.append(spanned)
    # ... and such a range also spans records of other lanes, which were delivered
    assert any(set(spanned) - {1} for spanned in spans)
    delivered = {sequence(r) for r in function.delivered()}
    assert all(s in delivered for s, n in lanes.items() if n != 1)


def test_factor_one_delivers_the_shard_in_order_in_one_thread(aws):
    write_changes()
    function = RecordingFunction(seconds=0.0)
    reader = poller(aws, function, batchSize=5)
    assert reader.mapping.parallelization_factor == 1

    reader.poll()

    batches = [[sequence(r) for r in call.records] for call in function.calls]
    flat = [s for batch in batches for s in batch]
    assert flat == sorted(flat) and len(flat) == len(KEYS) * ROUNDS
    assert all(batch == list(range(batch[0], batch[0] + len(batch))) for batch in batches), "consecutive records"
    assert [len(b) for b in batches] == [5] * 9 + [3]
    assert {call.thread for call in function.calls} == {threading.current_thread().name}
    assert most_at_once(function.calls) == 1


def test_the_pipeline_with_four_lanes_audits_every_change_in_item_order(deploy):
    aws = deploy({"changetrail:trigger": {"parallelizationFactor": 4, "batchSize": 4}})
    write_changes()
    executions = aws.settle()

    assert statuses(executions) == {"SUCCEEDED": len(executions)}
    rows = audit_rows(aws)
    assert sum(1 for r in rows if r["eventName"]["S"] == "INSERT") == len(KEYS)
    for key in KEYS:
        updates = sorted(
            (r for r in rows if r["itemKey"]["S"] == key and r["eventName"]["S"] == "MODIFY"),
            key=lambda r: r["historySortKey"]["S"],
        )
        assert [r["newValue"]["N"] for r in updates] == [str(n) for n in range(1, ROUNDS)]


def test_a_poison_item_fails_only_its_lanes_batch_and_redrive_completes_it(deploy):
    aws = deploy(
        {
            "changetrail:trigger": {
                "parallelizationFactor": 4,
                "batchSize": 4,
                "maximumRetryAttempts": 1,
                "bisectBatchOnError": False,
            }
        }
    )
    (poller_,) = aws.pollers
    poison = KEYS[0]

    def trigger_fails_on_poison(function_name, event):
        if function_name == aws.outputs["trigger_function_name"] and f'"{poison}"' in json.dumps(event):
            raise RuntimeError("poison record")

    lambdas.hooks.append(trigger_fails_on_poison)
    try:
        write_changes()
        aws.settle()
    finally:
        lambdas.hooks.remove(trigger_fails_on_poison)

    # THEN the other lanes delivered; the poison item's batches (with their lane mates) were given up
    lanes = {key: poller_.mapping.lane_of({"dynamodb": {"Keys": {"key": {"S": key}}}}) for key in KEYS}
    audited = {r["itemKey"]["S"] for r in audit_rows(aws)}
    assert {k for k, n in lanes.items() if n != lanes[poison]} <= audited, "the other lanes delivered"
    assert poison not in audited
    messages = client("sqs").receive_message(
        QueueUrl=aws.outputs["stream_failures_queue_url"], MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    infos = [json.loads(m["Body"])["DDBStreamBatchInfo"] for m in messages]
    assert sum(i["batchSize"] for i in infos) == poller_.stats.given_up
    assert any(int(i["endSequenceNumber"]) - int(i["startSequenceNumber"]) + 1 > i["batchSize"] for i in infos), (
        "a given-up range spans records other lanes delivered"
    )
    # WHEN redrive reads the ranges back from the stream (other lanes' records included) and runs them
    summary = redriver(aws).run(RedriveSettings(wait=True, visibility_timeout=1))
    assert summary.totals.get("succeeded") == len(summary.outcomes) > 0
    rows = audit_rows(aws)
    assert {r["itemKey"]["S"] for r in rows} == set(KEYS)
    assert len(rows) == len({r["id"]["S"] for r in rows}) == len(KEYS) * ROUNDS, "each change once, none twice"
