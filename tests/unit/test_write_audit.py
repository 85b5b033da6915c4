"""WriteAudit state: rows DynamoDB can hold, written with exact bytes; claims decide which object holds a change."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given, target
from hypothesis import strategies as st

from functions.claims import json_size
from functions.contracts import STATE_BUDGET
from functions.diff import DiffSettings, diff_changes
from functions.dynamodb_limits import MAX_ITEM_BYTES, fits, item_size, nesting_levels
from functions.exceptions import AuditTableError, AuditTableThrottledError
from functions.write_audit import (
    BATCH_WRITE_LIMIT,
    Outcome,
    WriteSettings,
    fit_row,
    plan,
    shallow,
    wire,
    write_audit,
    written,
)

SEED_ITEM = {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}}
KEY = "ddb-changes/Configuration/2024/06/15/10/1-9-0123456789abcdef.jsonl"


def error(code: str, operation: str = "PutItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} (injected)"}}, operation)


class FakeTable:
    """Stands in for DynamoDB: holds rows by id, evaluates the claim condition, can refuse or throttle."""

    def __init__(self, unprocessed: int = 0, refuse: set[str] | None = None, throttle: bool = False) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.unprocessed, self.refuse, self.throttle = unprocessed, refuse or set(), throttle
        self.batches: list[int] = []
        self.claims: list[str] = []

    def _check(self, item: dict[str, Any], operation: str) -> None:
        if self.throttle:
            raise error("ProvisionedThroughputExceededException", operation)
        if item["id"]["S"] in self.refuse:
            raise error("ValidationException", operation)

    def put_item(self, TableName: str, Item: dict[str, Any], **condition: Any) -> dict[str, Any]:
        self._check(Item, "PutItem")
        existing = self.rows.get(Item["id"]["S"])
        if condition:
            self.claims.append(Item["id"]["S"])
            mine = condition["ExpressionAttributeValues"][":archiveKey"]
            if existing is not None and existing.get("archiveKey") != mine:
                raise error("ConditionalCheckFailedException")
        self.rows[Item["id"]["S"]] = Item
        return {}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, requests),) = RequestItems.items()
        assert len(requests) <= BATCH_WRITE_LIMIT
        self.batches.append(len(requests))
        for request in requests:
            self._check(request["PutRequest"]["Item"], "BatchWriteItem")
        keep, later = (requests, []) if not self.unprocessed else (requests[1:], requests[:1])
        self.unprocessed = max(0, self.unprocessed - 1)
        for request in keep:
            item = request["PutRequest"]["Item"]
            self.rows[item["id"]["S"]] = item
        return {"UnprocessedItems": {table: later} if later else {}}


class Store:
    """Stands in for the payload bucket."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def __call__(self, key: str, body: str) -> dict[str, str]:
        self.objects[key] = body
        return {"bucket": "payloads", "key": key}


@pytest.fixture(scope="session")
def diffed(make_change, make_decoded):
    """Factory: the Diff output for some changes (their archive key is KEY)."""

    def make(*changes: dict) -> dict:
        return {**diff_changes(make_decoded(list(changes)), DiffSettings()), "archiveKey": KEY}

    return make


def run(event: dict, table: FakeTable | None = None, settings: WriteSettings | None = None) -> tuple[dict, FakeTable, Store]:
    table, store = table or FakeTable(), Store()
    return write_audit(event, settings or WriteSettings(unprocessed_attempts=3), table, store), table, store


# ---------------------------------------------------------------- DynamoDB's limits


def deep(wraps: int) -> dict:
    """A scalar inside ``wraps`` maps: an attribute of ``wraps + 1`` levels."""
    value: dict = {"S": "bottom"}
    for _ in range(wraps):
        value = {"M": {"next": value}}
    return value


def test_given_an_item_attribute_of_31_levels_when_its_insert_row_is_fitted_then_the_row_holds_it_at_32():
    row = {"id": {"S": "1"}, "newValue": {"M": {"a": deep(30)}}}  # the row's value: 32 levels, the most DynamoDB stores

    assert nesting_levels(row["newValue"]) == 32 and fit_row(row) is row


@pytest.mark.parametrize("wraps", [31, 32])
def test_given_an_item_attribute_of_32_or_33_levels_when_its_row_is_fitted_then_its_values_stay_in_the_archive(wraps):
    """32 levels is what the source table stores at most; its insert row wraps it once more, past the limit."""
    row = {"id": {"S": "1"}, "oldValue": {"N": "1"}, "newValue": {"M": {"a": deep(wraps)}}}

    fitted = fit_row(row)

    assert not fits(row) and fits(fitted)
    assert fitted == {"id": {"S": "1"}, "valuesInArchive": {"M": {"attributes": {"SS": ["oldValue", "newValue"]}}}}


def test_given_a_row_too_large_when_fitted_then_its_values_stay_in_the_archive():
    row = {"id": {"S": "1"}, "oldValue": {"N": "1"}, "newValue": {"S": "x" * MAX_ITEM_BYTES}}

    fitted = fit_row(row)

    assert not fits(row) and fits(fitted)
    assert fitted == {"id": {"S": "1"}, "valuesInArchive": {"M": {"attributes": {"SS": ["oldValue", "newValue"]}}}}


def test_given_binary_at_any_depth_when_wired_then_boto3_gets_the_real_bytes():
    text = base64.b64encode(b"\x00\xff\x10").decode()
    row = {"b": {"B": text}, "bs": {"BS": [text]}, "m": {"M": {"l": {"L": [{"B": text}]}}}}

    assert wire(row) == {
        "b": {"B": b"\x00\xff\x10"},
        "bs": {"BS": [b"\x00\xff\x10"]},
        "m": {"M": {"l": {"L": [{"B": b"\x00\xff\x10"}]}}},
    }


# ---------------------------------------------------------------- writing and claims


def test_given_changes_when_written_then_every_row_is_stored_and_the_first_row_of_each_claims_the_object(make_change, diffed):
    insert = make_change("INSERT", new=SEED_ITEM)
    modify = make_change(old={**SEED_ITEM, "a": {"N": "1"}}, new={**SEED_ITEM, "a": {"N": "2"}, "value": {"N": "9"}})

    output, table, _ = run(diffed(insert, modify))

    assert len(table.rows) == 3
    claimed = [row for row in table.rows.values() if "archiveKey" in row]
    assert len(claimed) == 2 and {row["archiveKey"]["S"] for row in claimed} == {KEY}
    assert output["summary"] == {
        "changes": 2,
        "auditRows": 3,
        "notifications": 2,
        "archiveKey": KEY,
        "skipped": 0,
        "ignored": 0,
        "rejected": 0,
    }
    assert [json.loads(line)["eventId"] for line in output["archive"]["body"].splitlines()] == [
        insert["eventId"],
        modify["eventId"],
    ]


def test_given_changes_another_execution_holds_when_written_then_they_are_left_to_it(make_change, diffed):
    held, mine = make_change("INSERT", new=SEED_ITEM), make_change("INSERT", new={**SEED_ITEM, "key": {"S": "OTHER"}})
    table = FakeTable()
    run({**diffed(held), "archiveKey": "another-object.jsonl"}, table)

    output, _, _ = run(diffed(held, mine), table)

    assert output["summary"]["skipped"] == 1 and output["summary"]["changes"] == 1
    assert [json.loads(line)["eventId"] for line in output["archive"]["body"].splitlines()] == [mine["eventId"]]
    assert [json.loads(n["message"])["eventId"] for n in output["notifications"]] == [mine["eventId"]]
    held_row = next(row for row in table.rows.values() if row["eventId"]["S"] == held["eventId"])
    assert held_row["archiveKey"] == {"S": "another-object.jsonl"}, "the first claim stands"


def test_given_a_rerun_of_the_same_changes_when_written_then_it_owns_them_again(make_change, diffed):
    event = diffed(make_change("INSERT", new=SEED_ITEM), make_change())
    table = FakeTable()
    first, _, _ = run(event, table)

    second, _, _ = run(event, table)

    assert second["archive"] == first["archive"] and second["summary"]["skipped"] == 0


def test_given_every_change_held_elsewhere_when_written_then_nothing_is_left_to_archive(make_change, diffed):
    change = make_change("INSERT", new=SEED_ITEM)
    table = FakeTable()
    run({**diffed(change), "archiveKey": "another-object.jsonl"}, table)

    output, _, _ = run(diffed(change), table)

    assert output["archive"] == {"key": KEY, "body": ""}
    assert output["notifications"] == []


def test_given_many_rows_when_written_then_they_go_in_batches_of_25_and_unprocessed_items_are_retried(make_change, diffed):
    names = [f"a{n:02d}" for n in range(60)]
    change = make_change(old=SEED_ITEM, new={**SEED_ITEM, **{name: {"N": "1"} for name in names}})
    table = FakeTable(unprocessed=2)

    output, _, _ = run(diffed(change), table)

    assert len(table.rows) == 60 and output["summary"]["auditRows"] == 60
    assert [size for size in table.batches if size > 1] == [25, 25, 9], "every row but the claim, in batches"
    assert len(table.batches) == 5, "two more calls for the unprocessed items"
    assert len(table.claims) == 1


def test_given_items_that_stay_unprocessed_when_written_then_the_state_retries_a_throttle(make_change, diffed):
    change = make_change(old=SEED_ITEM, new={**SEED_ITEM, "a": {"N": "1"}, "b": {"N": "2"}})

    with pytest.raises(AuditTableThrottledError, match="unprocessed after 3"):
        run(diffed(change), FakeTable(unprocessed=99))


def test_given_a_throttled_claim_when_written_then_a_throttle_error_the_state_retries(make_change, diffed):
    with pytest.raises(AuditTableThrottledError, match="ProvisionedThroughputExceededException"):
        run(diffed(make_change("INSERT", new=SEED_ITEM)), FakeTable(throttle=True))


def test_given_the_table_missing_when_written_then_an_audit_table_error_names_the_code(make_change, diffed):
    class Missing(FakeTable):
        def put_item(self, **request: Any) -> dict[str, Any]:
            raise error("ResourceNotFoundException")

    with pytest.raises(AuditTableError, match="ResourceNotFoundException"):
        run(diffed(make_change("INSERT", new=SEED_ITEM)), Missing())


def test_given_a_row_dynamodb_refuses_when_written_then_only_its_change_is_rejected(make_change, diffed):
    good = make_change("INSERT", new=SEED_ITEM)
    bad = make_change(old={**SEED_ITEM, "a": {"N": "1"}}, new={**SEED_ITEM, "a": {"N": "2"}, "b": {"N": "3"}})
    bad_rows = plan({**bad, "changedAttributes": ["a", "b"]}, KEY, WriteSettings()).rows
    table = FakeTable(refuse={bad_rows[1]["id"]["S"]})  # the second row: written in a batch, before the claim

    output, _, _ = run(diffed(good, bad), table)

    [rejected] = output["rejected"]
    assert (rejected["eventId"], rejected["state"], rejected["error"]) == (bad["eventId"], "WriteAudit", "ClientError")
    assert [json.loads(line)["eventId"] for line in output["archive"]["body"].splitlines()] == [good["eventId"]]
    assert bad_rows[0]["id"]["S"] not in table.rows, "a rejected change never claims its object"
    cause = json.loads(output["rejectedCause"])
    assert cause["failedState"] == "WriteAudit" and cause["records"] == 2
    assert bad["eventId"] in cause["cause"]


def test_given_a_claim_dynamodb_refuses_when_written_then_only_its_change_is_rejected(make_change, diffed):
    good, bad = make_change("INSERT", new=SEED_ITEM), make_change("INSERT", new={**SEED_ITEM, "key": {"S": "BAD"}})
    claim = plan(
        diff_changes({"batch": {}, "changes": [bad], "rejected": []}, DiffSettings())["changes"][0], KEY, WriteSettings()
    )

    output, _, _ = run(diffed(good, bad), FakeTable(refuse={claim.rows[0]["id"]["S"]}))

    assert [r["eventId"] for r in output["rejected"]] == [bad["eventId"]]
    assert output["summary"]["changes"] == 1


def test_given_a_modify_that_changed_nothing_when_written_then_it_leaves_no_trace(make_change, diffed):
    output, table, _ = run(diffed(make_change(old=SEED_ITEM, new=dict(SEED_ITEM))))

    assert table.rows == {} and output["archive"]["body"] == "" and output["notifications"] == []


# ---------------------------------------------------------------- the state's output


def big_modify(make_change, sizes: dict[str, int]) -> dict:
    old = {**SEED_ITEM, **{name: {"S": "o" * size} for name, size in sizes.items()}}
    new = {**SEED_ITEM, **{name: {"S": "n" * size} for name, size in sizes.items()}}
    return make_change("MODIFY", old=old, new=new)


def test_given_an_output_within_the_budget_when_written_then_the_body_is_inline(recorded_batch, make_change, diffed):
    output, _, store = run(diffed(make_change("INSERT", new=SEED_ITEM)))

    assert "body" in output["archive"] and store.objects == {}


def test_given_a_body_too_large_for_the_state_when_written_then_it_goes_by_claim_check(make_change, diffed):
    change = big_modify(make_change, {"a": 100_000, "b": 100_000})

    output, table, store = run(diffed(change))

    [(key, body)] = store.objects.items()
    assert key.startswith("payloads/archive/") and output["archive"] == {
        "key": KEY,
        "bodyRef": {"bucket": "payloads", "key": key},
    }
    assert json.loads(body)["newImage"]["a"] == {"S": "n" * 100_000}
    assert json_size(output) <= STATE_BUDGET
    assert len(table.rows) == 2, "rows never travel in the state"


def test_given_two_thousand_changed_attributes_when_written_then_every_row_is_written(make_change, diffed):
    change = big_modify(make_change, {f"attribute-{n:04d}": 150 for n in range(2000)})

    output, table, _ = run(diffed(change))

    assert len(table.rows) == 2000 and output["summary"]["auditRows"] == 2000
    assert json_size(output) <= STATE_BUDGET


def test_given_notifications_too_large_for_the_state_when_written_then_they_go_by_claim_check(make_change, diffed):
    changes = [make_change("INSERT", new={**SEED_ITEM, "key": {"S": f"K{n:04d}-" + "k" * 900}}) for n in range(200)]

    output, _, store = run(diffed(*changes))

    assert "notifications" not in output and output["notificationsRef"]["key"] in store.objects
    assert len(json.loads(store.objects[output["notificationsRef"]["key"]])) == 200
    assert json_size(output) <= STATE_BUDGET


def test_given_no_rejection_when_written_then_no_rejected_cause(make_change, diffed):
    output, _, _ = run(diffed(make_change()))

    assert output["rejected"] == [] and "rejectedCause" not in output


def test_given_earlier_rejections_when_written_then_the_execution_will_fail_naming_the_first(make_change, diffed):
    earlier = {
        "eventId": "e-0",
        "table": "Configuration",
        "sequenceNumber": "1",
        "state": "Decode",
        "error": "MalformedStreamRecordError",
        "cause": "no Keys",
    }

    output, _, _ = run({**diffed(make_change()), "rejected": [earlier]})

    assert output["rejected"] == [earlier]
    cause = json.loads(output["rejectedCause"])
    assert cause["failedState"] == "Decode" and "e-0 in Decode: MalformedStreamRecordError: no Keys" in cause["cause"]
    assert cause["table"] == "Configuration", "logs without the input still say which source failed"


def test_given_the_environment_when_settings_load_then_table_mode_and_redaction_come_from_it(monkeypatch):
    monkeypatch.setenv("AUDIT_TABLE", "Audit-prod")
    monkeypatch.setenv("NOTIFY_MODE", "batch")
    monkeypatch.setenv("NOTIFY_EVENT_NAMES", "MODIFY,REMOVE")
    monkeypatch.setenv("REDACT_ATTRIBUTES", "password")
    monkeypatch.setenv("REDACT_IN_ARCHIVE", "false")
    monkeypatch.setenv("PAYLOAD_BUCKET", "payloads")

    settings = WriteSettings.from_environment()

    assert settings == WriteSettings(
        "Audit-prod", "payloads", frozenset({"password"}), False, "batch", frozenset({"MODIFY", "REMOVE"})
    )


# ---------------------------------------------------------------- any change DynamoDB allows


@st.composite
def large_changes(draw) -> dict:
    """A change of an item up to DynamoDB's 400 KB, each attribute up to ~200 KB, old and new images."""
    budget = 400 * 1024
    sizes = draw(st.lists(st.integers(min_value=0, max_value=200 * 1024), min_size=1, max_size=6))
    scale = min(1.0, budget / max(1, sum(sizes)))
    names = [f"attribute{n}" for n in range(len(sizes))]
    old = {name: {"S": "o" * int(size * scale)} for name, size in zip(names, sizes, strict=True)}
    new = {name: {"S": draw(st.sampled_from(["o", "n"])) * int(size * scale)} for name, size in zip(names, sizes, strict=True)}
    return {"old": {**SEED_ITEM, **old}, "new": {**SEED_ITEM, **new}}


@given(change=large_changes(), event=st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
def test_given_any_item_up_to_400_kb_when_written_then_rows_fit_and_every_value_is_in_its_row_or_the_archive(
    make_change, diffed, change, event
):
    images = {"INSERT": {"new": change["new"]}, "MODIFY": change, "REMOVE": {"old": change["old"]}}[event]
    event_input = diffed(make_change(event, **images))

    output, table, store = run(event_input)

    target(float(json_size(event_input)))  # steer towards the largest changes
    assert json_size(output) <= STATE_BUDGET
    body = output["archive"].get("body") or next(iter(store.objects.values()), "")
    if not table.rows:  # a MODIFY whose new image equals the old one is not a change
        assert body == "" and event == "MODIFY"
        return
    (line,) = [json.loads(text) for text in body.splitlines()]
    image = {"oldValue": "oldImage", "newValue": "newImage"}
    for row in table.rows.values():
        assert fits(row) and item_size(row) <= MAX_ITEM_BYTES
        moved = row.get("valuesInArchive", {"M": {"attributes": {"SS": []}}})["M"]["attributes"]["SS"]
        attribute = row.get("updatedAttribute", {}).get("S")
        for name in image:
            archived = line.get(image[name]) if attribute is None else line.get(image[name], {}).get(attribute)
            if name in moved:
                assert archived is not None, "a value left out of the row is whole in the archive line"
            elif name in row:
                assert row[name] == ({"M": archived} if attribute is None else archived)


def test_given_an_outcome_when_assembled_then_rows_are_not_part_of_the_state(make_change, diffed):
    event = diffed(make_change("INSERT", new=SEED_ITEM))
    owned = plan(event["changes"][0], KEY, WriteSettings())

    output = written(event, Outcome(owned=[owned]), WriteSettings(), Store())

    assert set(output) == {"batch", "archive", "notifications", "rejected", "summary"}


def nested_maps(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "leaf"}
    for _ in range(levels):
        value = {"M": {"n": value}}
    return value


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=6))
def test_a_line_called_shallow_never_holds_a_value_nested_past_the_limit(levels, siblings):
    value = nested_maps(levels)
    line = json.dumps({"eventId": "e", "newImage": {"deep": value, **{f"s{n}": {"S": "{"} for n in range(siblings)}}})

    row_value = {"M": {"deep": value}}  # an insert's row holds the image one level deeper
    if shallow(line):
        assert fits({"newValue": row_value})
    if not fits({"newValue": row_value}):
        assert not shallow(line)
