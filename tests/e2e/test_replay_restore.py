"""Replay and restore from the archive (read through the archive account's reader role)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from changetrail import replay, restore
from changetrail.archive import Archive
from changetrail.embedded import client
from changetrail.embedded.accounts import role_credentials
from tests.e2e.conftest import archive_objects, archive_versions, audit_rows

pytestmark = pytest.mark.e2e
EVERY_TYPE = {
    "key": {"S": "EVERYTHING"},
    "text": {"S": "héllo 🌍"},
    "empty": {"S": ""},
    "number": {"N": "-12345678901234567890123456789.012345678"},
    "tiny": {"N": "1E-130"},
    "blob": {"B": bytes(range(256))},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "strings": {"SS": ["a", "b", "ü"]},
    "numbers": {"NS": ["1", "2.5", "99999999999999999999999999999999999999"]},
    "blobs": {"BS": [b"\x00", b"\xff\xfe"]},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"deep": {"L": [{"B": b"\x01\x02"}]}}}]},
    "map": {"M": {"ünïcode näme": {"S": "v"}, "nested": {"M": {"n": {"N": "0"}}}}},
}


def reader_archive(aws) -> Archive:
    import boto3

    credentials = role_credentials(aws.outputs["archive_reader_role_arn"])
    s3 = boto3.client("s3", region_name="us-east-1", **credentials)
    return Archive(s3, aws.outputs["archive_bucket_name"], aws.outputs["archive_prefix"])


def window():
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(minutes=1)


def test_restore_brings_back_a_deleted_item_byte_for_byte(aws):
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item=EVERY_TYPE)
    aws.settle()
    ddb.delete_item(TableName="Configuration", Key={"key": {"S": "EVERYTHING"}})
    aws.settle()
    assert "Item" not in ddb.get_item(TableName="Configuration", Key={"key": {"S": "EVERYTHING"}})

    found = restore.plan(aws.outputs, ddb, reader_archive(aws), "EVERYTHING", at=None)
    assert found.change["eventName"] == "REMOVE"
    restore.apply(ddb, found)

    back = ddb.get_item(TableName="Configuration", Key={"key": {"S": "EVERYTHING"}}, ConsistentRead=True)["Item"]
    assert _canonical(back) == _canonical(EVERY_TYPE)
    aws.settle()
    assert [r["eventName"]["S"] for r in audit_rows(aws)].count("INSERT") == 2, "the restoration is audited too"


def _canonical(item):
    """Sets compare as sets; everything else exactly (bytes as bytes, numbers as DynamoDB text)."""

    def norm(value):
        ((tag, inner),) = value.items()
        if tag in ("SS", "NS", "BS"):
            return (tag, frozenset(inner))
        if tag == "L":
            return (tag, tuple(norm(v) for v in inner))
        if tag == "M":
            return (tag, tuple(sorted((k, norm(v)) for k, v in inner.items())))
        return (tag, inner)

    return {name: norm(value) for name, value in item.items()}


def test_restore_at_a_time_gives_the_state_then_and_refuses_times_it_did_not_exist(aws):
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "TTL"}, "value": {"N": "1"}})
    aws.settle()
    first = max(r["modificationTime"]["S"] for r in audit_rows(aws))
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "TTL"}, "value": {"N": "2"}})
    aws.settle()
    archive = reader_archive(aws)

    at_first = restore.plan(aws.outputs, ddb, archive, "TTL", datetime.fromisoformat(first.replace("Z", "+00:00")))
    assert at_first.image["value"] == {"N": "1"}
    assert restore.plan(aws.outputs, ddb, archive, "TTL", None).image["value"] == {"N": "2"}
    with pytest.raises(restore.RestoreError, match="no audited change of 'TTL' in Configuration at or before"):
        restore.plan(aws.outputs, ddb, archive, "TTL", datetime(2000, 1, 1, tzinfo=UTC))


def test_replay_of_processed_changes_adds_no_audit_row_and_no_archive_object(aws):
    ddb = client("dynamodb")
    for n in range(5):
        ddb.put_item(TableName="Configuration", Item={"key": {"S": f"K{n % 2}"}, "value": {"N": str(n)}})
    aws.settle()
    rows, objects, versions = audit_rows(aws), archive_objects(aws), archive_versions(aws)

    names = replay.start_replays(
        aws.outputs, reader_archive(aws), "Configuration", *window(), None, client("stepfunctions"), client("s3")
    )
    executions = aws.wait_for_executions()

    assert len(names) == 1 and {e["status"] for e in executions} == {"SUCCEEDED"} and len(executions) == 2
    assert sorted(r["id"]["S"] for r in audit_rows(aws)) == sorted(r["id"]["S"] for r in rows)
    assert archive_objects(aws) == objects and archive_versions(aws) == versions


def test_replay_restores_lost_audit_rows_of_one_item(aws):
    ddb = client("dynamodb")
    for n in range(4):
        ddb.put_item(TableName="Configuration", Item={"key": {"S": f"K{n % 2}"}, "value": {"N": str(n)}})
    aws.settle()
    before = audit_rows(aws)
    lost = [r for r in before if r["itemKey"]["S"] == "K1"]
    for row in lost:
        ddb.delete_item(TableName="Audit", Key={"id": row["id"]})

    replay.start_replays(
        aws.outputs, reader_archive(aws), "Configuration", *window(), "K1", client("stepfunctions"), client("s3")
    )
    aws.wait_for_executions()

    assert sorted(json.dumps(r, sort_keys=True) for r in audit_rows(aws)) == sorted(json.dumps(r, sort_keys=True) for r in before)


def test_replay_to_stdout_lists_the_archived_changes(aws):
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "A"}, "blob": {"B": b"\x00\x01"}})
    aws.settle()

    lines = [line for _, chunk in replay.selected(reader_archive(aws), "Configuration", *window(), "A") for line in chunk]

    assert [line["eventName"] for line in lines] == ["INSERT"]
    assert base64.b64decode(lines[0]["newImage"]["blob"]["B"]) == b"\x00\x01"
