"""No legal item is poison: every item the source table accepts is audited and archived, never dead-lettered.

The oracle is the source table itself (the embedded AWS refuses what DynamoDB refuses): an item
it stores must give rows the Audit table stores too, whatever its shape. Drawn towards the edges
DynamoDB allows: values 32 levels deep, items of 400 KB, hash keys of 2,048 bytes and range keys of
1,024 (multi-byte characters included), and every type nested. The first test runs the Decode, Diff
and WriteAudit code on each accepted item's three stream records against the stack's real Audit
table, thousands of times; the second sends a sample of them through the running pipeline.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from changetrail.archive import json_lines
from changetrail.embedded import EmbeddedAws, client
from changetrail.history import item_history
from functions.decode import decode_record, item_key
from functions.diff import DiffSettings, diff_changes
from functions.dynamodb_limits import MAX_ITEM_BYTES, MAX_NESTING_LEVELS, item_size
from functions.write_audit import WriteSettings, write_audit
from tests.e2e.conftest import archive_objects, drain, statuses
from tests.unit.strategies import values, wire_item

pytestmark = pytest.mark.e2e
SOURCE = {"changetrail:source": {"rangeKey": "sk"}}
KEY_NAMES = ["key", "sk"]
serializer = TypeSerializer()
numbers = itertools.count(1)
EXAMPLES = int(os.environ.get("LEGAL_ITEM_EXAMPLES", "2000"))
"""Accepted items the first test tries (`make fuzz` tries 20,000)."""


ORACLE = "LegalItems"
"""A table of the source's key schema without a stream: what it stores, the source table would."""


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedAws]:
    with EmbeddedAws("dev", SOURCE) as aws:
        client("dynamodb").create_table(
            TableName=ORACLE,
            KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in KEY_NAMES],
            BillingMode="PAY_PER_REQUEST",
        )
        yield aws


@pytest.fixture(scope="module")
def ddb(stack: EmbeddedAws) -> Any:
    return client("dynamodb")


def key_text(draw: st.DrawFn, limit: int, unique: str) -> str:
    """A key value of up to ``limit`` UTF-8 bytes, often exactly at it, starting with ``unique``."""
    filler = draw(st.sampled_from(["k", "é", "€", "𝄞"]))  # 1 to 4 bytes a character
    size = draw(st.sampled_from([len(unique), limit // 2, limit - 3, limit]))
    room = max(0, size - len(unique.encode())) // len(filler.encode())
    return unique + filler * room


def nested(wraps: int, leaf: Any) -> Any:
    for kind in range(wraps):
        leaf = [leaf] if kind % 2 else {"n": leaf}
    return leaf


@st.composite
def legal_items(draw: st.DrawFn) -> dict[str, Any]:
    """An item as boto3 takes it (Python values), drawn towards every limit the source table has."""
    unique = f"{next(numbers)}:"
    item: dict[str, Any] = {
        "key": key_text(draw, 2048, unique),
        "sk": key_text(draw, 1024, "s"),  # a key is never empty
        **draw(st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda n: n not in KEY_NAMES), values, max_size=4)),
    }
    if draw(st.booleans()):
        item["deep"] = nested(draw(st.integers(min_value=MAX_NESTING_LEVELS - 3, max_value=MAX_NESTING_LEVELS - 1)), "x")
    if draw(st.booleans()):  # up to the last byte of 400 KB
        room = MAX_ITEM_BYTES - item_size({n: serializer.serialize(v) for n, v in item.items()}) - len("blob")
        item["blob"] = "b" * max(0, room - draw(st.sampled_from([0, 1, 1000, room // 2])))
    return item


def stored(ddb: Any, item: dict[str, Any], table: str = ORACLE) -> bool:
    """The table takes the item (the embedded AWS refuses what DynamoDB refuses)."""
    try:
        ddb.put_item(TableName=table, Item={n: serializer.serialize(v) for n, v in item.items()})
    except ClientError as error:
        assert error.response["Error"]["Code"] == "ValidationException", error
        return False
    return True


def stream_records(old: dict[str, Any], new: dict[str, Any], arn: str) -> list[dict[str, Any]]:
    """The item's INSERT, MODIFY (to ``new``) and REMOVE records, as a NEW_AND_OLD_IMAGES stream carries them."""
    n = next(numbers)
    keys = wire_item({name: old[name] for name in KEY_NAMES})
    images = [("INSERT", None, old), ("MODIFY", old, new), ("REMOVE", new, None)]
    return [
        {
            "eventID": f"{n:024x}{step:08x}",
            "eventName": event,
            "eventSource": "aws:dynamodb",
            "eventSourceARN": arn,
            "dynamodb": {
                "Keys": keys,
                "SequenceNumber": str(10**25 + n * 3 + step),
                "ApproximateCreationDateTime": Decimal(1_800_000_000 + step),
                "StreamViewType": "NEW_AND_OLD_IMAGES",
                **({"OldImage": wire_item(before)} if before else {}),
                **({"NewImage": wire_item(after)} if after else {}),
            },
        }
        for step, (event, before, after) in enumerate(images)
    ]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(item=legal_items(), changed=values)
def test_every_item_the_source_table_accepts_gets_audit_rows_the_audit_table_accepts(stack, ddb, item, changed):
    changed_item = {**item, "changed": changed}
    if not (stored(ddb, item) and stored(ddb, changed_item)):
        reject()
    arn = stack.outputs["source_stream_arn"]
    changes = [decode_record(record, KEY_NAMES, arn) for record in stream_records(item, changed_item, arn)]
    batch = {"eventSourceArn": arn, "firstSequenceNumber": "1", "lastSequenceNumber": "3", "recordCount": 3}
    event = {**diff_changes({"batch": batch, "changes": changes}, DiffSettings()), "archiveKey": f"test/{next(numbers)}.jsonl"}
    bodies: dict[str, str] = {}

    def store(key: str, body: str) -> dict[str, str]:
        bodies[key] = body
        return {"bucket": "claim-checks", "key": key}

    output = write_audit(event, WriteSettings(audit_table=stack.outputs["audit_table_name"]), ddb, store)

    assert output["rejected"] == [], output.get("rejectedCause")
    assert output["summary"]["changes"] == len(event["changes"]) and output["archive"]["key"]
    body = output["archive"]["body"] if "body" in output["archive"] else bodies[output["archive"]["bodyRef"]["key"]]
    assert [json.loads(line)["eventId"] for line in json_lines(body)] == [c["eventId"] for c in event["changes"]]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(items=st.lists(legal_items(), min_size=5, max_size=12))
@example(items=[{"key": "deep", "sk": "32 levels", "deep": nested(MAX_NESTING_LEVELS - 1, "x")}])
@example(items=[{"key": "é" * 1024, "sk": "𝄞" * 256, "value": 1}])  # 2,048 and 1,024 bytes: an itemKey of 3,073
def test_legal_items_at_every_limit_are_audited_and_archived_by_the_running_pipeline(stack, ddb, items):
    kept = [item for item in items if stored(ddb, item, "Configuration")]
    if len(items) == 1:  # an explicit example, legal by construction
        assert kept
    for item in kept:
        ddb.delete_item(TableName="Configuration", Key={name: serializer.serialize(item[name]) for name in KEY_NAMES})
    executions = stack.settle()

    assert set(statuses(executions)) <= {"SUCCEEDED"}
    assert not drain(stack.outputs["dlq_url"])
    archived = {(line["itemKey"], line["eventName"]) for body in archive_objects(stack).values() for line in body}
    for item in kept:
        text = item_key([item["key"], item["sk"]])
        assert {(text, "INSERT"), (text, "REMOVE")} <= archived
        history = item_history(ddb, stack.outputs["audit_table_name"], stack.outputs["audit_history_index"], text)
        assert sorted(row["eventName"]["S"] for row in history) == ["INSERT", "REMOVE"]
