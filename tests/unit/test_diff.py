"""Diff state: decoded changes -> audit rows in the original format, the archive object and notifications."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from functions.decode import decode_image, decode_record, decode_value
from functions.diff import (
    AUDIT_ID_NAMESPACE,
    AttributeRules,
    DiffSettings,
    archive_key,
    archive_line,
    attribute_rules,
    audit_id,
    audit_rows,
    changed_attributes,
    diff_changes,
    notifications,
    uuid5_text,
)
from tests.unit.conftest import KEY_NAMES, STREAM_ARN
from tests.unit.strategies import items, names, values, wire_item

ALL_EVENTS = frozenset({"INSERT", "MODIFY", "REMOVE"})

# Fields the pipeline adds next to the original row format's (extra metadata is allowed).
METADATA = {"eventName", "eventId", "table", "sequenceNumber", "historySortKey", "itemKeyParts", "expiredByTtl", "archiveKey"}
SEED_ITEM = {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}}


def seed_fields(row: dict) -> dict:
    return {name: value for name, value in row.items() if name not in METADATA}


@pytest.fixture
def recorded_changes(recorded_batch):
    return [decode_record(record, KEY_NAMES, STREAM_ARN) for record in recorded_batch()["Records"]]


@pytest.fixture
def recorded_decoded(recorded_changes, make_decoded):
    return make_decoded(recorded_changes)


@pytest.fixture
def recorded_diffed(recorded_decoded):
    return diff_changes(recorded_decoded, DiffSettings())


def lines_of(diffed: dict) -> list[dict]:
    return [json.loads(archive_line(change)) for change in diffed["changes"]]


# ---------------------------------------------------------------- the original row format


def test_given_the_original_insert_when_rows_are_built_then_it_is_exactly_its_insert_row(recorded_changes):
    insert = recorded_changes[0]

    [row] = audit_rows(insert)

    assert seed_fields(row) == {
        "id": {"S": audit_id(insert)},
        "itemKey": {"S": "CACHE_TTL_SEC"},
        "modificationTime": {"S": "2024-06-15T10:00:00.000Z"},
        "newValue": {"M": SEED_ITEM},
    }
    assert decode_image(seed_fields(row))["newValue"] == {"key": "CACHE_TTL_SEC", "value": 3600}


def test_given_the_original_update_when_rows_are_built_then_it_is_exactly_its_update_row(recorded_changes):
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


def test_given_a_modify_that_changes_nothing_when_diffed_then_it_has_no_changed_attribute_and_no_row(make_change, make_decoded):
    change = make_change(old=SEED_ITEM, new=dict(SEED_ITEM))

    output = diff_changes(make_decoded([change]), DiffSettings())

    [diffed] = output["changes"]
    assert diffed["changedAttributes"] == []
    assert audit_rows(diffed) == []


def test_given_rows_of_a_change_when_built_with_its_archive_key_then_only_the_first_row_claims_it(make_change):
    change = make_change(old={**SEED_ITEM, "a": {"N": "1"}}, new={**SEED_ITEM, "a": {"N": "2"}, "value": {"N": "9"}})

    first, second = audit_rows(change, "ddb-changes/Configuration/2024/06/15/10/1-2-abc.jsonl")

    assert first["archiveKey"] == {"S": "ddb-changes/Configuration/2024/06/15/10/1-2-abc.jsonl"}
    assert "archiveKey" not in second, "every other row is the same whichever execution writes it"


def test_given_a_composite_key_when_rows_are_built_then_the_parts_are_kept(make_change):
    keys = {"tenant": {"S": "acme"}, "name": {"S": "CACHE_TTL_SEC"}}
    change = make_change("INSERT", key_names=["tenant", "name"], keys=keys, new={**keys, "value": {"N": "3600"}})

    [row] = audit_rows(change)

    assert row["itemKey"] == {"S": "acme|CACHE_TTL_SEC"}
    assert row["itemKeyParts"] == {"M": {"tenant": {"S": "acme"}, "name": {"S": "CACHE_TTL_SEC"}}}


def test_given_the_separator_inside_key_values_when_rows_are_built_then_the_item_keys_differ(make_change):
    def key_of(tenant: str, name: str) -> str:
        keys = {"tenant": {"S": tenant}, "name": {"S": name}}
        change = make_change("INSERT", key_names=["tenant", "name"], keys=keys, new={**keys, "v": {"N": "1"}})
        return audit_rows(change)[0]["itemKey"]["S"]

    assert key_of("a|b", "c") != key_of("a", "b|c")
    assert key_of("a\\", "b") != key_of("a", "\\b")


def test_given_two_changes_of_one_item_when_sorted_by_history_key_then_stream_order_wins_within_a_second(make_change):
    earlier = make_change(sequence="9", created=1718445660)
    later = make_change(sequence="10", created=1718445660)
    next_second = make_change(sequence="8", created=1718445661)

    keys = [audit_rows(change)[0]["historySortKey"]["S"] for change in (next_second, later, earlier)]

    assert sorted(keys) == keys[::-1]


# ---------------------------------------------------------------- ids


def rows_of(diffed: dict) -> list[dict]:
    return [row for change in diffed["changes"] for row in audit_rows(change, diffed["archiveKey"])]


def test_given_the_same_input_twice_when_diffed_then_the_ids_and_archive_key_are_the_same(recorded_decoded):
    first = diff_changes(recorded_decoded, DiffSettings())
    second = diff_changes(json.loads(json.dumps(recorded_decoded)), DiffSettings())

    assert [row["id"] for row in rows_of(first)] == [row["id"] for row in rows_of(second)]
    assert first["archiveKey"] == second["archiveKey"]
    assert lines_of(first) == lines_of(second)


def test_given_a_batch_when_diffed_then_every_row_id_is_a_distinct_canonical_uuid(recorded_diffed):
    ids = [row["id"]["S"] for row in rows_of(recorded_diffed)]

    assert len(ids) == 4
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(value)) == value for value in ids)


@given(st.text())
@example("Configuration/5f1c2d3e4a5b6c7d8e9f/value")
@example("ключ 🔑/𝄞")
def test_given_any_name_when_an_audit_id_is_made_then_it_is_exactly_uuid5_of_it(name):
    # audit ids of original-format rows and of rows already written must not change with the fast path
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


def test_given_the_recorded_batch_when_keyed_then_prefix_table_hour_sequence_range_and_digest(recorded_changes):
    key = archive_key("ddb-changes", recorded_changes)

    assert re.fullmatch(
        r"ddb-changes/Configuration/2024/06/15/10/1195860200000000034221870811-1195860500000000034221872390-[0-9a-f]{16}\.jsonl",
        key,
    )
    assert archive_key("ddb-changes", json.loads(json.dumps(recorded_changes))) == key


def test_given_no_prefix_when_keyed_then_the_key_starts_at_the_table(recorded_changes):
    assert archive_key("", recorded_changes).startswith("Configuration/2024/06/15/10/")


def test_given_another_set_of_changes_with_the_same_ends_when_keyed_then_the_keys_differ(recorded_changes):
    everything = archive_key("p", recorded_changes)
    ends_only = archive_key("p", [recorded_changes[0], recorded_changes[-1]])

    assert everything.rsplit("-", 1)[0] == ends_only.rsplit("-", 1)[0], "same stream range"
    assert everything != ends_only, "a retry cut differently never shares an object with the original"


@given(created=st.integers(min_value=0, max_value=4_102_444_799), first=st.integers(min_value=1, max_value=10**39))
def test_given_any_chunk_when_keyed_then_the_key_has_the_documented_shape(make_change, created, first):
    change = make_change(created=created, sequence=str(first))

    key = archive_key("audit/prod", [change])

    assert re.fullmatch(rf"audit/prod/Configuration/\d{{4}}/\d{{2}}/\d{{2}}/\d{{2}}/{first}-{first}-[0-9a-f]{{16}}\.jsonl", key)
    assert key.split("/")[3:7] == change["modificationTime"][:13].replace("T", "-").split("-")


def test_given_a_replay_naming_its_object_when_diffed_then_that_key_is_kept(recorded_decoded):
    output = diff_changes({**recorded_decoded, "archiveKey": "ddb-changes/Configuration/x.jsonl"}, DiffSettings())

    assert output["archiveKey"] == "ddb-changes/Configuration/x.jsonl"


def test_given_the_recorded_batch_when_archived_then_one_json_line_per_change_in_stream_order(recorded_diffed, recorded_batch):
    records = recorded_batch()["Records"]

    lines = lines_of(recorded_diffed)

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

    [line] = lines_of(diff_changes(make_decoded([change]), DiffSettings()))

    image = line["newImage"]
    assert image["value"] == {"N": precise}
    assert image["tiny"] == {"NS": ["1E-130", "9.9999999999999999999999999999999999999E+125"]}


# ---------------------------------------------------------------- notifications


def announced(diffed: dict, mode: str, event_names: frozenset[str] = ALL_EVENTS) -> list[dict]:
    entries = [(change, [row["id"]["S"] for row in audit_rows(change)]) for change in diffed["changes"]]
    return notifications(entries, mode, event_names)


def messages(notes: list[dict]) -> list[dict]:
    return [json.loads(note["message"]) for note in notes]


def test_given_per_change_mode_when_announced_then_one_message_per_change_with_filterable_attributes(recorded_diffed):
    notes = announced(recorded_diffed, "change")

    assert [m["eventId"] for m in messages(notes)] == [c["eventId"] for c in recorded_diffed["changes"]]
    assert [n["attributes"]["eventName"] for n in notes] == [
        {"DataType": "String", "StringValue": name} for name in ("INSERT", "MODIFY", "REMOVE", "REMOVE")
    ]
    assert all(n["attributes"]["table"] == {"DataType": "String", "StringValue": "Configuration"} for n in notes)
    assert messages(notes)[1]["changedAttributes"] == ["value"]
    assert messages(notes)[1]["auditIds"] == [audit_rows(recorded_diffed["changes"][1])[0]["id"]["S"]]


def test_given_batch_mode_when_announced_then_one_summary_with_a_string_array_of_event_names(recorded_diffed):
    [note] = announced(recorded_diffed, "batch")

    assert note["attributes"]["eventName"]["DataType"] == "String.Array"
    assert json.loads(note["attributes"]["eventName"]["StringValue"]) == ["INSERT", "MODIFY", "REMOVE"]
    assert note["attributes"]["table"] == {"DataType": "String", "StringValue": "Configuration"}
    [message] = messages([note])
    assert message["eventIds"] == [c["eventId"] for c in recorded_diffed["changes"]]
    assert message["counts"] == {"INSERT": 1, "MODIFY": 1, "REMOVE": 2}
    assert message["itemKeys"] == ["CACHE_TTL_SEC", "SESSION_BANNER"]


def test_given_notifications_off_when_announced_then_none(recorded_diffed):
    assert announced(recorded_diffed, "off") == []


@pytest.mark.parametrize("mode", ["change", "batch"])
def test_given_an_event_name_filter_when_announced_then_only_those_events_are(recorded_diffed, mode):
    notes = announced(recorded_diffed, mode, frozenset({"REMOVE"}))

    removes = [c["eventId"] for c in recorded_diffed["changes"] if c["eventName"] == "REMOVE"]
    if mode == "change":
        assert [m["eventId"] for m in messages(notes)] == removes
    else:
        [message] = messages(notes)
        assert message["eventIds"] == removes
        assert json.loads(notes[0]["attributes"]["eventName"]["StringValue"]) == ["REMOVE"]


def test_given_a_filter_that_matches_nothing_when_batched_then_no_empty_summary(recorded_diffed):
    assert len(announced(recorded_diffed, "batch", frozenset({"INSERT"}))) == 1

    quiet = {**recorded_diffed, "changes": recorded_diffed["changes"][1:]}
    assert announced(quiet, "batch", frozenset({"INSERT"})) == []


# ---------------------------------------------------------------- the Diff state


def test_given_the_environment_when_settings_load_then_prefix_and_bucket_come_from_it(monkeypatch):
    monkeypatch.setenv("ARCHIVE_PREFIX", "/audit/prod/")
    monkeypatch.setenv("PAYLOAD_BUCKET", "payloads")

    assert DiffSettings.from_environment() == DiffSettings("audit/prod", "payloads")


def test_given_an_empty_environment_when_settings_load_then_defaults_apply(monkeypatch):
    for name in ("ARCHIVE_PREFIX", "PAYLOAD_BUCKET"):
        monkeypatch.delenv(name, raising=False)

    assert DiffSettings.from_environment() == DiffSettings()


def test_given_a_change_that_cannot_be_diffed_when_diffed_then_it_alone_is_rejected(make_change, make_decoded):
    good = make_change()
    broken = {**make_change(), "oldImage": {"value": {"N": "not a number"}}}

    output = diff_changes(make_decoded([good, broken]), DiffSettings())

    assert [change["eventId"] for change in output["changes"]] == [good["eventId"]]
    [rejected] = output["rejected"]
    assert (rejected["eventId"], rejected["state"]) == (broken["eventId"], "Diff")
    assert rejected["sequenceNumber"] == broken["sequenceNumber"]
    assert output["archiveKey"] == archive_key("ddb-changes", [good]), "the archive object is the good changes'"


def test_given_rejections_from_decode_when_diffed_then_they_are_kept(recorded_decoded):
    earlier = {"eventId": "e", "sequenceNumber": "1", "state": "Decode", "error": "MalformedStreamRecordError", "cause": "x"}

    output = diff_changes({**recorded_decoded, "rejected": [earlier]}, DiffSettings())

    assert output["rejected"] == [earlier]


# ---------------------------------------------------------------- attribute rules

IMAGE = {"key": {"S": "A"}, "value": {"N": "1"}, "owner": {"S": "ops"}, "updatedAt": {"S": "t1"}}


def modified(make_change, **new_values):
    return make_change("MODIFY", old=dict(IMAGE), new={**IMAGE, **new_values}, keys={"key": {"S": "A"}})


def diffed_with(rules: AttributeRules, make_decoded, *changes):
    return diff_changes(make_decoded(list(changes)), DiffSettings(rules={"Configuration": rules}))


def test_given_ignored_attributes_when_only_they_change_then_the_change_produces_nothing(make_change, make_decoded):
    noise = modified(make_change, updatedAt={"S": "t2"})
    real = modified(make_change, updatedAt={"S": "t3"}, value={"N": "2"})

    output = diffed_with(AttributeRules(ignore=frozenset({"updatedAt"})), make_decoded, noise, real)

    assert [change["eventId"] for change in output["changes"]] == [real["eventId"]]
    assert output["ignored"] == [noise["eventId"]]
    assert output["changes"][0]["changedAttributes"] == ["value"], "the ignored attribute leaves the diff"
    assert [row["updatedAttribute"]["S"] for row in audit_rows(output["changes"][0])] == ["value"]
    line = json.loads(archive_line(output["changes"][0]))
    assert line["newImage"]["updatedAt"] == {"S": "t3"}, "the archive keeps whole images"
    assert output["archiveKey"] == archive_key("ddb-changes", output["changes"]), "the object holds only kept changes"


def test_given_audit_attributes_when_a_change_touches_others_then_only_the_listed_are_audited(make_change, make_decoded):
    both = modified(make_change, value={"N": "2"}, owner={"S": "dev"})
    other = modified(make_change, owner={"S": "qa"})

    output = diffed_with(AttributeRules(audit=frozenset({"value"})), make_decoded, both, other)

    assert [change["changedAttributes"] for change in output["changes"]] == [["value"]]
    assert output["ignored"] == [other["eventId"]]


def test_given_rules_when_an_insert_or_remove_comes_then_the_whole_item_is_audited(make_change, make_decoded):
    insert = make_change("INSERT", new=dict(IMAGE), keys={"key": {"S": "A"}})
    remove = make_change("REMOVE", old=dict(IMAGE), keys={"key": {"S": "A"}})

    output = diffed_with(
        AttributeRules(ignore=frozenset({"updatedAt"}), audit=frozenset({"value"})), make_decoded, insert, remove
    )

    assert [change["eventId"] for change in output["changes"]] == [insert["eventId"], remove["eventId"]]
    assert audit_rows(output["changes"][0])[0]["newValue"]["M"] == IMAGE
    assert "ignored" not in output


def test_given_rules_for_another_table_when_diffed_then_this_tables_changes_are_untouched(make_change, make_decoded):
    noise = modified(make_change, updatedAt={"S": "t2"})

    output = diff_changes(make_decoded([noise]), DiffSettings(rules={"Orders": AttributeRules(ignore=frozenset({"updatedAt"}))}))

    assert output["changes"][0]["changedAttributes"] == ["updatedAt"]


def test_given_a_modify_that_changes_nothing_when_rules_apply_then_it_is_kept_as_without_rules(make_change, make_decoded):
    same = modified(make_change)

    output = diffed_with(AttributeRules(ignore=frozenset({"updatedAt"})), make_decoded, same)

    assert [change["changedAttributes"] for change in output["changes"]] == [[]]


def test_attribute_rules_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("ATTRIBUTE_RULES", '{"Configuration":{"ignore":["updatedAt"],"audit":[]},"Orders":{"audit":["status"]}}')

    assert DiffSettings.from_environment().rules == {
        "Configuration": AttributeRules(ignore=frozenset({"updatedAt"})),
        "Orders": AttributeRules(audit=frozenset({"status"})),
    }
    assert attribute_rules("{}") == {}
