"""verify's pure core: the rows an archived change implies, and how differences are named."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from changetrail.verify import (
    ArchivedChange,
    Placed,
    Report,
    Scope,
    archive_lines,
    claimed_objects,
    compare_rows,
    compare_source,
    expected_rows,
    explain_pending,
    newest_images,
    placement,
    rediff,
    unexplained_row,
)
from functions.diff import archive_line, audit_rows
from functions.write_audit import WriteSettings

KEY = "ddb-changes/Configuration/2026/01/01/00/1-2-abc.jsonl"


def line(event_id: str, event: str, old: dict | None, new: dict | None, sequence: str = "1") -> dict:
    change = {
        "eventId": event_id,
        "eventName": event,
        "table": "Configuration",
        "keys": {"key": {"S": "K"}},
        "itemKey": "K",
        "itemKeyParts": {"key": "K"},
        "sequenceNumber": sequence,
        "modificationTime": f"2026-01-01T00:00:0{sequence}.000Z",
        "expiredByTtl": False,
    }
    if old is not None:
        change["oldImage"] = old
    if new is not None:
        change["newImage"] = new
    return change


def row_of(audit_id: str, event_id: str, table: str = "Configuration", **attributes: dict) -> dict:
    """An INSERT row with every field WriteAudit writes."""
    time = "2026-01-01T00:00:05.000Z"
    text = {"id": audit_id, "eventName": "INSERT", "eventId": event_id, "table": table, "itemKey": "Z",
            "modificationTime": time, "sequenceNumber": "5", "historySortKey": f"{time}#5"}  # fmt: skip
    return {**{name: {"S": value} for name, value in text.items()}, **attributes}


MODIFY = line("e1", "MODIFY", {"key": {"S": "K"}, "v": {"N": "1"}}, {"key": {"S": "K"}, "v": {"N": "2"}, "w": {"S": "x"}})


def test_an_archived_modify_implies_the_rows_write_audit_writes():
    expected, duplicates = expected_rows([ArchivedChange(KEY, MODIFY)], WriteSettings())
    assert not duplicates
    diffed = rediff(MODIFY)
    assert diffed["changedAttributes"] == ["v", "w"]
    assert {row["id"]["S"]: row for row in audit_rows(diffed, KEY)} == {i: e.row for i, e in expected.items()}
    assert sum("archiveKey" in e.row for e in expected.values()) == 1


def test_a_change_archived_twice_is_named_once():
    expected, duplicates = expected_rows([ArchivedChange(KEY, MODIFY), ArchivedChange("other.jsonl", MODIFY)], WriteSettings())
    (duplicate,) = duplicates
    assert (duplicate.kind, duplicate.event_id, duplicate.archive_key) == ("duplicate-line", "e1", "other.jsonl")
    assert len(expected) == 2


def test_rows_missing_altered_and_unexplained_are_each_named():
    expected, _ = expected_rows([ArchivedChange(KEY, MODIFY)], WriteSettings())
    ids = sorted(expected)
    actual = {i: dict(expected[i].row) for i in ids}
    del actual[ids[0]]
    actual[ids[1]] = {**actual[ids[1]], "newValue": {"S": "forged"}}
    actual["ghost"] = row_of("ghost", "e-ghost")
    found = {(f.kind, f.audit_id) for f in compare_rows(expected, actual)}
    assert found == {("missing-row", ids[0]), ("row-differs", ids[1]), ("unexpected-row", "ghost")}


def test_numbers_and_sets_compare_by_meaning_as_diff_does():
    expected, _ = expected_rows([ArchivedChange(KEY, MODIFY)], WriteSettings())
    actual = {i: dict(e.row) for i, e in expected.items()}
    for row in actual.values():
        if row.get("newValue") == {"N": "2"}:
            row["newValue"] = {"N": "2.0"}
    assert compare_rows(expected, actual) == []


def test_a_masked_line_keeps_the_attributes_the_pipeline_found_on_the_real_values():
    masked = {**MODIFY, "oldImage": {**MODIFY["oldImage"], "v": {"S": "***REDACTED***"}}}
    masked["newImage"] = {**MODIFY["newImage"], "v": {"S": "***REDACTED***"}}
    masked["changedAttributes"] = ["v", "w"]
    assert rediff(masked)["changedAttributes"] == ["v", "w"]
    assert "changedAttributes" in archive_line(rediff(MODIFY))


def test_source_items_are_explained_only_by_their_newest_archived_image():
    insert = line("e0", "INSERT", None, {"key": {"S": "K"}, "v": {"N": "1"}}, sequence="1")
    newest = newest_images([ArchivedChange(KEY, insert), ArchivedChange(KEY, {**MODIFY, "sequenceNumber": "2"})])
    assert newest[("Configuration", "K")]["eventId"] == "e1"
    current = {"K": {"key": {"S": "K"}, "v": {"N": "2"}, "w": {"S": "x"}}}
    assert compare_source("Configuration", current, newest) == []
    drifted = {"K": {"key": {"S": "K"}, "v": {"N": "3"}, "w": {"S": "x"}}, "NEW": {"key": {"S": "NEW"}}}
    found = {(f.item_key, f.kind) for f in compare_source("Configuration", drifted, newest)}
    assert found == {("K", "source-unexplained"), ("NEW", "source-unexplained")}
    missing = {f.item_key: f.detail for f in compare_source("Configuration", {}, newest)}
    assert "missing" in missing["K"]


def test_an_unexpected_row_of_a_change_waiting_in_a_dead_letter_queue_is_pending_and_names_the_queue():
    expected, _ = expected_rows([ArchivedChange(KEY, MODIFY)], WriteSettings())
    missing = sorted(expected)[0]
    actual = {i: dict(e.row) for i, e in expected.items() if i != missing}
    actual |= {
        "late": row_of("late", "e-late"),
        "forged": row_of("forged", "e-forged"),
        "other": row_of("other", "e-late", "Orders"),
    }
    waiting = {("Configuration", "e-late"): "changetrail-dev-dlq"}

    found = {f.audit_id: f for f in explain_pending(compare_rows(expected, actual), waiting)}

    assert {i: f.kind for i, f in found.items()} == {
        missing: "missing-row", "late": "pending", "forged": "unexpected-row", "other": "unexpected-row"
    }, "the same event id in another table is not the change that waits"  # fmt: skip
    assert "waiting in changetrail-dev-dlq" in found["late"].detail and "--table Configuration" in found["late"].detail
    report = Report("s", "e", ["Configuration"], findings=[found["late"]])
    assert report.only_pending and not report.clean
    assert not Report("s", "e", [], findings=[found["late"], found["forged"]]).only_pending
    assert not Report("s", "e", []).only_pending, "a clean report has nothing pending"


# -- reading everything (issue 28): what the pipeline could not have written --------------------------
def test_keys_outside_the_layout_the_pipeline_writes_are_misplaced():
    assert placement(KEY, "ddb-changes") == Placed("Configuration", 1, 2)
    assert placement("ddb-changes/Configuration/1999/01/01/00/1-2.jsonl", "ddb-changes") == Placed("Configuration", 1, 2)
    for key in (
        "ddb-changes/Configuration/evil.jsonl",
        "ddb-changes/evil.jsonl",
        "ddb-changes/Configuration/2026/13/01/00/1-2-abc.jsonl",
        "ddb-changes/Configuration/2026/01/01/00/2-1-abc.jsonl",
        "ddb-changes/Configuration/2026/01/01/00/1-2-abc.json",
        "other/Configuration/2026/01/01/00/1-2-abc.jsonl",
    ):
        assert placement(key, "ddb-changes") is None, key


def test_unreadable_and_misplaced_lines_are_named_by_number_and_the_rest_still_count():
    good = json.dumps(MODIFY)
    orders = json.dumps({**MODIFY, "table": "Orders"})
    far = json.dumps({**MODIFY, "sequenceNumber": "9"})
    body = "\n".join(["{oops", good, "[1]", json.dumps({"eventId": "x"}), orders, far, "\xff"]).encode()
    changes, found = archive_lines(KEY, body, Placed("Configuration", 1, 2))
    assert [(c.line_number, c.line["eventId"]) for c in changes] == [(2, "e1")]
    assert [(f.kind, f.detail.split(" ", 2)[1]) for f in found] == [
        ("unreadable-object", "1"), ("unreadable-object", "3"), ("unreadable-object", "4"),
        ("misplaced-object", "5"), ("misplaced-object", "6"), ("unreadable-object", "7"),
    ]  # fmt: skip
    assert (
        "lacks table, eventName" in found[2].detail
        and "table 'Orders'" in found[3].detail
        and all(f.archive_key == KEY for f in found)
    )
    assert archive_lines(KEY, b"\xff\xfe", Placed("Configuration", 1, 2))[1][0].detail == "the object is not UTF-8 text"


def test_a_line_whose_value_holds_a_unicode_line_break_is_one_readable_line():
    line = {**MODIFY, "newImage": {**MODIFY["newImage"], "note": {"S": "a\u2028b\x85c"}}}
    body = (json.dumps(line, ensure_ascii=False) + "\n").encode()

    changes, found = archive_lines(KEY, body, Placed("Configuration", 1, 2))

    assert found == [] and [c.line for c in changes] == [line]


def test_a_row_the_pipeline_could_not_have_written_is_malformed_or_of_a_foreign_table():
    tables = ["Configuration"]
    kinds = {
        name: (finding.kind, finding.detail)
        for name, finding in {
            "whole": unexplained_row("a", row_of("a", "e"), tables),
            "no table": unexplained_row("b", {k: v for k, v in row_of("b", "e").items() if k != "table"}, tables),
            "no time": unexplained_row("c", {k: v for k, v in row_of("c", "e").items() if k != "modificationTime"}, tables),
            "bad time": unexplained_row("d", row_of("d", "e", modificationTime={"S": "later"}), tables),
            "number table": unexplained_row("e", row_of("e", "e", table={"N": "1"}), tables),
            "foreign": unexplained_row("f", row_of("f", "e", "Orders"), tables),
            "odd event": unexplained_row("g", row_of("g", "e", eventName={"S": "TRUNCATE"}), tables),
        }.items()
    }
    assert {name: kind for name, (kind, _) in kinds.items()} == {
        "whole": "unexpected-row", "no table": "malformed-row", "no time": "malformed-row", "bad time": "malformed-row",
        "number table": "malformed-row", "foreign": "unexpected-row", "odd event": "malformed-row",
    }  # fmt: skip
    assert "lacking table" in kinds["no table"][1] and "no source of this stack" in kinds["foreign"][1]


def test_a_copy_of_a_change_is_blamed_on_the_later_writer_whichever_is_read_first():
    genuine = ArchivedChange(KEY, MODIFY, written="2026-01-01T00:00:10+00:00")
    forged = ArchivedChange("ddb-changes/Configuration/1999/01/01/00/1-2.jsonl", MODIFY, written="2026-01-02T00:00:00+00:00")
    for order in ([genuine, forged], [forged, genuine]):
        expected, found = expected_rows(order, WriteSettings())
        assert [(f.kind, f.archive_key) for f in found] == [("duplicate-line", forged.archive_key)]
        assert {e.change.archive_key for e in expected.values()} == {KEY}, "the genuine object explains the rows"


def test_in_a_tie_of_last_modified_the_object_the_claim_row_names_is_the_genuine_one():
    same_second = "2026-01-01T00:00:10+00:00"
    genuine = ArchivedChange("ddb-changes/Configuration/2026/01/01/00/1-2-fff.jsonl", MODIFY, written=same_second)
    forged = ArchivedChange(KEY, MODIFY, written=same_second)  # sorts first by key
    claims = claimed_objects([row_of("r", "e1", archiveKey={"S": genuine.archive_key})])
    _, found = expected_rows([forged, genuine], WriteSettings(), claims=claims)
    assert [f.archive_key for f in found] == [forged.archive_key]


def test_the_scope_narrows_what_is_reported_and_keeps_what_belongs_to_no_time_or_table():
    scope = Scope(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC), "Configuration", ["Configuration", "Orders"]
    )
    assert scope.holds("Configuration", "2026-01-05T00:00:00Z")
    assert not scope.holds("Configuration", "2025-12-31T00:00:00Z") and not scope.holds("Orders", "2026-01-05T00:00:00Z")
    assert scope.holds("", "") and scope.holds("NoSuchSource", "2026-01-05T00:00:00Z") and scope.holds("Configuration", "")
