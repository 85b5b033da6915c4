"""One item's audit history, newest first: the ``byItem`` index finds the rows, the table holds them.

The index projects only keys and a few small attributes (``components.audit_table.HISTORY_ATTRIBUTES``)
so that writing a row costs one index write unit instead of a second copy of its values; whole rows
are read back by ``id`` with ``BatchGetItem`` (100 keys per request, unprocessed keys retried).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from functions.dynamodb_limits import key_value

BATCH_GET_LIMIT = 100


class KeyInSeveralTablesError(LookupError):
    """A key asked of without ``--table`` names items in several audited tables: which one is meant?"""

    def __init__(self, item_key: str, tables: Iterable[str]) -> None:
        self.item_key, self.tables = item_key, sorted(tables)
        super().__init__(several_tables(item_key, self.tables))


def query_items(ddb: Any, request: dict[str, Any], limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The items of a ``Query``, page after page, read only as far as they are taken (at most ``limit``).

    The one pager of the history: ``history``, ``restore`` and the fault matrix read an item's rows through it.
    ``limit`` asks each page for only what is still missing; with a ``FilterExpression`` DynamoDB applies
    ``Limit`` before filtering, so a filtered query is read without one and stopped by its caller instead.
    """
    request, taken = dict(request), 0
    while limit is None or taken < limit:
        if limit is not None:
            request["Limit"] = limit - taken
        page = ddb.query(**request)
        for item in page["Items"]:
            taken += 1
            yield item
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def history_entries(ddb: Any, audit_table: str, index: str, item_key: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The index entries of one item, newest first (keys and the projected attributes only)."""
    request: dict[str, Any] = {
        "TableName": audit_table,
        "IndexName": index,
        "KeyConditionExpression": "itemKey = :k",
        "ExpressionAttributeValues": {":k": {"S": key_value(item_key)}},
        "ScanIndexForward": False,
    }
    return list(query_items(ddb, request, limit))


def rows_by_id(
    ddb: Any, audit_table: str, ids: list[str], max_attempts: int = 8, projection: str | None = None
) -> dict[str, dict[str, Any]]:
    """Audit rows by ``id`` (BatchGetItem, strongly consistent), retrying unprocessed keys with backoff.

    ``projection``: only these attributes (e.g. ``"id"`` to learn which rows exist)."""
    rows: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    shape: dict[str, Any] = {"ConsistentRead": True, **({"ProjectionExpression": projection} if projection else {})}
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        keys = [{"id": {"S": i}} for i in unique[start : start + BATCH_GET_LIMIT]]
        pending: dict[str, Any] = {audit_table: {"Keys": keys, **shape}}
        for attempt in range(max_attempts):
            page = ddb.batch_get_item(RequestItems=pending)
            for row in page["Responses"].get(audit_table, []):
                rows[row["id"]["S"]] = row
            pending = page.get("UnprocessedKeys") or {}  # they come back with the request's own options
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError(
                f"BatchGetItem left {len(pending[audit_table]['Keys'])} keys unprocessed after {max_attempts} attempts"
            )
    return rows


def item_history(
    ddb: Any, audit_table: str, index: str, item_key: str, limit: int | None = None, table: str | None = None
) -> list[dict[str, Any]]:
    """Whole audit rows of one item, newest first (what ``Query`` on an index projecting ALL returned).

    ``table`` keeps the rows of one source table: a stack may audit several into one Audit table,
    and the same key can occur in each. The index projects ``table``, so rows of other tables are
    never read whole.
    """
    entries = history_entries(ddb, audit_table, index, item_key, None if table else limit)
    if table:
        entries = [entry for entry in entries if table_of(entry) == table][:limit]
    return whole_rows(ddb, audit_table, entries)


def stack_history(
    ddb: Any, audit_table: str, index: str, item_key: str, tables: list[str], table: str | None = None, limit: int | None = None
) -> tuple[list[dict[str, Any]], int]:
    """``changetrail history``: the item's whole rows of the stack's ``tables``, newest first, and how many rows were
    left out for naming no table of the stack (the pipeline never writes one: ``verify`` names it, it never tops a
    history). A key of several tables needs ``table``, as ``restore`` does."""
    entries = history_entries(ddb, audit_table, index, item_key)
    kept = [entry for entry in entries if not tables or table_of(entry) in tables]
    found = {table_of(entry) for entry in kept}
    if table is None and len(found) > 1:
        raise KeyInSeveralTablesError(item_key, found)
    chosen = [entry for entry in kept if table is None or table_of(entry) == table][:limit]
    return whole_rows(ddb, audit_table, chosen), len(entries) - len(kept)


def whole_rows(ddb: Any, audit_table: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of index entries, read whole, in the entries' order."""
    rows = rows_by_id(ddb, audit_table, [entry["id"]["S"] for entry in entries])
    return [rows[entry["id"]["S"]] for entry in entries if entry["id"]["S"] in rows]


def table_of(entry: dict[str, Any]) -> str:
    return entry.get("table", {}).get("S", "")


def several_tables(item_key: str, tables: Iterable[str], remedy: str = "give --table") -> str:
    """The refusal of ``history``, ``restore`` and the console for a key that names an item in several audited tables."""
    return f"{item_key!r} is a key in several audited tables ({', '.join(sorted(tables))}): {remedy}"


def plain(value: dict[str, Any] | None) -> str:
    """One DynamoDB JSON value as compact plain JSON, whole: numbers exactly as stored, sets as
    sorted lists, binary as base64. For reading; ``row_json`` keeps the exact DynamoDB JSON."""
    if value is None:
        return "-"
    return _plain(value)


def _plain(value: dict[str, Any]) -> str:
    ((tag, inner),) = value.items()
    if tag == "S":
        return json.dumps(inner, ensure_ascii=False)
    if tag == "N":
        return inner
    if tag == "BOOL":
        return "true" if inner else "false"
    if tag == "NULL":
        return "null"
    if tag == "B":
        return json.dumps(_base64(inner))
    if tag == "M":
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_plain(v)}" for k, v in inner.items()) + "}"
    if tag == "L":
        return "[" + ", ".join(_plain(item) for item in inner) + "]"
    if tag == "SS":
        return json.dumps(sorted(inner), ensure_ascii=False)
    if tag == "NS":
        return "[" + ", ".join(sorted(inner, key=Decimal)) + "]"
    if tag == "BS":
        return json.dumps(sorted(_base64(item) for item in inner))
    raise ValueError(f"not a DynamoDB JSON value: {value!r}")


def _base64(data: bytes | str) -> str:
    """boto3 returns binary as bytes; the archive and the stream carry it as base64 text already."""
    return base64.b64encode(data).decode() if isinstance(data, bytes) else data


def _jsonable(value: Any) -> Any:
    """DynamoDB JSON as boto3 returns it, with binary as base64 text (as in the archive)."""
    if isinstance(value, bytes):
        return _base64(value)
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def row_json(row: dict[str, Any]) -> dict[str, Any]:
    """One audit row for ``--json`` and the console: the contract's fields by name, values whole in DynamoDB JSON."""

    def text(name: str) -> str | None:
        return row[name]["S"] if name in row else None

    in_archive = row.get("valuesInArchive", {}).get("M")
    return {
        "id": text("id"),
        "itemKey": text("itemKey"),
        "table": text("table"),
        "eventName": text("eventName"),
        "eventId": text("eventId"),
        "modificationTime": text("modificationTime"),
        "sequenceNumber": text("sequenceNumber"),
        "updatedAttribute": text("updatedAttribute"),
        "expiredByTtl": row["expiredByTtl"]["BOOL"] if "expiredByTtl" in row else None,
        "oldValue": _jsonable(row.get("oldValue")),
        "newValue": _jsonable(row.get("newValue")),
        "valuesInArchive": {"archiveKey": in_archive["archiveKey"]["S"], "attributes": sorted(in_archive["attributes"]["SS"])}
        if in_archive
        else None,
    }


def render(rows: list[dict[str, Any]]) -> str:
    """``changetrail history``: one line per row, newest first, old -> new values whole."""
    lines = []
    for row in rows:
        found = row_json(row)
        if found["valuesInArchive"]:
            values = f"(values in the archive: {found['valuesInArchive']['archiveKey']})"
        else:
            values = f"{plain(row.get('oldValue'))} -> {plain(row.get('newValue'))}"
        attribute = found["updatedAttribute"] or "-"
        lines.append(f"{found['modificationTime']}  {found['eventName']:<6}  {found['table']}  {attribute}  {values}")
    return "\n".join(lines)
