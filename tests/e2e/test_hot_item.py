"""One hot item: 5,000 changes in a row to the same key, through the whole pipeline.

On AWS a hot item is capped by its partitions (the source item's, and the ``byItem`` index's, which
takes every row of that item: ``docs/throughput.md``); the embedded AWS does not throttle by
partition, so this proves what must hold whatever the rate: nothing lost, nothing duplicated, and
the item's audit history in the order of its changes.
"""

from __future__ import annotations

from collections import Counter

import pytest

from changetrail.embedded import client
from changetrail.history import history_entries
from tests.e2e.conftest import archive_objects, audit_rows, drain, statuses

pytestmark = pytest.mark.e2e
CHANGES = 5_000


def value_of(row: dict) -> int:
    new = row["newValue"]
    return int(new["M"]["value"]["N"] if "M" in new else new["N"])


def test_five_thousand_changes_to_one_item_are_audited_once_each_in_order(aws):
    ddb, table = client("dynamodb"), aws.outputs["source_table_name"]
    for n in range(CHANGES):
        ddb.put_item(TableName=table, Item={"key": {"S": "HOT"}, "value": {"N": str(n)}})
    executions = aws.settle(timeout=900)

    assert statuses(executions) == {"SUCCEEDED": len(executions)}
    assert not drain(aws.outputs["dlq_url"])
    rows = audit_rows(aws)
    assert Counter(value_of(row) for row in rows) == Counter(range(CHANGES)), "one row per change: the INSERT, then a MODIFY each"
    lines = [line for body in archive_objects(aws).values() for line in body]
    assert Counter(int(line["newImage"]["value"]["N"]) for line in lines) == Counter(range(CHANGES))

    history = history_entries(ddb, aws.outputs["audit_table_name"], aws.outputs["audit_history_index"], "HOT")
    by_id = {row["id"]["S"]: row for row in rows}
    newest_first = [by_id[entry["id"]["S"]] for entry in history]
    assert [value_of(row) for row in newest_first] == list(range(CHANGES - 1, -1, -1)), "the history is the order of the changes"
    sequence = [int(row["sequenceNumber"]["S"]) for row in newest_first]
    assert sequence == sorted(sequence, reverse=True)
