"""Trigger: stream batch -> chunks -> one execution each, with partial batch failure semantics."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from functions import trigger
from functions.trigger import (
    ENVELOPE_BYTES,
    Chunk,
    TriggerSettings,
    coordinates,
    execution_input,
    execution_name,
    plan_chunks,
    record_size,
    start_chunks,
)
from tests.unit.conftest import STREAM_ARN

MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:changetrail-dev-pipeline"
BUCKET = "changetrail-dev-payloads"


# ---------------------------------------------------------------- fakes


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")


class FakeStepFunctions:
    """Records every StartExecution call; raises the planned error on the planned call."""

    def __init__(self, errors: dict[int, Exception] | None = None) -> None:
        self.errors = errors or {}
        self.calls: list[dict[str, Any]] = []

    def start_execution(self, **request: Any) -> dict[str, str]:
        self.calls.append(request)
        error = self.errors.get(len(self.calls) - 1)
        if error:
            raise error
        return {"executionArn": f"{MACHINE_ARN.replace('stateMachine', 'express')}:{request['name']}"}

    def inputs(self) -> list[dict[str, Any]]:
        return [json.loads(call["input"]) for call in self.calls]


class FakeS3:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> dict:
        if self.fail:
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "Reduce your request rate"}}, "PutObject")
        self.objects[(Bucket, Key)] = Body
        return {}


def settings(budget: int) -> TriggerSettings:
    return TriggerSettings(state_machine_arn=MACHINE_ARN, payload_bucket=BUCKET, inline_budget=budget)


def sequences(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["SequenceNumber"] for record in records]


@pytest.fixture(scope="session")
def padded(make_record):
    """Factory: a well-formed MODIFY record carrying ``pad`` extra characters."""

    def make(pad: int = 0, **record: Any) -> dict[str, Any]:
        new = {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}, "note": {"S": "p" * pad}}
        return make_record("MODIFY", new=new, **record)

    return make


@pytest.fixture
def six_records(padded):
    """Six records of equal size and a budget that fits exactly two of them per chunk."""
    records = [padded(200) for _ in range(6)]
    assert len({record_size(r) for r in records}) == 1
    return records, 2 * record_size(records[0]) + ENVELOPE_BYTES


def malformed_variants(record: dict[str, Any]) -> list[Any]:
    no_keys = json.loads(json.dumps(record))
    del no_keys["dynamodb"]["Keys"]
    bad_name = {**json.loads(json.dumps(record)), "eventName": "PUT"}
    no_image = json.loads(json.dumps(record))
    del no_image["dynamodb"]["OldImage"]
    return [no_keys, bad_name, no_image, "not a record", {"eventName": "MODIFY"}]


# ---------------------------------------------------------------- plan_chunks


@st.composite
def batches(draw, padded):
    """A stream batch with random record sizes (some over budget) and some malformed records."""
    budget = draw(st.integers(min_value=2_000, max_value=20_000))
    records: list[Any] = []
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        record = padded(draw(st.integers(min_value=0, max_value=12_000)))
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            record = draw(st.sampled_from(malformed_variants(record)))
        records.append(record)
    return records, budget


def well_formed(record: Any) -> bool:
    return trigger.looks_like_stream_record(record)


def test_given_the_recorded_batch_when_planned_then_one_chunk_in_stream_order(recorded_batch):
    records = recorded_batch()["Records"]

    [chunk] = plan_chunks(records)

    assert chunk.records == records
    assert chunk.size == sum(record_size(r) for r in records)


@given(data=st.data())
def test_given_random_batches_when_planned_then_chunks_keep_order_budget_and_isolation(padded, data):
    records, budget = data.draw(batches(padded))

    chunks = plan_chunks(records, budget)

    flattened = [record for chunk in chunks for record in chunk.records]
    assert len(flattened) == len(records)
    assert all(a is b for a, b in zip(flattened, records, strict=True))
    for chunk in chunks:
        assert chunk.records
        assert chunk.size == sum(record_size(r) for r in chunk.records)
        if len(chunk.records) > 1:
            assert chunk.size + ENVELOPE_BYTES <= budget
            assert all(well_formed(r) for r in chunk.records)
    greedy = greedy_chunks(records, budget)
    assert len(chunks) == len(greedy), "as few executions as filling each chunk to the budget"
    assert max((c.size for c in chunks), default=0) <= max((c.size for c in greedy), default=0), "none larger than greedy's"


def greedy_chunks(records: list[dict[str, Any]], budget: int) -> list[Chunk]:
    """Oracle: fill each chunk up to the budget, odd or oversize records alone."""
    chunks: list[Chunk] = []
    current = Chunk()
    for record in records:
        size = record_size(record)
        alone = not well_formed(record) or size + ENVELOPE_BYTES > budget
        if current.records and (alone or current.size + size + ENVELOPE_BYTES > budget):
            chunks.append(current)
            current = Chunk()
        current.records.append(record)
        current.size += size
        if alone:
            chunks.append(current)
            current = Chunk()
    return [*chunks, current] if current.records else chunks


def test_given_equal_records_over_the_budget_when_planned_then_the_chunks_are_even(padded):
    records = [padded(1000) for _ in range(100)]
    budget = 60 * record_size(records[0]) + ENVELOPE_BYTES

    assert [len(c.records) for c in plan_chunks(records, budget)] == [50, 50]


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"])
def test_given_a_record_of_another_view_type_when_planned_then_it_runs_alone(padded, view_type):
    before, odd, after = padded(10), padded(10), padded(10)
    odd["dynamodb"]["StreamViewType"] = view_type

    chunks = plan_chunks([before, odd, after], 60_000)

    assert [c.records for c in chunks] == [[before], [odd], [after]]


def test_given_an_oversize_record_when_planned_then_it_runs_alone_and_neighbours_still_group(padded):
    small, big = [padded(100) for _ in range(2)], padded(9_000)
    budget = 3 * record_size(small[0]) + ENVELOPE_BYTES

    chunks = plan_chunks([small[0], big, small[1]], budget)

    assert [c.records for c in chunks] == [[small[0]], [big], [small[1]]]


@pytest.mark.parametrize("index", range(5))
def test_given_a_malformed_record_when_planned_then_it_runs_alone(padded, index):
    before, after = padded(10), padded(10)
    odd = malformed_variants(padded(10))[index]

    chunks = plan_chunks([before, odd, after], 60_000)

    assert [c.records for c in chunks] == [[before], [odd], [after]]


def test_given_an_empty_batch_when_planned_then_no_chunk():
    assert plan_chunks([]) == []


# ---------------------------------------------------------------- coordinates and names


def test_given_a_chunk_when_located_then_its_coordinates_name_the_stream_and_sequence_range(recorded_batch):
    records = recorded_batch()["Records"]

    batch = coordinates(Chunk(records=records))

    assert batch == {
        "eventSourceArn": STREAM_ARN,
        "firstSequenceNumber": "1195860200000000034221870811",
        "lastSequenceNumber": "1195860500000000034221872390",
        "recordCount": 4,
    }


def test_given_a_record_without_a_sequence_number_when_located_then_its_event_id_stands_in(padded):
    record = padded()
    del record["dynamodb"]["SequenceNumber"]

    batch = coordinates(Chunk(records=[record]))

    assert batch["firstSequenceNumber"] == batch["lastSequenceNumber"] == record["eventID"]


@given(
    arn=st.text(max_size=300),
    first=st.text(max_size=100),
    last=st.text(max_size=100),
    suffix=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", max_size=100),
)
def test_given_any_coordinates_when_named_then_the_name_is_deterministic_short_and_valid(arn, first, last, suffix):
    batch = {"eventSourceArn": arn, "firstSequenceNumber": first, "lastSequenceNumber": last, "recordCount": 1}

    name = execution_name(batch, suffix)

    assert name == execution_name(dict(batch), suffix)
    assert len(name) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)


def test_given_different_sequence_ranges_when_named_then_the_names_differ(recorded_batch):
    records = recorded_batch()["Records"]

    names = {execution_name(coordinates(Chunk(records=records[i : i + 1]))) for i in range(len(records))}

    assert len(names) == len(records)


# ---------------------------------------------------------------- execution_input


def test_given_a_chunk_within_budget_when_input_is_built_then_records_go_inline(recorded_batch):
    chunk = plan_chunks(recorded_batch()["Records"])[0]
    batch = coordinates(chunk)

    def store(name, body):
        raise AssertionError("an inline chunk needs no claim check")

    payload = execution_input(chunk, batch, 60_000, store)

    assert payload == {"version": 1, "batch": batch, "records": chunk.records}


def test_given_a_chunk_over_budget_when_input_is_built_then_it_travels_by_claim_check(padded):
    chunk = Chunk(records=[padded(5_000)], size=record_size(padded(5_000)))
    batch = coordinates(chunk)
    stored = []

    def store(name, body):
        stored.append((name, body))
        return {"bucket": BUCKET, "key": f"payloads/{name}.json"}

    payload = execution_input(chunk, batch, 4_096, store)

    assert stored == [(execution_name(batch), {"records": chunk.records})]
    assert payload == {
        "version": 1,
        "batch": batch,
        "recordsRef": {"bucket": BUCKET, "key": f"payloads/{execution_name(batch)}.json"},
    }


# ---------------------------------------------------------------- start_chunks


def test_given_every_chunk_starts_when_the_batch_is_handled_then_nothing_is_reported_failed(six_records):
    records, budget = six_records
    sfn = FakeStepFunctions()

    failed = start_chunks(records, settings(budget), sfn, FakeS3())

    assert failed == []
    assert [i["records"] for i in sfn.inputs()] == [records[0:2], records[2:4], records[4:6]]
    assert all(call["stateMachineArn"] == MACHINE_ARN for call in sfn.calls)
    assert [call["name"] for call in sfn.calls] == [execution_name(i["batch"]) for i in sfn.inputs()]


@pytest.mark.parametrize("failing", [0, 1, 2])
def test_given_chunk_k_fails_to_start_when_handled_then_it_and_every_later_record_are_reported(six_records, failing):
    records, budget = six_records
    sfn = FakeStepFunctions({failing: throttled()})

    failed = start_chunks(records, settings(budget), sfn, FakeS3())

    assert failed == sequences(records[2 * failing :])
    assert len(sfn.calls) == failing + 1, "no chunk after the failed one may start"


def test_given_an_oversize_record_when_handled_then_its_execution_reads_it_from_the_payload_bucket(padded):
    small, big = padded(10), padded(9_000)
    sfn, s3 = FakeStepFunctions(), FakeS3()

    failed = start_chunks([small, big], settings(4_096), sfn, s3)

    assert failed == []
    inline, by_reference = sfn.inputs()
    assert inline["records"] == [small]
    ref = by_reference["recordsRef"]
    assert ref == {"bucket": BUCKET, "key": f"payloads/{sfn.calls[1]['name']}.json"}
    assert json.loads(s3.objects[(ref["bucket"], ref["key"])]) == {"records": [big]}
    assert "records" not in by_reference


def test_given_the_claim_check_cannot_be_written_when_handled_then_that_chunk_and_later_are_reported(padded):
    records = [padded(10), padded(9_000), padded(10)]
    sfn = FakeStepFunctions()

    failed = start_chunks(records, settings(4_096), sfn, FakeS3(fail=True))

    assert failed == sequences(records[1:])
    assert len(sfn.calls) == 1


def test_given_realistic_records_when_started_then_every_inline_input_stays_within_the_budget(padded):
    records = [padded(700) for _ in range(150)]
    sfn = FakeStepFunctions()

    start_chunks(records, settings(trigger.DEFAULT_INLINE_BUDGET), sfn, FakeS3())

    assert len(sfn.calls) > 1
    assert all("records" in i for i in sfn.inputs())
    sizes = [len(call["input"].encode()) for call in sfn.calls]
    assert max(sizes) <= trigger.DEFAULT_INLINE_BUDGET


@given(data=st.data(), failing=st.integers(min_value=0, max_value=30))
def test_given_random_batches_and_a_failing_chunk_when_handled_then_exactly_the_rest_is_reported(padded, data, failing):
    records, budget = data.draw(batches(padded))
    chunks = plan_chunks(records, budget)
    sfn = FakeStepFunctions({failing: throttled()})

    failed = start_chunks(records, settings(budget), sfn, FakeS3())

    if failing >= len(chunks):
        assert failed == []
        assert len(sfn.calls) == len(chunks)
    else:
        first = sum(len(chunk.records) for chunk in chunks[:failing])
        assert failed == [trigger.sequence_number(r) for r in records[first:]]
        assert len(sfn.calls) == failing + 1
    assert all(len(call["input"].encode()) <= budget for call in sfn.calls)


# ---------------------------------------------------------------- handler


@dataclass
class LambdaContext:
    function_name: str = "changetrail-dev-trigger"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:changetrail-dev-trigger"
    aws_request_id: str = "5b0c7e2a-9d41-4f3e-8a6b-1c2d3e4f5a6b"


def test_given_a_failed_start_when_the_handler_returns_then_the_esm_gets_sequence_numbers_as_item_failures(
    monkeypatch, recorded_batch
):
    event = recorded_batch()
    monkeypatch.setenv("STATE_MACHINE_ARN", MACHINE_ARN)
    monkeypatch.setenv("PAYLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("MAX_INLINE_PAYLOAD_BYTES", "2000")  # two recorded records per chunk
    sfn = FakeStepFunctions({1: throttled()})
    monkeypatch.setattr(trigger, "_clients", {"stepfunctions": sfn, "s3": FakeS3()})

    response = trigger.handler(event, LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": s} for s in sequences(event["Records"][2:])]}
    assert [i["batch"]["recordCount"] for i in sfn.inputs()] == [2, 2]
