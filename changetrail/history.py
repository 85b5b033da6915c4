"""One item's audit history, newest first: the ``byItem`` index finds the rows, the table holds them.

The index projects only keys and a few small attributes (``components.audit_table.HISTORY_ATTRIBUTES``)
so that writing a row costs one index write unit instead of a second copy of its values; whole rows
are read back by ``id`` with ``BatchGetItem`` (100 keys per request, unprocessed keys retried).
"""

from __future__ import annotations

import time
from typing import Any

BATCH_GET_LIMIT = 100


def history_entries(ddb: Any, audit_table: str, index: str, item_key: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The index entries of one item, newest first (keys and the projected attributes only)."""
    request: dict[str, Any] = {
        "TableName": audit_table,
        "IndexName": index,
        "KeyConditionExpression": "itemKey = :k",
        "ExpressionAttributeValues": {":k": {"S": item_key}},
        "ScanIndexForward": False,
    }
    entries: list[dict[str, Any]] = []
    while limit is None or len(entries) < limit:
        if limit is not None:
            request["Limit"] = limit - len(entries)
        page = ddb.query(**request)
        entries.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return entries


def rows_by_id(ddb: Any, audit_table: str, ids: list[str], max_attempts: int = 8) -> dict[str, dict[str, Any]]:
    """Whole audit rows by ``id`` (BatchGetItem), retrying unprocessed keys with backoff."""
    rows: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), BATCH_GET_LIMIT):
        pending: dict[str, Any] = {audit_table: {"Keys": [{"id": {"S": i}} for i in unique[start : start + BATCH_GET_LIMIT]]}}
        for attempt in range(max_attempts):
            page = ddb.batch_get_item(RequestItems=pending)
            for row in page["Responses"].get(audit_table, []):
                rows[row["id"]["S"]] = row
            pending = page.get("UnprocessedKeys") or {}
            if not pending:
                break
            time.sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise RuntimeError(
                f"BatchGetItem left {len(pending[audit_table]['Keys'])} keys unprocessed after {max_attempts} attempts"
            )
    return rows


def item_history(ddb: Any, audit_table: str, index: str, item_key: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Whole audit rows of one item, newest first (what ``Query`` on an index projecting ALL returned)."""
    entries = history_entries(ddb, audit_table, index, item_key, limit)
    rows = rows_by_id(ddb, audit_table, [entry["id"]["S"] for entry in entries])
    return [rows[entry["id"]["S"]] for entry in entries if entry["id"]["S"] in rows]
