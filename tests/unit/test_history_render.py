"""``changetrail history`` output: values whole and exact, in the contract's field names."""

from __future__ import annotations

from changetrail.history import plain, render, row_json

MODIFY = {
    "id": {"S": "a"},
    "itemKey": {"S": "K"},
    "table": {"S": "Configuration"},
    "eventName": {"S": "MODIFY"},
    "eventId": {"S": "e1"},
    "modificationTime": {"S": "2026-11-22T10:00:00.001Z"},
    "sequenceNumber": {"S": "200"},
    "updatedAttribute": {"S": "limits"},
    "oldValue": {"M": {"max": {"N": "12345678901234567890123456789012345678"}, "tags": {"SS": ["b", "a"]}}},
    "newValue": {"L": [{"B": b"\x00\x01"}, {"NULL": True}, {"BOOL": False}, {"NS": ["10", "9.5"]}]},
}
INSERT = {
    **{k: v for k, v in MODIFY.items() if k not in ("updatedAttribute", "oldValue", "newValue")},
    "eventName": {"S": "INSERT"},
    "newValue": {"M": {"key": {"S": "K"}, "note": {"S": 'grüße "quoted"'}}},
}


def test_values_render_whole_with_numbers_exactly_as_stored():
    assert plain(MODIFY["oldValue"]) == '{"max": 12345678901234567890123456789012345678, "tags": ["a", "b"]}'
    assert plain(MODIFY["newValue"]) == '["AAE=", null, false, [9.5, 10]]'
    assert plain(INSERT["newValue"]) == '{"key": "K", "note": "grüße \\"quoted\\""}'
    assert plain(None) == "-"


def test_json_rows_keep_the_contract_names_and_dynamodb_json_values():
    row = row_json(MODIFY)
    assert row["updatedAttribute"] == "limits" and row["eventName"] == "MODIFY" and row["sequenceNumber"] == "200"
    assert row["oldValue"] == MODIFY["oldValue"]
    assert row["newValue"]["L"][0] == {"B": "AAE="}  # binary as base64 text, as in the archive
    assert row_json(INSERT)["oldValue"] is None and row_json(INSERT)["updatedAttribute"] is None


def test_a_row_whose_values_live_in_the_archive_says_where():
    pointer = {"archiveKey": {"S": "p/T/2026/11/22/10/1-2.jsonl"}, "attributes": {"SS": ["newValue"]}}
    big = {**INSERT, "valuesInArchive": {"M": pointer}}
    del big["newValue"]
    assert row_json(big)["valuesInArchive"] == {"archiveKey": "p/T/2026/11/22/10/1-2.jsonl", "attributes": ["newValue"]}
    assert "(values in the archive: p/T/2026/11/22/10/1-2.jsonl)" in render([big])


def test_the_text_lists_one_line_per_row_in_the_order_given():
    lines = render([MODIFY, INSERT]).splitlines()
    assert lines[0].startswith("2026-11-22T10:00:00.001Z  MODIFY  Configuration  limits  {")
    assert lines[0].endswith(' -> ["AAE=", null, false, [9.5, 10]]')
    assert lines[1] == '2026-11-22T10:00:00.001Z  INSERT  Configuration  -  - -> {"key": "K", "note": "grüße \\"quoted\\""}'
