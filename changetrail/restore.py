"""Restore: put an item back into the source table as it was at a time (a deleted item, say).

The Audit table's ``byItem`` index finds the item's last change at or before the time; the
archive line of that change holds the whole image in DynamoDB JSON, so every type comes back
exactly. The put is itself a change, so the restoration is audited like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from changetrail.archive import Archive
from changetrail.history import query_items, several_tables
from changetrail.outputs import source_tables
from functions.decode import binary_as_bytes, item_key
from functions.dynamodb_limits import key_value


class RestoreError(LookupError):
    pass


@dataclass
class RestorePlan:
    item_key: str
    table: str
    change: dict[str, Any]
    """The archived change the item is restored from."""
    image: dict[str, Any]
    """The item in DynamoDB JSON (binary as base64 text)."""


def last_change(
    ddb: Any, audit_table: str, index: str, item_key: str, at: datetime | None, table: str | None = None
) -> dict[str, Any]:
    """The item's newest audit row at or before ``at``, of ``table``; the same key in two tables needs a table."""
    condition = "itemKey = :k"
    values: dict[str, Any] = {":k": {"S": key_value(item_key)}}
    if at is not None:
        condition += " AND historySortKey <= :at"
        values[":at"] = {"S": at.isoformat(timespec="milliseconds").replace("+00:00", "Z") + "#~"}
    request: dict[str, Any] = {
        "TableName": audit_table, "IndexName": index, "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values, "ScanIndexForward": False,
    }  # fmt: skip
    if table is not None:
        request["FilterExpression"] = "#table = :table"
        request["ExpressionAttributeNames"] = {"#table": "table"}
        values[":table"] = {"S": table}
    newest: dict[str, dict[str, Any]] = {}
    for row in query_items(ddb, request):
        newest.setdefault(row["table"]["S"], row)
        if table is not None:
            break
    if len(newest) > 1:
        raise RestoreError(several_tables(item_key, newest))
    if not newest:
        when = f" at or before {at.isoformat()}" if at else ""
        where = f" in {table}" if table else ""
        hint = (
            "; a composite key joins its parts with '|', escaping '|' and '\\' inside a part with '\\'" if "|" in item_key else ""
        )
        raise RestoreError(f"no audited change of {item_key!r}{where}{when}{hint}")
    return next(iter(newest.values()))


def plan(
    outputs: dict[str, Any], ddb: Any, archive: Archive, item_key: str, at: datetime | None, table: str | None = None
) -> RestorePlan:
    tables = source_tables(outputs)
    if table is None and len(tables) == 1:
        table = tables[0]  # one source: its newest row is the answer, no need to read the whole history
    row = last_change(ddb, outputs["audit_table_name"], outputs["audit_history_index"], item_key, at, table)
    table, sequence, event = row["table"]["S"], row["sequenceNumber"]["S"], row["eventName"]["S"]
    moment = datetime.fromisoformat(row["modificationTime"]["S"].replace("Z", "+00:00"))
    found = archive.locate(table, moment, sequence, row["eventId"]["S"], claimed_object(ddb, outputs, row))
    if found is None:
        raise RestoreError(f"change {sequence} of {item_key!r} is not in the archive (yet): redrive the DLQ first")
    archived, index = found
    line = archived.lines[index]
    check_key(item_key, line)
    if event == "REMOVE" and at is not None:
        raise RestoreError(f"{item_key!r} did not exist at {at.isoformat()}: deleted at {row['modificationTime']['S']}")
    image = line["oldImage"] if event == "REMOVE" else line["newImage"]
    return RestorePlan(item_key, table, line, image)


def check_key(given: str, line: dict[str, Any]) -> None:
    """The item the archive line names must be the one ``given`` names, part by part.

    Rows written before composite keys were escaped joined the parts with a bare ``|``, so one
    text can name two items (("a|b", "c") and ("a", "b|c")): restoring from such a row is refused.
    """
    parts = list(line["itemKeyParts"].values())
    if item_key(parts) != given:
        shown = " | ".join(repr(part) for part in parts)
        raise RestoreError(
            f"key {given!r} does not name one item unambiguously: its last change is of the item with key parts {shown}; "
            f"give that item's key as {item_key(parts)!r} (inside a part, '|' and '\\' are escaped with '\\')"
        )


def claimed_object(ddb: Any, outputs: dict[str, Any], row: dict[str, Any]) -> str | None:
    """The archive object the change's claim row names (a MODIFY's other rows share its history position)."""
    if "archiveKey" in row:
        return row["archiveKey"]["S"]
    rows = query_items(ddb, {
        "TableName": outputs["audit_table_name"], "IndexName": outputs["audit_history_index"],
        "KeyConditionExpression": "itemKey = :k AND historySortKey = :h",
        "ExpressionAttributeValues": {":k": row["itemKey"], ":h": row["historySortKey"]},
    })  # fmt: skip
    return next((r["archiveKey"]["S"] for r in rows if "archiveKey" in r and r["eventId"] == row["eventId"]), None)


def apply(ddb: Any, restore: RestorePlan) -> None:
    item = {name: binary_as_bytes(value) for name, value in restore.image.items()}
    ddb.put_item(TableName=restore.table, Item=item)
