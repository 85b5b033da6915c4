"""Exact values: what a plain boto3 client puts is what the Audit rows hold, byte for byte, for every type.

The Step Functions DynamoDB integrations base64-encode the string they are given for a binary
value, so rows written from the state would hold the base64 text as bytes; WriteAudit writes
with boto3 and real bytes. These tests read the rows back with boto3 and compare every value.
"""

from __future__ import annotations

from typing import Any

import pytest

from changetrail.embedded import client
from tests.e2e.conftest import archive_objects, audit_rows, drain

pytestmark = pytest.mark.e2e
KB = 1024

EVERY_TYPE: dict[str, Any] = {
    "key": {"S": "EVERY-TYPE"},
    "bin": {"B": b"\x00\xff\x10"},
    "binaries": {"BS": [b"\x00", b"\xff\xfe", b"plain"]},
    "nested": {"M": {"deep": {"L": [{"B": b"\x01\x02"}, {"M": {"blob": {"B": b"\x80" * 7}}}]}}},
    "precise": {"N": "1234567890.1234567890123456789012345678"},
    "big": {"N": "9.9999999999999999999999999999999999999E+125"},
    "tiny": {"NS": ["1E-130", "-3.14159265358979323846264338327950288"]},
    "empty": {"S": ""},
    "ключ 🔑": {"S": "значение 𝄞"},
    "flags": {"L": [{"BOOL": True}, {"NULL": True}, {"SS": ["a", "b"]}]},
}


def same(a: Any, b: Any) -> bool:
    """Equal DynamoDB values, sets compared as sets (DynamoDB keeps no set order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return False
        return all(sorted(a[k]) == sorted(b[k]) if k in ("SS", "NS", "BS") else same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def rows_by_event(aws) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in audit_rows(aws):
        grouped.setdefault(row["eventName"]["S"], []).append(row)
    return grouped


def test_every_type_put_updated_and_deleted_is_in_the_audit_rows_byte_for_byte(aws):
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item=EVERY_TYPE)
    updated = {**EVERY_TYPE, "bin": {"B": b"\xff\x00"}, "binaries": {"BS": [b"\x10"]}, "empty": {"S": "now set"}}
    ddb.put_item(TableName="Configuration", Item=updated)
    ddb.delete_item(TableName="Configuration", Key={"key": EVERY_TYPE["key"]})
    aws.settle()

    assert not drain(aws.outputs["dlq_url"])
    rows = rows_by_event(aws)
    (insert,), (remove,) = rows["INSERT"], rows["REMOVE"]
    assert same(insert["newValue"]["M"], EVERY_TYPE), insert["newValue"]
    assert insert["newValue"]["M"]["bin"] == {"B": b"\x00\xff\x10"}, "the bytes, not their base64 text"
    assert same(remove["oldValue"]["M"], updated)
    modified = {row["updatedAttribute"]["S"]: row for row in rows["MODIFY"]}
    assert sorted(modified) == ["bin", "binaries", "empty"]
    assert (modified["bin"]["oldValue"], modified["bin"]["newValue"]) == ({"B": b"\x00\xff\x10"}, {"B": b"\xff\x00"})
    assert same(modified["binaries"]["newValue"], {"BS": [b"\x10"]})
    assert (modified["empty"]["oldValue"], modified["empty"]["newValue"]) == ({"S": ""}, {"S": "now set"})


def test_a_modify_of_two_thousand_attributes_is_audited_in_full(aws):
    ddb = client("dynamodb")
    names = [f"a{n:04d}" for n in range(2000)]
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "WIDE"}, **{n: {"N": "1"} for n in names}})
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "WIDE"}, **{n: {"N": "2"} for n in names}})
    executions = aws.settle()

    assert {e["status"] for e in executions} == {"SUCCEEDED"} and not drain(aws.outputs["dlq_url"])
    modified = rows_by_event(aws)["MODIFY"]
    assert sorted(row["updatedAttribute"]["S"] for row in modified) == names
    assert all((row["oldValue"], row["newValue"]) == ({"N": "1"}, {"N": "2"}) for row in modified)
    (line,) = [line for lines in archive_objects(aws).values() for line in lines if line["eventName"] == "MODIFY"]
    assert line["changedAttributes"] == names


def test_a_400_kb_item_with_both_images_is_audited_and_archived_whole(aws):
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "HUGE"}, "blob": {"B": b"\x01" * (399 * KB)}})
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "HUGE"}, "blob": {"B": b"\x02" * (399 * KB)}})
    executions = aws.settle()

    assert {e["status"] for e in executions} == {"SUCCEEDED"} and not drain(aws.outputs["dlq_url"])
    rows = rows_by_event(aws)
    assert rows["INSERT"][0]["newValue"]["M"]["blob"] == {"B": b"\x01" * (399 * KB)}
    (changed,) = rows["MODIFY"]
    # Both values (798 KB) cannot be in one 400 KB row: the row says the archive line holds them.
    assert sorted(changed["valuesInArchive"]["M"]["attributes"]["SS"]) == ["newValue", "oldValue"]
    lines = [line for body in archive_objects(aws).values() for line in body]
    modify = next(line for line in lines if line["eventName"] == "MODIFY")
    assert len(modify["oldImage"]["blob"]["B"]) == len(modify["newImage"]["blob"]["B"]) == 4 * ((399 * KB + 2) // 3)
