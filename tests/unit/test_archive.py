"""Listing the archive by time window: keys sort by time, so one listing serves any window."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from changetrail.archive import Archive, parse_time

KEYS = [
    "ddb-changes/Configuration/2026/11/21/23/1-2.jsonl",
    "ddb-changes/Configuration/2026/11/22/09/3-4.jsonl",
    "ddb-changes/Configuration/2026/11/22/10/5-6.jsonl",
    "ddb-changes/Configuration/2026/11/22/10/7-8.jsonl",
    "ddb-changes/Configuration/2026/11/22/11/9-9.jsonl",
    "ddb-changes/Other/2026/11/22/10/1-1.jsonl",
]


@pytest.fixture
def archive(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="archive")
        for key in KEYS:
            s3.put_object(Bucket="archive", Key=key, Body=b'{"eventId": "e"}\n')
        calls = {"n": 0}
        s3.meta.events.register("before-call.s3.ListObjectsV2", lambda **_: calls.__setitem__("n", calls["n"] + 1))
        yield Archive(s3, "archive", "ddb-changes"), calls


def test_keys_are_those_of_the_windows_hours_of_that_table_only(archive):
    store, _ = archive
    keys = list(store.keys("Configuration", parse_time("2026-11-22T09:30Z"), parse_time("2026-11-22T10:59Z")))
    assert keys == KEYS[1:4]


def test_a_window_of_decades_is_one_listing_not_one_per_hour(archive):
    store, calls = archive
    keys = list(store.keys("Configuration", datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)))
    assert keys == KEYS[:5] and calls["n"] == 1


def test_objects_carry_their_sequence_range(archive):
    store, _ = archive
    (obj,) = store.objects("Configuration", parse_time("2026-11-22T11:00Z"), parse_time("2026-11-22T11:00Z"))
    assert (obj.first_sequence, obj.last_sequence, obj.lines) == ("9", "9", [{"eventId": "e"}])


def test_times_without_a_zone_are_utc_and_nonsense_is_refused():
    assert parse_time("2026-11-22T10:00") == datetime(2026, 11, 22, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        parse_time("yesterday")


def test_a_value_holding_a_unicode_line_break_stays_in_its_line(archive):
    """JSON strings hold U+2028, U+2029, U+0085, FS/GS/RS, VT and FF raw; only ``\\n`` ends a line."""
    store, _ = archive
    breaks = "a\u2028b\u2029c\x85d\x1ce\x1df\x1eg\x0bh\x0ci\r"
    body = json.dumps({"eventId": "1", "value": breaks}, ensure_ascii=False) + "\n" + '{"eventId": "2"}\n'
    store.s3.put_object(Bucket="archive", Key=KEYS[0], Body=body.encode())

    assert store.read(KEYS[0]).lines == [{"eventId": "1", "value": breaks}, {"eventId": "2"}]
