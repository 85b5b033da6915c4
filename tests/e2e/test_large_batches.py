"""A full 1,000-record stream batch: chunked within the payload budget, every change audited once, in order."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import client, faults
from components.config import TriggerConfig
from tests.e2e.conftest import archive_objects, audit_rows, drain, statuses

pytestmark = pytest.mark.e2e


def test_a_batch_of_1000_records_is_chunked_audited_once_and_kept_in_order(deploy):
    aws = deploy({"changetrail:trigger": {"batchSize": 1000}, "changetrail:notifications": {"mode": "off"}})
    ddb = client("dynamodb")
    for n in range(1000):
        ddb.put_item(TableName="Configuration", Item={"key": {"S": f"item-{n % 20:02d}"}, "value": {"N": str(n)}})
    executions = aws.settle(timeout=600)

    (poller,) = aws.pollers
    assert poller.stats.batches == 1 and poller.stats.records == 1000, "one batch of 1,000 records"
    assert {e["status"] for e in executions} == {"SUCCEEDED"} and len(executions) > 1, "chunked into several executions"
    sfn = client("stepfunctions")
    sizes = [len(sfn.describe_execution(executionArn=e["executionArn"])["input"].encode()) for e in executions]
    assert max(sizes) <= TriggerConfig.max_inline_payload_bytes, "every inline input within maxInlinePayloadBytes"

    rows = audit_rows(aws)
    assert len(rows) == 1000 and len({r["id"]["S"] for r in rows}) == 1000
    for item in range(20):
        history = sorted((r for r in rows if r["itemKey"]["S"] == f"item-{item:02d}"), key=lambda r: r["historySortKey"]["S"])
        values = [int(r["newValue"]["M"]["value"]["N"] if "M" in r["newValue"] else r["newValue"]["N"]) for r in history]
        assert values == sorted(values), "sequence order within an item"
    lines = [line for body in archive_objects(aws).values() for line in body]
    assert len(lines) == 1000 and len({line["eventId"] for line in lines}) == 1000
    assert all(json.loads(json.dumps(line))["sequenceNumber"] for line in lines)


STATE_LIMIT = 256 * 1024


def test_a_full_chunk_failing_at_archive_dead_letters_within_the_state_limit_and_the_state_stays_lean(deploy):
    """The dead letter carries the execution input; it replaces the state data, which after WriteAudit holds
    the archive body. Every state is measured: none passes the limit, none carries much more than the input."""
    aws = deploy({"changetrail:trigger": {"maxInlinePayloadBytes": 120_000}, "changetrail:notifications": {"mode": "batch"}})
    ddb = client("dynamodb")
    for n in range(32):
        ddb.put_item(TableName="Configuration", Item={"key": {"S": f"big-{n:02d}"}, "payload": {"S": chr(97 + n % 26) * 3000}})
    with faults.archive_denied(aws.outputs):
        executions = aws.settle()

    assert statuses(executions) == {"FAILED": 1}, "one chunk, failed in Archive"
    sfn = client("stepfunctions")
    (execution,) = executions
    assert len(sfn.describe_execution(executionArn=execution["executionArn"])["input"].encode()) > 100_000
    events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
    sizes = {
        (event["id"], key): len(details[key].encode())
        for event in events
        for name, details in event.items()
        if name.endswith("EventDetails")
        for key in ("input", "output")
        if isinstance(details.get(key), str)
    }
    started = len(sfn.describe_execution(executionArn=execution["executionArn"])["input"].encode())
    assert max(sizes.values()) <= STATE_LIMIT, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
    assert max(sizes.values()) <= 1.4 * started, "no state carries much more than one copy of the chunk"
    (letter,) = drain(aws.outputs["dlq_url"])
    assert letter["Body"]["failedState"] == "Archive" and len(letter["Body"]["input"]["records"]) == 32
