"""Recorded events and factory fixtures for variations of them.

The factories are session-scoped and hand out fresh copies, so property tests can use them too.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from functions.decode import decode_record

EVENTS = Path(__file__).resolve().parents[1] / "events"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Configuration/stream/2024-01-01T00:00:00.000"
KEY_NAMES = ["key"]
SOURCE_KEYS = {"Configuration": KEY_NAMES}


def load_event(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture(scope="session")
def recorded_batch():
    """Factory: a fresh copy of the recorded stream batch (INSERT, MODIFY, REMOVE, TTL REMOVE)."""
    batch = load_event("stream_batch.json")
    return lambda: copy.deepcopy(batch)


@pytest.fixture(scope="session")
def recorded_record(recorded_batch):
    """Factory: one recorded record by position (0 INSERT, 1 MODIFY, 2 REMOVE, 3 TTL REMOVE)."""
    return lambda index: recorded_batch()["Records"][index]


@pytest.fixture(scope="session")
def esm_on_failure():
    """Factory: a fresh copy of the event source mapping's on-failure message for the recorded batch."""
    message = load_event("esm_on_failure.json")
    return lambda: copy.deepcopy(message)


@pytest.fixture(scope="session")
def make_record(recorded_record):
    """Factory: a stream record shaped like the recorded MODIFY, with the parts a test cares about."""
    numbers = itertools.count(1)

    def make(
        event_name: str = "MODIFY",
        *,
        old: dict[str, Any] | None = None,
        new: dict[str, Any] | None = None,
        keys: dict[str, Any] | None = None,
        sequence: str | None = None,
        event_id: str | None = None,
        created: Any = 1718445660,
        user_identity: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        n = next(numbers)
        record = recorded_record(1)
        stream = record["dynamodb"]
        old = {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}} if old is None else old
        new = {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}} if new is None else new
        record["eventName"] = event_name
        record["eventID"] = event_id or f"{n:032x}"
        stream["Keys"] = keys or {"key": (new or old)["key"]}
        stream["SequenceNumber"] = sequence or str(1195860000000000000000000000 + n)
        stream["ApproximateCreationDateTime"] = created
        stream.pop("OldImage", None)
        stream.pop("NewImage", None)
        if event_name in ("MODIFY", "REMOVE"):
            stream["OldImage"] = old
        if event_name in ("MODIFY", "INSERT"):
            stream["NewImage"] = new
        if user_identity is not None:
            record["userIdentity"] = user_identity
        return record

    return make


@pytest.fixture(scope="session")
def make_change(make_record):
    """Factory: a decoded change (the Decode state's output for one record)."""

    def make(event_name: str = "MODIFY", key_names: list[str] | None = None, **record: Any) -> dict[str, Any]:
        return decode_record(make_record(event_name, **record), key_names or KEY_NAMES, STREAM_ARN)

    return make


@pytest.fixture(scope="session")
def make_decoded(make_change):
    """Factory: a Decode state output for the given changes, with matching batch coordinates."""

    def make(changes: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "batch": {
                "eventSourceArn": STREAM_ARN,
                "firstSequenceNumber": changes[0]["sequenceNumber"],
                "lastSequenceNumber": changes[-1]["sequenceNumber"],
                "recordCount": len(changes),
            },
            "changes": changes,
        }

    return make
