"""A full 1,000-record stream batch: chunked within the payload budget, every change audited once, in order."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import client
from tests.e2e.conftest import archive_objects, audit_rows

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
    assert max(sizes) <= 60_000, "every inline input within maxInlinePayloadBytes"

    rows = audit_rows(aws)
    assert len(rows) == 1000 and len({r["id"]["S"] for r in rows}) == 1000
    for item in range(20):
        history = sorted((r for r in rows if r["itemKey"]["S"] == f"item-{item:02d}"), key=lambda r: r["historySortKey"]["S"])
        values = [int(r["newValue"]["M"]["value"]["N"] if "M" in r["newValue"] else r["newValue"]["N"]) for r in history]
        assert values == sorted(values), "sequence order within an item"
    lines = [line for body in archive_objects(aws).values() for line in body]
    assert len(lines) == 1000 and len({line["eventId"] for line in lines}) == 1000
    assert all(json.loads(json.dumps(line))["sequenceNumber"] for line in lines)
