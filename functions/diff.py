"""Diff state: decoded changes -> what changed; and, pure, what each change becomes.

The Diff state annotates each change with its changed attributes and names the archive object
of the chunk. The builders below (audit rows, archive line, notification) are what the
WriteAudit state writes; they live here so that one module says what a change becomes.

Audit ids are UUIDv5 of the stream event (and attribute), and the archive key is a function of
the changes the execution was given, so a retried or redriven execution rewrites the same rows
and the same object instead of adding new ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from functions.claims import compact_json
from functions.contracts import Changes, Notification, batch_id
from functions.decode import changes_of, decode_value, fit_changes, rejected_ids, rejection
from functions.dynamodb_limits import key_value

if TYPE_CHECKING:
    from collections.abc import Mapping

    from functions.contracts import Change, DynamoItem, DynamoJson, Rejected

logger = Logger(service="changetrail-diff")
AUDIT_ID_NAMESPACE = uuid.UUID("6f0c5b8e-2f4a-5d7e-9a51-3c7d2b1e8f40")
_NAMESPACE_BYTES = AUDIT_ID_NAMESPACE.bytes
NOTIFY_MODES = ("change", "batch", "off")
_MESSAGE_JSON = json.JSONEncoder(ensure_ascii=False, check_circular=False)
ARCHIVE_KEY_DIGEST_CHARS = 16
"""Hex digits of the changes' identity in an archive key: different sets of changes never share an object."""


@dataclass(frozen=True)
class AttributeRules:
    """Which changed attributes of a MODIFY are audited: all but ``ignore``, and of those only ``audit`` if given."""

    ignore: frozenset[str] = frozenset()
    audit: frozenset[str] = frozenset()

    def audited(self, changed: list[str]) -> list[str]:
        kept = [name for name in changed if name not in self.ignore]
        return [name for name in kept if name in self.audit] if self.audit else kept


@dataclass(frozen=True)
class DiffSettings:
    archive_prefix: str = "ddb-changes"
    payload_bucket: str = ""
    """Where changes too large for the state go by claim check."""
    rules: Mapping[str, AttributeRules] = field(default_factory=dict)
    """Per source table; a table without rules audits every changed attribute."""

    @classmethod
    def from_environment(cls) -> DiffSettings:
        return cls(
            archive_prefix=os.environ.get("ARCHIVE_PREFIX", cls.archive_prefix).strip("/"),
            payload_bucket=os.environ.get("PAYLOAD_BUCKET", ""),
            rules=attribute_rules(os.environ.get("ATTRIBUTE_RULES") or "{}"),
        )


def attribute_rules(text: str) -> dict[str, AttributeRules]:
    """``ATTRIBUTE_RULES``: ``{"table": {"ignore": [...], "audit": [...]}}`` as JSON."""
    return {
        table: AttributeRules(frozenset(rule.get("ignore", ())), frozenset(rule.get("audit", ())))
        for table, rule in json.loads(text).items()
    }


# ---------------------------------------------------------------- what changed


def changed_attributes(change: Change) -> list[str]:
    """Top-level attributes whose value differs between the old and the new image, sorted.

    Identical DynamoDB JSON is the same value (most attributes of a MODIFY), so only values whose
    JSON differs are compared by meaning (number forms, set order, binary as text or bytes).
    """
    old, new = change.get("oldImage", {}), change.get("newImage", {})
    changed = [name for name in old.keys() ^ new.keys()]
    for name, value in old.items():
        other: Any = new.get(name, _ABSENT)
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


def archive_key(prefix: str, changes: list[Change]) -> str:
    """``<prefix>/<table>/YYYY/MM/DD/HH/<first>-<last>-<digest>.jsonl`` for these changes.

    The sequence range says where the changes sit in the stream; the digest of every sequence
    number makes the key unique to exactly this set of changes, so a retried chunk gets its own
    key again while a chunk cut differently (a bisected retry, a redrive of some of its changes)
    never shares an object with it.
    """
    first, last = changes[0], changes[-1]
    hour = first["modificationTime"][:13].replace("-", "/").replace("T", "/")
    identity = ",".join(change["sequenceNumber"] for change in changes)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:ARCHIVE_KEY_DIGEST_CHARS]
    name = f"{first['sequenceNumber']}-{last['sequenceNumber']}-{digest}.jsonl"
    return "/".join(part for part in (prefix, first["table"], hour, name) if part)


def diff_changes(decoded: Changes, settings: DiffSettings) -> Changes:
    """Pure core of the Diff state: each change with its changed attributes, and the chunk's archive key."""
    changes: list[Change] = []
    rejected: list[Rejected] = list(decoded.get("rejected", []))
    ignored: list[str] = []
    for change in changes_of(decoded):
        try:
            changed = changed_attributes(change) if change["eventName"] == "MODIFY" else []
        except Exception as error:  # noqa: BLE001 -- diffing is pure: whatever fails, fails for this change alone
            rejected.append(rejection(change, "Diff", error))
            continue
        rules = settings.rules.get(change["table"])
        if rules and changed:
            changed = rules.audited(changed)
            if not changed:
                ignored.append(change["eventId"])
                continue
        changes.append({**change, "changedAttributes": changed})
    output: Changes = {"batch": decoded["batch"], "changes": changes, "rejected": rejected}
    if ignored:
        output["ignored"] = ignored
    if changes:
        output["archiveKey"] = decoded.get("archiveKey") or archive_key(settings.archive_prefix, changes)
    return output


# ---------------------------------------------------------------- what a change becomes


REDACTED: DynamoJson = {"S": "***REDACTED***"}


def redacted(change: Change, attributes: frozenset[str]) -> Change:
    """The change with the named top-level attributes' values masked (keys are never masked)."""
    if not attributes:
        return change
    masked = dict(change)
    for image in ("oldImage", "newImage"):
        if image in change:
            masked[image] = {
                name: REDACTED if name in attributes and name not in change["keys"] else value
                for name, value in change[image].items()
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


def audit_rows(change: Change, archive_key: str | None = None) -> list[DynamoItem]:
    """The audit rows of one change, in the original row format, in DynamoDB JSON, plus stream metadata.

    A MODIFY gets one row per attribute in ``changedAttributes`` (computed on the real values,
    before redaction masked them). The first row is the change's claim: it alone carries the
    ``archiveKey`` of the object that holds the change, so every other row's content is the same
    whichever execution writes it.
    """
    common: DynamoItem = {
        "itemKey": {"S": key_value(change["itemKey"])},
        "modificationTime": {"S": change["modificationTime"]},
        "eventName": {"S": change["eventName"]},
        "eventId": {"S": change["eventId"]},
        "table": {"S": change["table"]},
        "sequenceNumber": {"S": change["sequenceNumber"]},
        "historySortKey": {"S": f"{change['modificationTime']}#{change['sequenceNumber'].zfill(40)}"},
    }
    if len(change["itemKeyParts"]) > 1 or common["itemKey"]["S"] != change["itemKey"]:  # the whole key, kept
        common["itemKeyParts"] = {"M": {k: {"S": v} for k, v in change["itemKeyParts"].items()}}
    if change["eventName"] == "INSERT":
        rows = [{"id": {"S": audit_id(change)}, **common, "newValue": {"M": change["newImage"]}}]
    elif change["eventName"] == "REMOVE":
        expired = {"expiredByTtl": {"BOOL": change["expiredByTtl"]}}
        rows = [{"id": {"S": audit_id(change)}, **common, **expired, "oldValue": {"M": change["oldImage"]}}]
    else:
        rows = []
        changed = change["changedAttributes"] if "changedAttributes" in change else changed_attributes(change)
        for attribute in changed:
            row: DynamoItem = {"id": {"S": audit_id(change, attribute)}, **common, "updatedAttribute": {"S": attribute}}
            if attribute in change["oldImage"]:
                row["oldValue"] = change["oldImage"][attribute]
            if attribute in change["newImage"]:
                row["newValue"] = change["newImage"][attribute]
            rows.append(row)
    if rows and archive_key:
        rows[0]["archiveKey"] = {"S": archive_key}
    return rows


def archive_line(change: Change) -> str:
    """One JSON Lines record: the decoded change with its diff; images stay lossless."""
    line = dict(change)
    line.setdefault("changedAttributes", [])
    return compact_json(line)


def notifications(entries: list[tuple[Change, list[str]]], mode: str, event_names: frozenset[str]) -> list[Notification]:
    """Per change, one batch summary, or none; only for ``event_names``. ``entries``: (change, its audit ids)."""
    wanted = [(change, ids) for change, ids in entries if change["eventName"] in event_names]
    if mode == "off" or not wanted:
        return []
    if mode == "change":
        return [change_notification(change, ids) for change, ids in wanted]
    counts = Counter(change["eventName"] for change, _ in wanted)
    message: dict[str, Any] = {
        "table": wanted[0][0]["table"],
        "changes": len(wanted),
        "counts": dict(sorted(counts.items())),
        "eventIds": [change["eventId"] for change, _ in wanted],
        "itemKeys": sorted({change["itemKey"] for change, _ in wanted}),
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


def change_notification(change: Change, ids: list[str]) -> Notification:
    message = {
        "eventId": change["eventId"],
        "eventName": change["eventName"],
        "table": change["table"],
        "itemKey": change["itemKey"],
        "modificationTime": change["modificationTime"],
        "sequenceNumber": change["sequenceNumber"],
        "changedAttributes": change.get("changedAttributes", []),
        "auditIds": ids,
    }
    return {
        "message": _MESSAGE_JSON.encode(message),
        "attributes": {
            "eventName": {"DataType": "String", "StringValue": change["eventName"]},
            "table": {"DataType": "String", "StringValue": change["table"]},
        },
    }


@logger.inject_lambda_context(clear_state=True)
def handler(event: Changes, context: Any) -> Changes:
    logger.set_correlation_id(batch_id(event["batch"]))
    settings = DiffSettings.from_environment()
    output = diff_changes(event, settings)
    event_ids = [change["eventId"] for change in output["changes"]]
    logger.info(
        "diffed",
        extra={
            "archiveKey": output.get("archiveKey"),
            "rejected": rejected_ids(output["rejected"]),
            "eventIds": event_ids,
            "ignored": output.get("ignored", []),
        },
    )
    return fit_changes(output, settings.payload_bucket)
