"""Diff state: decoded changes -> seed-003 audit rows, the archive object and notifications."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import example, given, target
from hypothesis import strategies as st

from functions.decode import decode_image, decode_record, decode_value
from functions.diff import (
    AUDIT_ID_NAMESPACE,
    STATE_PAYLOAD_LIMIT,
    DiffSettings,
    archive_key,
    audit_id,
    audit_rows,
    changed_attributes,
    diff_changes,
    ensure_fits,
    fit_state_limit,
    json_size,
    uuid5_text,
)
from functions.exceptions import PayloadTooLargeError
from tests.unit.conftest import KEY_NAMES, STREAM_ARN
from tests.unit.strategies import items, names, values, wire_item

# Fields the pipeline may add next to seed 003's (BRIEF: "Extra metadata ... may be added").
METADATA = {"eventName", "eventId", "table", "sequenceNumber", "historySortKey", "itemKeyParts", "expiredByTtl"}
SEED_ITEM = {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}}


def seed_fields(row: dict) -> dict:
    return {name: value for name, value in row.items() if name not in METADATA}


@pytest.fixture
def recorded_changes(recorded_batch):
    return [decode_record(record, KEY_NAMES, STREAM_ARN) for record in recorded_batch()["Records"]]


@pytest.fixture
def recorded_decoded(recorded_changes, make_decoded):
    return make_decoded(recorded_changes)


# ---------------------------------------------------------------- seed 003


def test_given_seed_003_insert_when_rows_are_built_then_it_is_exactly_the_seeds_insert_row(recorded_changes):
    insert = recorded_changes[0]

    [row] = audit_rows(insert)

    assert seed_fields(row) == {
        "id": {"S": audit_id(insert)},
        "itemKey": {"S": "CACHE_TTL_SEC"},
        "modificationTime": {"S": "2024-06-15T10:00:00.000Z"},
        "newValue": {"M": SEED_ITEM},
    }
    assert decode_image(seed_fields(row))["newValue"] == {"key": "CACHE_TTL_SEC", "value": 3600}


def test_given_seed_003_update_when_rows_are_built_then_it_is_exactly_the_seeds_update_row(recorded_changes):
    update = recorded_changes[1]

    [row] = audit_rows(update)

    assert seed_fields(row) == {
        "id": {"S": audit_id(update, "value")},
        "itemKey": {"S": "CACHE_TTL_SEC"},
        "modificationTime": {"S": "2024-06-15T10:01:00.000Z"},
        "updatedAttribute": {"S": "value"},
        "oldValue": {"N": "3600"},
        "newValue": {"N": "1800"},
    }
    plain = decode_image(seed_fields(row))
    assert (plain["updatedAttribute"], plain["oldValue"], plain["newValue"]) == ("value", 3600, 1800)


def test_given_a_change_when_rows_are_built_then_stream_metadata_rides_along(recorded_changes):
    update = recorded_changes[1]

    [row] = audit_rows(update)

    assert row["eventName"] == {"S": "MODIFY"}
    assert row["eventId"] == {"S": update["eventId"]}
    assert row["table"] == {"S": "Configuration"}
    assert row["sequenceNumber"] == {"S": "1195860300000000034221871204"}


def test_given_a_user_remove_when_rows_are_built_then_old_value_is_the_whole_item_and_not_expired(recorded_changes):
    remove = recorded_changes[2]

    [row] = audit_rows(remove)

    assert seed_fields(row) == {
        "id": {"S": audit_id(remove)},
        "itemKey": {"S": "CACHE_TTL_SEC"},
        "modificationTime": {"S": "2024-06-15T10:02:00.000Z"},
        "oldValue": {"M": {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}}},
    }
    assert row["expiredByTtl"] == {"BOOL": False}


def test_given_a_ttl_expiry_when_rows_are_built_then_the_row_says_so_and_keeps_every_type(recorded_changes, recorded_record):
    expired = recorded_changes[3]

    [row] = audit_rows(expired)

    assert row["expiredByTtl"] == {"BOOL": True}
    assert row["oldValue"] == {"M": recorded_record(3)["dynamodb"]["OldImage"]}
    assert "newValue" not in row


# ---------------------------------------------------------------- MODIFY rows


def test_given_an_added_attribute_when_rows_are_built_then_its_row_has_no_old_value(make_change):
    change = make_change(old=SEED_ITEM, new={**SEED_ITEM, "note": {"S": "raised for load test"}})

    [row] = audit_rows(change)

    assert row["updatedAttribute"] == {"S": "note"}
    assert row["newValue"] == {"S": "raised for load test"}
    assert "oldValue" not in row


def test_given_a_removed_attribute_when_rows_are_built_then_its_row_has_no_new_value(make_change):
    change = make_change(old={**SEED_ITEM, "note": {"S": "temporary"}}, new=SEED_ITEM)

    [row] = audit_rows(change)

    assert row["updatedAttribute"] == {"S": "note"}
    assert row["oldValue"] == {"S": "temporary"}
    assert "newValue" not in row


def test_given_several_changed_attributes_when_rows_are_built_then_one_row_each_with_distinct_ids(make_change):
    old = {**SEED_ITEM, "a": {"N": "1"}, "b": {"S": "x"}, "same": {"BOOL": True}}
    new = {**SEED_ITEM, "value": {"N": "1800"}, "a": {"N": "2"}, "c": {"NULL": True}, "same": {"BOOL": True}}
    change = make_change(old=old, new=new)

    rows = audit_rows(change)

    assert [row["updatedAttribute"]["S"] for row in rows] == ["a", "b", "c", "value"]
    ids = [row["id"]["S"] for row in rows]
    assert len(set(ids)) == 4


def test_given_a_modify_that_changes_nothing_when_diffed_then_no_row_no_notification_but_an_archive_line(
    make_change, make_decoded
):
    change = make_change(old=SEED_ITEM, new=dict(SEED_ITEM))

    output = diff_changes(make_decoded([change]), DiffSettings())

    assert output["auditRows"] == []
    assert output["notifications"] == []
    [line] = output["archive"]["body"].splitlines()
    assert json.loads(line)["changedAttributes"] == []
    assert output["summary"] == {"changes": 1, "auditRows": 0, "notifications": 0, "archiveKey": output["archive"]["key"]}


def test_given_a_composite_key_when_rows_are_built_then_the_parts_are_kept(make_change):
    keys = {"tenant": {"S": "acme"}, "name": {"S": "CACHE_TTL_SEC"}}
    change = make_change("INSERT", key_names=["tenant", "name"], keys=keys, new={**keys, "value": {"N": "3600"}})

    [row] = audit_rows(change)

    assert row["itemKey"] == {"S": "acme|CACHE_TTL_SEC"}
    assert row["itemKeyParts"] == {"M": {"tenant": {"S": "acme"}, "name": {"S": "CACHE_TTL_SEC"}}}


def test_given_two_changes_of_one_item_when_sorted_by_history_key_then_stream_order_wins_within_a_second(make_change):
    earlier = make_change(sequence="9", created=1718445660)
    later = make_change(sequence="10", created=1718445660)
    next_second = make_change(sequence="8", created=1718445661)

    keys = [audit_rows(change)[0]["historySortKey"]["S"] for change in (next_second, later, earlier)]

    assert sorted(keys) == keys[::-1]


# ---------------------------------------------------------------- ids


def test_given_the_same_input_twice_when_diffed_then_the_ids_and_archive_key_are_the_same(recorded_decoded):
    first = diff_changes(recorded_decoded, DiffSettings())
    second = diff_changes(json.loads(json.dumps(recorded_decoded)), DiffSettings())

    assert [row["id"] for row in first["auditRows"]] == [row["id"] for row in second["auditRows"]]
    assert first["archive"] == second["archive"]


def test_given_a_batch_when_diffed_then_every_row_id_is_a_distinct_canonical_uuid(recorded_decoded):
    ids = [row["id"]["S"] for row in diff_changes(recorded_decoded, DiffSettings())["auditRows"]]

    assert len(ids) == 4
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(value)) == value for value in ids)


@given(st.text())
@example("Configuration/5f1c2d3e4a5b6c7d8e9f/value")
@example("ключ 🔑/𝄞")
def test_given_any_name_when_an_audit_id_is_made_then_it_is_exactly_uuid5_of_it(name):
    # audit ids of seed 003 rows and of rows already written must not change with the fast path
    assert uuid5_text(name) == str(uuid.uuid5(AUDIT_ID_NAMESPACE, name))


def test_given_a_known_change_when_its_audit_id_is_made_then_it_is_the_pinned_uuid(make_change):
    change = {**make_change(), "table": "Configuration", "eventId": "e-1"}

    assert audit_id(change, "value") == str(uuid.uuid5(AUDIT_ID_NAMESPACE, "Configuration/e-1/value"))


def test_given_the_same_event_id_in_another_table_when_ids_are_made_then_they_differ(make_change):
    change = make_change()

    assert audit_id(change) != audit_id({**change, "table": "OtherTable"})
    assert audit_id(change) != audit_id(change, "value")


# ---------------------------------------------------------------- changed_attributes


@st.composite
def image_pairs(draw):
    """An old image, and a new one made from it by replacing, dropping and adding attributes."""
    old = draw(items)
    new = dict(old)
    for name in draw(st.lists(st.sampled_from(sorted(old)), unique=True)):
        if draw(st.booleans()):
            del new[name]
        else:
            new[name] = draw(values)
    new.update(draw(st.dictionaries(names, values, max_size=2)))
    return wire_item(old), wire_item(new)


def differs(old: dict, new: dict) -> set[str]:
    """Oracle: attributes whose DynamoDB JSON differs in type or in value (set order does not count)."""

    def typed_json(value):
        if value is None:
            return None
        ((tag, inner),) = value.items()
        if tag == "L":
            return (tag, tuple(typed_json(v) for v in inner))
        if tag == "M":
            return (tag, tuple(sorted((k, typed_json(v)) for k, v in inner.items())))
        decoded = decode_value(value)
        return (tag, frozenset(decoded) if isinstance(decoded, set) else decoded)

    return {name for name in old.keys() | new.keys() if typed_json(old.get(name)) != typed_json(new.get(name))}


def modify(old: dict, new: dict) -> dict:
    return {"eventName": "MODIFY", "oldImage": old, "newImage": new}


@given(image_pairs())
@example(({"flag": {"N": "1"}}, {"flag": {"BOOL": True}}))
@example(({"flags": {"L": [{"N": "0"}]}}, {"flags": {"L": [{"BOOL": False}]}}))
@example(({"tags": {"SS": ["a", "b"]}}, {"tags": {"SS": ["b", "a"]}}))
@example(({"m": {"M": {"x": {"S": "1"}}}}, {"m": {"M": {"x": {"N": "1"}}}}))
def test_given_any_two_images_when_compared_then_exactly_the_differing_attributes_are_changed(pair):
    old, new = pair

    assert set(changed_attributes(modify(old, new))) == differs(old, new)


@given(image_pairs())
def test_given_any_two_images_when_swapped_then_the_changed_attributes_are_the_same(pair):
    old, new = pair

    assert changed_attributes(modify(old, new)) == changed_attributes(modify(new, old))


@given(items)
def test_given_equal_images_when_compared_then_nothing_changed(item):
    assert changed_attributes(modify(wire_item(item), wire_item(item))) == []


def test_given_a_number_turned_into_a_boolean_when_diffed_then_it_gets_an_audit_row(make_change):
    change = make_change(old={**SEED_ITEM, "enabled": {"N": "1"}}, new={**SEED_ITEM, "enabled": {"BOOL": True}})

    [row] = audit_rows(change)

    assert (row["oldValue"], row["newValue"]) == ({"N": "1"}, {"BOOL": True})


# ---------------------------------------------------------------- archive


def test_given_the_recorded_batch_when_keyed_then_prefix_table_hour_and_sequence_range(recorded_decoded):
    key = archive_key("ddb-changes", recorded_decoded)

    assert key == "ddb-changes/Configuration/2024/06/15/10/1195860200000000034221870811-1195860500000000034221872390.jsonl"
    assert archive_key("ddb-changes", json.loads(json.dumps(recorded_decoded))) == key


def test_given_no_prefix_when_keyed_then_the_key_starts_at_the_table(recorded_decoded):
    assert archive_key("", recorded_decoded).startswith("Configuration/2024/06/15/10/")


@given(created=st.integers(min_value=0, max_value=4_102_444_799), first=st.integers(min_value=1, max_value=10**39))
def test_given_any_chunk_when_keyed_then_the_key_has_the_documented_shape(make_change, make_decoded, created, first):
    change = make_change(created=created, sequence=str(first))

    key = archive_key("audit/prod", make_decoded([change]))

    assert re.fullmatch(rf"audit/prod/Configuration/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{first}-{first}\.jsonl", key)
    assert key.split("/")[3:7] == change["modificationTime"][:13].replace("T", "-").split("-")


def test_given_the_recorded_batch_when_archived_then_one_json_line_per_change_in_stream_order(recorded_decoded, recorded_batch):
    records = recorded_batch()["Records"]

    body = diff_changes(recorded_decoded, DiffSettings())["archive"]["body"]

    assert body.endswith("\n")
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["eventId"] for line in lines] == [record["eventID"] for record in records]
    assert [line["eventName"] for line in lines] == ["INSERT", "MODIFY", "REMOVE", "REMOVE"]
    assert lines[1]["oldImage"] == records[1]["dynamodb"]["OldImage"]
    assert lines[1]["newImage"] == records[1]["dynamodb"]["NewImage"]
    assert lines[1]["changedAttributes"] == ["value"]
    assert lines[3]["oldImage"] == records[3]["dynamodb"]["OldImage"]
    assert lines[3]["expiredByTtl"] is True
    assert lines[0]["keys"] == {"key": {"S": "CACHE_TTL_SEC"}}
    assert lines[0]["sequenceNumber"] == records[0]["dynamodb"]["SequenceNumber"]


def test_given_38_digit_numbers_when_archived_then_every_digit_survives(make_change, make_decoded):
    precise = "3.1415926535897932384626433832795028841"
    change = make_change(
        new={**SEED_ITEM, "value": {"N": precise}, "tiny": {"NS": ["1E-130", "9.9999999999999999999999999999999999999E+125"]}}
    )

    body = diff_changes(make_decoded([change]), DiffSettings())["archive"]["body"]

    image = json.loads(body)["newImage"]
    assert image["value"] == {"N": precise}
    assert image["tiny"] == {"NS": ["1E-130", "9.9999999999999999999999999999999999999E+125"]}


# ---------------------------------------------------------------- notifications


def messages(output: dict) -> list[dict]:
    return [json.loads(note["message"]) for note in output["notifications"]]


def test_given_per_change_mode_when_diffed_then_one_message_per_change_with_filterable_attributes(recorded_decoded):
    output = diff_changes(recorded_decoded, DiffSettings(notify_mode="change"))

    assert [m["eventId"] for m in messages(output)] == [c["eventId"] for c in recorded_decoded["changes"]]
    assert [n["attributes"]["eventName"] for n in output["notifications"]] == [
        {"DataType": "String", "StringValue": name} for name in ("INSERT", "MODIFY", "REMOVE", "REMOVE")
    ]
    assert all(
        n["attributes"]["table"] == {"DataType": "String", "StringValue": "Configuration"} for n in output["notifications"]
    )
    assert messages(output)[1]["changedAttributes"] == ["value"]
    assert messages(output)[1]["auditIds"] == [output["auditRows"][1]["id"]["S"]]


def test_given_batch_mode_when_diffed_then_one_summary_with_a_string_array_of_event_names(recorded_decoded):
    output = diff_changes(recorded_decoded, DiffSettings(notify_mode="batch"))

    [note] = output["notifications"]
    assert note["attributes"]["eventName"]["DataType"] == "String.Array"
    assert json.loads(note["attributes"]["eventName"]["StringValue"]) == ["INSERT", "MODIFY", "REMOVE"]
    assert note["attributes"]["table"] == {"DataType": "String", "StringValue": "Configuration"}
    [message] = messages(output)
    assert message["eventIds"] == [c["eventId"] for c in recorded_decoded["changes"]]
    assert message["counts"] == {"INSERT": 1, "MODIFY": 1, "REMOVE": 2}
    assert message["itemKeys"] == ["CACHE_TTL_SEC", "SESSION_BANNER"]


def test_given_notifications_off_when_diffed_then_none_but_rows_and_archive_are_still_written(recorded_decoded):
    output = diff_changes(recorded_decoded, DiffSettings(notify_mode="off"))

    assert output["notifications"] == []
    assert len(output["auditRows"]) == 4
    assert len(output["archive"]["body"].splitlines()) == 4


@pytest.mark.parametrize("mode", ["change", "batch"])
def test_given_an_event_name_filter_when_diffed_then_only_those_events_are_announced(recorded_decoded, mode):
    output = diff_changes(recorded_decoded, DiffSettings(notify_mode=mode, notify_event_names=frozenset({"REMOVE"})))

    removes = [c["eventId"] for c in recorded_decoded["changes"] if c["eventName"] == "REMOVE"]
    if mode == "change":
        assert [m["eventId"] for m in messages(output)] == removes
    else:
        [message] = messages(output)
        assert message["eventIds"] == removes
        assert json.loads(output["notifications"][0]["attributes"]["eventName"]["StringValue"]) == ["REMOVE"]
    assert len(output["auditRows"]) == 4


def test_given_a_filter_that_matches_nothing_when_batched_then_no_empty_summary(recorded_decoded):
    output = diff_changes(recorded_decoded, DiffSettings(notify_mode="batch", notify_event_names=frozenset({"INSERT"})))
    assert len(output["notifications"]) == 1

    quiet = {**recorded_decoded, "changes": recorded_decoded["changes"][1:]}
    output = diff_changes(quiet, DiffSettings(notify_mode="batch", notify_event_names=frozenset({"INSERT"})))
    assert output["notifications"] == []


def test_given_the_environment_when_settings_load_then_prefix_mode_and_names_come_from_it(monkeypatch):
    monkeypatch.setenv("ARCHIVE_PREFIX", "/audit/prod/")
    monkeypatch.setenv("NOTIFY_MODE", "batch")
    monkeypatch.setenv("NOTIFY_EVENT_NAMES", "MODIFY,REMOVE")

    settings = DiffSettings.from_environment()

    assert settings == DiffSettings("audit/prod", "batch", frozenset({"MODIFY", "REMOVE"}))


def test_given_an_empty_environment_when_settings_load_then_defaults_apply(monkeypatch):
    for name in ("ARCHIVE_PREFIX", "NOTIFY_MODE", "NOTIFY_EVENT_NAMES"):
        monkeypatch.delenv(name, raising=False)

    assert DiffSettings.from_environment() == DiffSettings()


# ---------------------------------------------------------------- payload limit


def test_given_output_at_the_256_kib_limit_when_checked_then_it_fits():
    ensure_fits("x" * (STATE_PAYLOAD_LIMIT - 2))  # two quote characters make exactly the limit


def test_given_output_one_byte_over_256_kib_when_checked_then_payload_too_large():
    with pytest.raises(PayloadTooLargeError, match=str(STATE_PAYLOAD_LIMIT + 1)):
        ensure_fits("x" * (STATE_PAYLOAD_LIMIT - 1))


def test_given_non_ascii_output_under_256_kib_of_utf8_when_checked_then_it_fits():
    text = "ü" * 100_000  # 200,000 bytes of UTF-8, as Step Functions counts it
    ensure_fits({"body": text})


def test_given_a_diff_output_over_the_limit_when_checked_then_payload_too_large(make_change, make_decoded):
    big = {**SEED_ITEM, "blob": {"S": "y" * 140_000}}
    change = make_change("INSERT", new=big)

    output = diff_changes(make_decoded([change]), DiffSettings())

    with pytest.raises(PayloadTooLargeError):
        ensure_fits(output)


# ---------------------------------------------------------------- fitting the state limit


class BodyStore:
    """Stands in for the payload bucket: remembers each stored body."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, body: str) -> dict[str, str]:
        self.bodies.append(body)
        return {"bucket": "payloads", "key": f"payloads/archive/{len(self.bodies)}.jsonl"}


def big_modify(make_change, sizes: dict[str, int]) -> dict:
    old = {**SEED_ITEM, **{name: {"S": "o" * size} for name, size in sizes.items()}}
    new = {**SEED_ITEM, **{name: {"S": "n" * size} for name, size in sizes.items()}}
    return make_change("MODIFY", old=old, new=new)


def test_given_an_output_within_the_budget_when_fitted_then_it_is_returned_as_it_is(recorded_changes, make_decoded):
    output = diff_changes(make_decoded(recorded_changes), DiffSettings())
    store = BodyStore()

    assert fit_state_limit(output, store) is output
    assert store.bodies == []


def test_given_a_large_body_when_fitted_then_only_the_body_goes_by_claim_check(make_change, make_decoded):
    change = big_modify(make_change, {"a": 70_000})  # rows ~140 KB, body ~140 KB
    output = diff_changes(make_decoded([change]), DiffSettings())
    store = BodyStore()

    fitted = fit_state_limit(output, store)

    assert store.bodies == [output["archive"]["body"]]
    assert fitted["archive"] == {
        "key": output["archive"]["key"],
        "bodyRef": {"bucket": "payloads", "key": "payloads/archive/1.jsonl"},
    }
    assert fitted["auditRows"] == output["auditRows"]
    assert json_size(fitted) <= 240 * 1024


def test_given_large_values_when_fitted_then_the_largest_rows_leave_their_values_to_the_archive(make_change, make_decoded):
    change = big_modify(make_change, {"big": 100_000, "mid": 30_000, "small": 10})
    output = diff_changes(make_decoded([change]), DiffSettings())

    fitted = fit_state_limit(output, BodyStore())

    rows = {row["updatedAttribute"]["S"]: row for row in fitted["auditRows"]}
    assert "oldValue" not in rows["big"] and "newValue" not in rows["big"]
    assert rows["big"]["valuesInArchive"]["M"] == {
        "archiveKey": {"S": output["archive"]["key"]},
        "attributes": {"SS": ["oldValue", "newValue"]},
    }
    assert rows["mid"]["newValue"] == {"S": "n" * 30_000}, "moved no more than needed"
    assert rows["small"]["oldValue"] == {"S": "o" * 10}
    assert [row["id"] for row in fitted["auditRows"]] == [row["id"] for row in output["auditRows"]]
    assert json_size(fitted) <= 240 * 1024
    assert "newValue" in output["auditRows"][0] or "oldValue" in output["auditRows"][0], "the input is not modified"


def test_given_too_many_rows_even_without_values_when_fitted_then_payload_too_large(make_change, make_decoded):
    change = big_modify(make_change, {f"attribute-{n:04d}": 300 for n in range(1200)})
    output = diff_changes(make_decoded([change]), DiffSettings())

    with pytest.raises(PayloadTooLargeError):
        fit_state_limit(output, BodyStore())


@st.composite
def large_changes(draw) -> dict:
    """A MODIFY of an item up to DynamoDB's 400 KB, each attribute up to ~200 KB, old and new images."""
    budget = 400 * 1024
    sizes = draw(st.lists(st.integers(min_value=0, max_value=200 * 1024), min_size=1, max_size=6))
    scale = min(1.0, budget / max(1, sum(sizes)))
    names = [f"attribute{n}" for n in range(len(sizes))]
    old = {name: {"S": "o" * int(size * scale)} for name, size in zip(names, sizes, strict=True)}
    new = {name: {"S": draw(st.sampled_from(["o", "n"])) * int(size * scale)} for name, size in zip(names, sizes, strict=True)}
    return {"old": {**SEED_ITEM, **old}, "new": {**SEED_ITEM, **new}}


@given(change=large_changes(), event=st.sampled_from(["INSERT", "MODIFY", "REMOVE"]))
def test_given_any_item_up_to_400_kb_when_fitted_then_it_fits_and_every_value_is_in_the_row_or_the_archive(
    make_change, make_decoded, change, event
):
    images = {"INSERT": {"new": change["new"]}, "MODIFY": change, "REMOVE": {"old": change["old"]}}[event]
    decoded = make_decoded([make_change(event, **images)])
    output = diff_changes(decoded, DiffSettings())
    store = BodyStore()
    target(float(json_size(output)))  # steer towards the largest outputs

    fitted = fit_state_limit(output, store)

    assert json_size(fitted) <= 240 * 1024
    body = fitted["archive"].get("body") or store.bodies[-1]
    assert body == output["archive"]["body"], "the archive body is never truncated"
    (line,) = [json.loads(text) for text in body.splitlines()]
    for before, after in zip(output["auditRows"], fitted["auditRows"], strict=True):
        kept = {k: v for k, v in after.items() if k != "valuesInArchive"}
        moved = after.get("valuesInArchive", {"M": {"attributes": {"SS": []}}})["M"]["attributes"]["SS"]
        assert kept == {k: v for k, v in before.items() if k not in moved}
        assert all(name in before for name in moved)
        image = {"oldValue": "oldImage", "newValue": "newImage"}
        for name in moved:  # every moved value is in the archive line, whole
            attribute = after.get("updatedAttribute", {}).get("S")
            archived = line[image[name]] if attribute is None else line[image[name]][attribute]
            assert archived == (before[name]["M"] if attribute is None else before[name])
