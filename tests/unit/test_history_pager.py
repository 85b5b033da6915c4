"""The one history pager: ``history``, ``restore`` and the fault matrix read an item's rows through ``query_items``."""

from __future__ import annotations

import inspect
from typing import Any

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
