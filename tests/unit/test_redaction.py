"""Redaction: configured attributes are masked in audit rows (and the archive unless kept); the change is still recorded."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError, load_settings
from functions.diff import REDACTED, DiffSettings, diff_changes
from functions.write_audit import WriteSettings, plan

SECRET = {"S": "hunter2"}


def decoded(event_name: str, old: dict | None, new: dict | None) -> dict:
    change = {
        "eventId": "e-1", "eventName": event_name, "table": "Configuration", "keys": {"key": {"S": "DB"}},
        "itemKey": "DB", "itemKeyParts": {"key": "DB"}, "sequenceNumber": "1",
        "modificationTime": "2026-11-22T10:00:00.000Z", "expiredByTtl": False,
    }  # fmt: skip
    if old is not None:
        change["oldImage"] = old
    if new is not None:
        change["newImage"] = new
    batch = {"eventSourceArn": "arn", "firstSequenceNumber": "1", "lastSequenceNumber": "1", "recordCount": 1}
    [diffed] = diff_changes({"batch": batch, "changes": [change], "rejected": []}, DiffSettings())["changes"]
    return diffed


def written(change: dict, settings: WriteSettings) -> tuple[list[dict], str]:
    planned = plan(change, "archive-key", settings)
    return planned.rows, planned.line


def test_a_changed_secret_is_audited_as_changed_without_its_values():
    change = decoded("MODIFY", {"key": {"S": "DB"}, "password": SECRET}, {"key": {"S": "DB"}, "password": {"S": "new-secret"}})

    rows, line = written(change, WriteSettings(redact=frozenset({"password"})))

    (row,) = rows
    assert row["updatedAttribute"] == {"S": "password"}
    assert row["oldValue"] == REDACTED and row["newValue"] == REDACTED
    assert "hunter2" not in json.dumps(rows) + line and "new-secret" not in json.dumps(rows) + line


def test_whole_item_rows_mask_the_attribute_but_never_the_key():
    change = decoded("INSERT", None, {"key": {"S": "DB"}, "password": SECRET, "port": {"N": "5432"}})

    (row,), _ = written(change, WriteSettings(redact=frozenset({"password", "key"})))

    assert row["newValue"]["M"] == {"key": {"S": "DB"}, "password": REDACTED, "port": {"N": "5432"}}


def test_the_archive_keeps_the_values_only_when_configured():
    change = decoded("REMOVE", {"key": {"S": "DB"}, "password": SECRET}, None)

    _, masked = written(change, WriteSettings(redact=frozenset({"password"})))
    rows, kept = written(change, WriteSettings(redact=frozenset({"password"}), redact_in_archive=False))

    assert "hunter2" not in masked
    assert "hunter2" in kept and "hunter2" not in json.dumps(rows)


def test_redaction_refuses_execution_data_in_logs():
    base = {"archive": {"accountId": "222222222222", "create": False}, "redaction": {"attributes": ["password"]}}
    with pytest.raises(
        ConfigError, match=r"changetrail:redaction\.attributes .* fix: set changetrail:workflow\.includeExecutionData to false"
    ):
        load_settings({**base, "workflow": {"includeExecutionData": True}}.get, "dev", "us-east-1")
    assert load_settings(base.get, "dev", "us-east-1").redaction.attributes == ("password",), "the default logs no payloads"
