"""``changetrail query``'s local engine on lines written by hand: the view, odd attribute names, the window."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest

from changetrail import query

ODD_NAMES = ["a/b~c", "x.y", 'q"t', "~1", "é", "line\u2028break"]


def line(number: int, attribute: str, time: str = "2026-12-07T01:00:00.000Z") -> str:
    change = {
        "eventId": str(number), "eventName": "MODIFY", "table": "T", "itemKey": f"k{number}", "modificationTime": time,
        "sequenceNumber": str(number), "oldImage": {attribute: {"N": "1"}}, "newImage": {attribute: {"N": str(number)}},
        "changedAttributes": [attribute],
    }  # fmt: skip
    return json.dumps(change, ensure_ascii=False)


@pytest.fixture
def connection(tmp_path):
    lines = tmp_path / "changes.jsonl"
    late = line(99, "late", "2027-01-01T00:00:00.000Z")
    lines.write_text("\n".join([*(line(n, name) for n, name in enumerate(ODD_NAMES)), late]) + "\n")
    connected = query.connect(lines, ["T"], datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    yield connected
    connected.close()


@pytest.mark.parametrize("number", range(len(ODD_NAMES)))
def test_attribute_changes_finds_an_attribute_of_any_name_dynamodb_allows(connection, number):
    """JSON pointer, not path: '/', '~', '.' and quotes in a name are the name's own."""
    sql = query.resolve("attribute-changes", {"attribute": ODD_NAMES[number]})
    _, found = query.rows(connection, sql, {"attribute": ODD_NAMES[number]})

    ((*_, item_key, old, new),) = list(found)
    assert (item_key, json.loads(old), json.loads(new)) == (f"k{number}", {"N": "1"}, {"N": str(number)})


def test_the_window_is_cut_by_each_change_s_time_and_every_form_writes_each_row_once(connection):
    for form, header in (("table", 1), ("csv", 1), ("json", 0)):
        out = io.StringIO()
        names, found = query.rows(connection, "SELECT eventId, modificationTime FROM changes ORDER BY eventId")
        assert query.write(names, found, form, out) == len(ODD_NAMES)  # the 2027 change is outside the window
        assert len(out.getvalue().split("\n")) - 1 == len(ODD_NAMES) + header
