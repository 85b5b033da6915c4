"""verify's pure core: the rows an archived change implies, and how differences are named."""

from __future__ import annotations

from changetrail.verify import (
    ArchivedChange,
    Report,
    compare_rows,
    compare_source,
    expected_rows,
    explain_pending,
    newest_images,
    rediff,
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
