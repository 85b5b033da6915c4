"""Diff state: decoded changes -> audit rows, the archive object and the notifications.

Audit ids are UUIDv5 of the stream event (and attribute), and the archive key comes from the
chunk's sequence numbers, so a retried or redriven execution rewrites the same rows and the
same object instead of adding new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from functions import claims
from functions.contracts import DiffOutput, Notification, S3Location, batch_id
from functions.decode import decode_value
from functions.exceptions import PayloadTooLargeError

if TYPE_CHECKING:
    from collections.abc import Callable

    from functions.contracts import Change, DecodeOutput, DynamoItem, DynamoJson

logger = Logger(service="changetrail-diff")
AUDIT_ID_NAMESPACE = uuid.UUID("6f0c5b8e-2f4a-5d7e-9a51-3c7d2b1e8f40")
_NAMESPACE_BYTES = AUDIT_ID_NAMESPACE.bytes
STATE_PAYLOAD_LIMIT = 256 * 1024
STATE_BUDGET = 240 * 1024
"""What the Diff output may use of the state limit: the rest is room for what a Catch adds."""
NOTIFY_MODES = ("change", "batch", "off")
# One encoder each, built once: ``json.dumps`` with options builds a new one per call. State data
# comes from JSON, so it has no cycles to check for.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_MESSAGE_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False)


@dataclass(frozen=True)
class DiffSettings:
    archive_prefix: str = "ddb-changes"
    notify_mode: str = "change"
    notify_event_names: frozenset[str] = frozenset({"INSERT", "MODIFY", "REMOVE"})
    redact: frozenset[str] = frozenset()
    redact_in_archive: bool = True
    payload_bucket: str = ""
    """Where archive bodies too large for the state go by claim check."""

    @classmethod
    def from_environment(cls) -> DiffSettings:
        names = os.environ.get("NOTIFY_EVENT_NAMES", "INSERT,MODIFY,REMOVE")
        return cls(
            archive_prefix=os.environ.get("ARCHIVE_PREFIX", cls.archive_prefix).strip("/"),
            notify_mode=os.environ.get("NOTIFY_MODE", cls.notify_mode),
            notify_event_names=frozenset(name for name in names.split(",") if name),
            redact=frozenset(name for name in os.environ.get("REDACT_ATTRIBUTES", "").split(",") if name),
            redact_in_archive=os.environ.get("REDACT_IN_ARCHIVE", "true") == "true",
            payload_bucket=os.environ.get("PAYLOAD_BUCKET", ""),
        )


REDACTED: DynamoJson = {"S": "***REDACTED***"}


def redacted(change: Change, attributes: frozenset[str]) -> Change:
    """The change with the named top-level attributes' values masked (keys are never masked)."""
    if not attributes:
        return change
    masked = dict(change)
    for image in ("oldImage", "newImage"):
        if image in change:
            masked[image] = {  # type: ignore[literal-required]
                name: REDACTED if name in attributes and name not in change["keys"] else value
                for name, value in change[image].items()  # type: ignore[literal-required]
            }
    return masked  # type: ignore[return-value]


def audit_id(change: Change, attribute: str | None = None) -> str:
    """Deterministic row id: the same stream event (and attribute) always gets the same id."""
    name = f"{change['table']}/{change['eventId']}" + (f"/{attribute}" if attribute else "")
    return uuid5_text(name)


def uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(AUDIT_ID_NAMESPACE, name))`` (RFC 4122 name-based, SHA-1), without building a UUID object."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def changed_attributes(change: Change) -> list[str]:
    """Top-level attributes whose value differs between the old and the new image, sorted.

    Identical DynamoDB JSON is the same value (most attributes of a MODIFY), so only values whose
    JSON differs are compared by meaning (number forms, set order, binary as text or bytes).
    """
    old, new = change.get("oldImage", {}), change.get("newImage", {})
    changed = [name for name in old.keys() ^ new.keys()]
    for name, value in old.items():
        other = new.get(name, _ABSENT)
        if other is not _ABSENT and value != other and _comparable(value) != _comparable(other):
            changed.append(name)
    return sorted(changed)


_ABSENT = object()


def _comparable(value: DynamoJson) -> Any:
    """A value with its DynamoDB type kept, so number 1 and boolean true differ; set order does not count."""
    ((tag, inner),) = value.items()
    if tag == "L":
        return (tag, tuple(_comparable(item) for item in inner))
    if tag == "M":
        return (tag, frozenset((name, _comparable(item)) for name, item in inner.items()))
    decoded = decode_value(value)
    return (tag, frozenset(decoded) if isinstance(decoded, set) else decoded)


def audit_rows(change: Change, changed: list[str] | None = None) -> list[DynamoItem]:
    """The seed-003 audit rows of one change, in DynamoDB JSON, plus stream metadata.

    ``changed`` overrides the MODIFY attributes (computed before redaction masked the values).
    """
    common: DynamoItem = {
        "itemKey": {"S": change["itemKey"]},
        "modificationTime": {"S": change["modificationTime"]},
        "eventName": {"S": change["eventName"]},
        "eventId": {"S": change["eventId"]},
        "table": {"S": change["table"]},
        "sequenceNumber": {"S": change["sequenceNumber"]},
        "historySortKey": {"S": f"{change['modificationTime']}#{change['sequenceNumber'].zfill(40)}"},
    }
    if len(change["itemKeyParts"]) > 1:
        common["itemKeyParts"] = {"M": {k: {"S": v} for k, v in change["itemKeyParts"].items()}}
    if change["eventName"] == "INSERT":
        return [{"id": {"S": audit_id(change)}, **common, "newValue": {"M": change["newImage"]}}]
    if change["eventName"] == "REMOVE":
        expired = {"expiredByTtl": {"BOOL": change["expiredByTtl"]}}
        return [{"id": {"S": audit_id(change)}, **common, **expired, "oldValue": {"M": change["oldImage"]}}]
    rows = []
    for attribute in changed if changed is not None else changed_attributes(change):
        row: DynamoItem = {"id": {"S": audit_id(change, attribute)}, **common, "updatedAttribute": {"S": attribute}}
        if attribute in change["oldImage"]:
            row["oldValue"] = change["oldImage"][attribute]
        if attribute in change["newImage"]:
            row["newValue"] = change["newImage"][attribute]
        rows.append(row)
    return rows


def archive_line(change: Change, changed: list[str]) -> str:
    """One JSON Lines record: the decoded change with its diff; images stay lossless."""
    return _COMPACT_JSON.encode({**change, "changedAttributes": changed})


def archive_key(prefix: str, decoded: DecodeOutput) -> str:
    """``<prefix>/<table>/YYYY/MM/DD/HH/<first>-<last>.jsonl``: the same chunk always gets the same key."""
    first = decoded["changes"][0]
    hour = first["modificationTime"][:13].replace("-", "/").replace("T", "/")
    batch = decoded["batch"]
    name = f"{batch['firstSequenceNumber']}-{batch['lastSequenceNumber']}.jsonl"
    return "/".join(part for part in (prefix, first["table"], hour, name) if part)


def notifications(changes: list[tuple[Change, list[str], list[str]]], settings: DiffSettings) -> list[Notification]:
    """Per change, one batch summary, or none; only for the configured event names."""
    wanted = [
        (change, changed, ids)
        for change, changed, ids in changes
        if change["eventName"] in settings.notify_event_names and (change["eventName"] != "MODIFY" or changed)
    ]
    if settings.notify_mode == "off" or not wanted:
        return []
    if settings.notify_mode == "change":
        return [_change_notification(*entry) for entry in wanted]
    counts = Counter(change["eventName"] for change, _, _ in wanted)
    message = {
        "table": wanted[0][0]["table"],
        "changes": len(wanted),
        "counts": dict(sorted(counts.items())),
        "eventIds": [change["eventId"] for change, _, _ in wanted],
        "itemKeys": sorted({change["itemKey"] for change, _, _ in wanted}),
    }
    return [
        {
            "message": _MESSAGE_JSON.encode(message),
            "attributes": {
                "eventName": {"DataType": "String.Array", "StringValue": json.dumps(sorted(counts))},
                "table": {"DataType": "String", "StringValue": message["table"]},
            },
        }
    ]


def _change_notification(change: Change, changed: list[str], ids: list[str]) -> Notification:
    message = {
        "eventId": change["eventId"],
        "eventName": change["eventName"],
        "table": change["table"],
        "itemKey": change["itemKey"],
        "modificationTime": change["modificationTime"],
        "sequenceNumber": change["sequenceNumber"],
        "changedAttributes": changed,
        "auditIds": ids,
    }
    return {
        "message": _MESSAGE_JSON.encode(message),
        "attributes": {
            "eventName": {"DataType": "String", "StringValue": change["eventName"]},
            "table": {"DataType": "String", "StringValue": change["table"]},
        },
    }


def diff_changes(decoded: DecodeOutput, settings: DiffSettings) -> DiffOutput:
    """Pure core of the Diff state."""
    rows: list[DynamoItem] = []
    lines: list[str] = []
    notified: list[tuple[Change, list[str], list[str]]] = []
    for change in decoded["changes"]:
        # What changed is decided on the real values; only what is written is masked.
        changed = changed_attributes(change) if change["eventName"] == "MODIFY" else []
        masked = redacted(change, settings.redact)
        change_rows = audit_rows(masked, changed)
        rows.extend(change_rows)
        lines.append(archive_line(masked if settings.redact_in_archive else change, changed))
        notified.append((change, changed, [row["id"]["S"] for row in change_rows]))
    key = archive_key(settings.archive_prefix, decoded)
    notes = notifications(notified, settings)
    return {
        "auditRows": rows,
        "archive": {"key": key, "body": "\n".join(lines) + "\n"},
        "notifications": notes,
        "summary": {"changes": len(lines), "auditRows": len(rows), "notifications": len(notes), "archiveKey": key},
    }


def json_size(value: Any) -> int:
    return len(_COMPACT_JSON.encode(value).encode())


def ensure_fits(output: Any, limit: int = STATE_PAYLOAD_LIMIT) -> None:
    """Fail loudly (into the DLQ, input kept) rather than let Step Functions truncate or reject."""
    size = json_size(output)
    if size > limit:
        raise PayloadTooLargeError(f"state output is {size} bytes, over the {limit}-byte Step Functions limit")


def fit_state_limit(output: DiffOutput, store_body: Callable[[str], S3Location], limit: int = STATE_BUDGET) -> DiffOutput:
    """Keep the output under the state limit without losing a byte.

    First the archive body goes by claim check (the Archive state copies it); then, largest
    first, audit rows leave their values to the archive line of the same change, which holds
    both whole images. Only an output still too large after that (thousands of rows) fails.
    """
    size = json_size(output)
    if size <= limit:
        return output
    archive = output["archive"]
    fitted: DiffOutput = {**output, "archive": {"key": archive["key"], "bodyRef": store_body(archive["body"])}}
    size = json_size(fitted)
    rows = [dict(row) for row in output["auditRows"]]
    for row in sorted(rows, key=_values_size, reverse=True):
        if size <= limit or not _values_size(row):
            break
        before = json_size(row)
        _leave_values_to_archive(row, archive["key"])
        size -= before - json_size(row)
    fitted["auditRows"] = rows
    ensure_fits(fitted, limit)
    return fitted


VALUE_ATTRIBUTES = ("oldValue", "newValue")


def _values_size(row: DynamoItem) -> int:
    return sum(json_size(row[name]) for name in VALUE_ATTRIBUTES if name in row)


def _leave_values_to_archive(row: DynamoItem, key: str) -> None:
    moved = [name for name in VALUE_ATTRIBUTES if row.pop(name, None) is not None]
    row["valuesInArchive"] = {"M": {"archiveKey": {"S": key}, "attributes": {"SS": moved}}}


def load_changes(event: DecodeOutput) -> DecodeOutput:
    if "changes" in event:
        return event
    return {"batch": event["batch"], "changes": claims.get_json(event["changesRef"])["changes"]}


@logger.inject_lambda_context(clear_state=True)
def handler(event: DecodeOutput, context: Any) -> DiffOutput:
    logger.set_correlation_id(batch_id(event["batch"]))
    decoded = load_changes(event)
    settings = DiffSettings.from_environment()
    body_key = f"{claims.ARCHIVE_BODY_PREFIX}{batch_id(event['batch'])}.jsonl"
    output = fit_state_limit(diff_changes(decoded, settings), lambda body: claims.put(settings.payload_bucket, body_key, body))
    event_ids = [change["eventId"] for change in decoded["changes"]]
    logger.info("diffed", extra={"summary": output["summary"], "eventIds": event_ids})
    return output
