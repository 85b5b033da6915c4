"""Notify state: notifications in batches of ten (and 256 KB), failed entries retried, what stays failed fails the state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions import notify
from functions.exceptions import NotificationsFailedError
from functions.notify import BATCH_BYTES, batches, publish


def note(n: int, size: int = 10) -> dict[str, Any]:
    message = json.dumps({"eventId": f"e-{n}", "pad": "x" * size})
    return {"message": message, "attributes": {"eventName": {"DataType": "String", "StringValue": "MODIFY"}}}


class FakeSns:
    """Records PublishBatch calls; fails the planned entries (by message) for the planned number of attempts."""

    def __init__(self, failing: dict[str, int] | None = None, sender_fault: bool = False) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.failing, self.sender_fault = dict(failing or {}), sender_fault
        self.delivered: list[str] = []

    def publish_batch(self, TopicArn: str, PublishBatchRequestEntries: list[dict[str, Any]]) -> dict[str, Any]:
        assert len(PublishBatchRequestEntries) <= 10
        self.calls.append(PublishBatchRequestEntries)
        ok, failed = [], []
        for entry in PublishBatchRequestEntries:
            if self.failing.get(entry["Message"], 0) > 0:
                self.failing[entry["Message"]] -= 1
                failed.append({"Id": entry["Id"], "Code": "InternalError", "SenderFault": self.sender_fault})
            else:
                ok.append({"Id": entry["Id"], "MessageId": "m"})
                self.delivered.append(entry["Message"])
        return {"Successful": ok, "Failed": failed}


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(notify.time, "sleep", lambda seconds: None)


def test_given_25_notifications_when_published_then_three_calls_of_ten_ten_and_five():
    sns = FakeSns()

    assert publish(sns, "topic", [note(n) for n in range(25)]) == 25
    assert [len(call) for call in sns.calls] == [10, 10, 5]
    assert sns.delivered == [note(n)["message"] for n in range(25)], "in order, each once"


def test_given_large_messages_when_batched_then_no_call_passes_256_kb():
    groups = batches([note(n, 60_000) for n in range(10)])

    assert [len(group) for group in groups] == [4, 4, 2]
    assert all(sum(notify.entry_size(n) for _, n in group) <= BATCH_BYTES for group in groups)


def test_given_entries_sns_fails_for_a_while_when_published_then_only_those_are_retried():
    flaky = note(3)["message"]
    sns = FakeSns({flaky: 2})

    assert publish(sns, "topic", [note(n) for n in range(5)]) == 5
    assert [len(call) for call in sns.calls] == [5, 1, 1]
    assert sorted(sns.delivered) == sorted(note(n)["message"] for n in range(5))


def test_given_an_entry_that_keeps_failing_when_published_then_the_state_fails_naming_it():
    sns = FakeSns({note(1)["message"]: 99})

    with pytest.raises(NotificationsFailedError, match="1 of 3 notifications not published: InternalError"):
        publish(sns, "topic", [note(n) for n in range(3)], attempts=3)
    assert len(sns.calls) == 3


def test_given_a_sender_fault_when_published_then_it_is_not_retried():
    sns = FakeSns({note(0)["message"]: 1}, sender_fault=True)

    with pytest.raises(NotificationsFailedError):
        publish(sns, "topic", [note(0)])
    assert len(sns.calls) == 1
