"""The one history pager: ``history``, ``restore`` and the fault matrix read an item's rows through ``query_items``."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from changetrail import history, restore
from changetrail.history import query_items


class Pages:
    """A DynamoDB client whose ``query`` answers pages of ``size`` items of ``items`` and records each request."""

    def __init__(self, items: int, size: int) -> None:
        self.items, self.size, self.requests = list(range(items)), size, []

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        start = request.get("ExclusiveStartKey", 0)
        end = min(start + min(self.size, request.get("Limit", self.size)), len(self.items))
        page: dict[str, Any] = {"Items": self.items[start:end]}
        if end < len(self.items):
            page["LastEvaluatedKey"] = end
        return page


def test_every_page_is_read_in_order():
    ddb = Pages(items=7, size=3)
    assert list(query_items(ddb, {"TableName": "Audit"})) == list(range(7))
    assert [r.get("ExclusiveStartKey") for r in ddb.requests] == [None, 3, 6]


def test_a_limit_asks_each_page_for_what_is_still_missing_and_stops_there():
    ddb = Pages(items=10, size=3)
    assert list(query_items(ddb, {"TableName": "Audit"}, limit=5)) == [0, 1, 2, 3, 4]
    assert [r["Limit"] for r in ddb.requests] == [5, 2]


def test_pages_are_read_only_as_far_as_the_caller_takes_them():
    ddb = Pages(items=10, size=3)
    first = next(iter(query_items(ddb, {"TableName": "Audit"})))
    assert first == 0 and len(ddb.requests) == 1
    request = {"TableName": "Audit"}
    list(query_items(ddb, request))
    assert request == {"TableName": "Audit"}, "the caller's request is left as it was"


def test_restore_has_no_pager_of_its_own():
    assert "ddb.query(" not in inspect.getsource(restore) and "ddb.query(" in inspect.getsource(history.query_items)


class OneItemInTwoTables:
    """A DynamoDB client holding the index entries (and whole rows) of key ``K``: in two tables and in none."""

    def __init__(self, tables: list[str]) -> None:
        self.rows = [
            {"id": {"S": f"r{n}"}, "itemKey": {"S": "K"}, **({"table": {"S": t}} if t else {})} for n, t in enumerate(tables)
        ]

    def query(self, **_request: Any) -> dict[str, Any]:
        return {"Items": self.rows}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        wanted = {key["id"]["S"] for key in RequestItems["Audit"]["Keys"]}
        return {"Responses": {"Audit": [row for row in self.rows if row["id"]["S"] in wanted]}}


def test_history_of_a_key_in_several_tables_asks_for_the_table_as_restore_does():
    ddb = OneItemInTwoTables(["Orders", "Configuration", "Orders"])
    with pytest.raises(history.KeyInSeveralTablesError, match=r"several audited tables \(Configuration, Orders\): give --table"):
        history.stack_history(ddb, "Audit", "byItem", "K", ["Configuration", "Orders"])
    rows, left_out = history.stack_history(ddb, "Audit", "byItem", "K", ["Configuration", "Orders"], table="Orders")
    assert [row["id"]["S"] for row in rows] == ["r0", "r2"] and left_out == 0


def test_rows_naming_no_table_of_the_stack_never_top_the_history_and_are_counted():
    ddb = OneItemInTwoTables(["", "Forged", "Configuration"])
    rows, left_out = history.stack_history(ddb, "Audit", "byItem", "K", ["Configuration"])
    assert [row["id"]["S"] for row in rows] == ["r2"] and left_out == 2
