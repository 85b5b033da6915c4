"""Decode state: stream records -> validated changes; DynamoDB JSON -> exact Python values."""

from __future__ import annotations

import base64
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from functions.decode import (
    check_value,
    decode_image,
    decode_input,
    decode_record,
    decode_value,
    item_key,
    key_text,
    modification_time,
    source_keys_from_environment,
    split_item_key,
    table_from_arn,
)
from functions.exceptions import (
    MalformedExecutionInputError,
    MalformedStreamRecordError,
    WrongStreamViewTypeError,
)
from tests.unit.conftest import KEY_NAMES, SOURCE_KEYS, STREAM_ARN
from tests.unit.strategies import items, on_the_wire, serializer, typed, values, wire_item

ISO_MILLIS_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# ---------------------------------------------------------------- decode_value / decode_image


@given(values)
@example("😀𝄞 — ünïcödé")
@example("")
@example(Decimal("9.9999999999999999999999999999999999999E+125"))
@example(Decimal("-1E-130"))
@example(Decimal("12345678901234567890123456789012345678"))
@example({"ключ 🔑": [{"M": b"\x00\xff"}, None, True, Decimal("0.1")]})
def test_given_any_dynamodb_value_on_the_wire_when_decoded_then_it_round_trips_exactly(value):
    wire = json.loads(json.dumps(on_the_wire(serializer.serialize(value))))

    decoded = decode_value(wire)

    assert typed(decoded) == typed(value)


@given(values)
def test_given_dynamodb_json_with_binary_as_bytes_when_decoded_then_it_round_trips_exactly(value):
    assert typed(decode_value(serializer.serialize(value))) == typed(value)


@given(items)
def test_given_a_whole_item_when_decoded_then_every_attribute_round_trips(item):
    assert typed(decode_image(wire_item(item))) == typed(item)


def test_given_a_number_with_38_significant_digits_when_decoded_then_no_digit_is_lost():
    assert decode_value({"N": "0.12345678901234567890123456789012345678"}) == Decimal("0.12345678901234567890123456789012345678")
    assert decode_value({"NS": ["1E+125", "1E-130"]}) == {Decimal("1E+125"), Decimal("1E-130")}


def test_given_a_400_kb_item_when_decoded_then_every_attribute_is_there():
    big = "x" * 380_000
    image = {
        "key": {"S": "BIG"},
        "blob": {"S": big},
        "numbers": {"L": [{"N": str(n)} for n in range(2_000)]},
        "payload": {"B": base64.b64encode(b"\x01" * 6_000).decode()},
    }
    assert len(json.dumps(image)) > 390_000

    decoded = decode_image(image)

    assert decoded["blob"] == big
    assert decoded["numbers"][-1] == Decimal(1999)
    assert decoded["payload"] == b"\x01" * 6_000


# ---------------------------------------------------------------- envelope helpers


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (1704067200, "2024-01-01T00:00:00.000Z"),
        (1718445660, "2024-06-15T10:01:00.000Z"),
        (1704067200.123, "2024-01-01T00:00:00.123Z"),
        (Decimal("1704067200.5"), "2024-01-01T00:00:00.500Z"),
    ],
)
def test_given_approximate_creation_seconds_when_formatted_then_iso_8601_utc_with_millis_and_z(created, expected):
    assert modification_time(created) == expected


def test_given_a_stream_arn_when_parsed_then_the_table_name_comes_back():
    assert table_from_arn(STREAM_ARN) == "Configuration"


@pytest.mark.parametrize("arn", ["", "not-an-arn", "arn:aws:dynamodb:us-east-1:123456789012:table"])
def test_given_something_else_than_a_stream_arn_when_parsed_then_malformed_record(arn):
    with pytest.raises(MalformedStreamRecordError, match="eventSourceArn"):
        table_from_arn(arn)


@pytest.mark.parametrize(
    ("value", "text"),
    [("CACHE_TTL_SEC", "CACHE_TTL_SEC"), (Decimal("42"), "42"), (Decimal("1.50"), "1.50"), (b"\x00\xff", "AP8=")],
)
def test_given_a_key_value_when_rendered_then_it_is_readable_and_exact(value, text):
    assert key_text(value) == text


# ---------------------------------------------------------------- decode_record: recorded events


def test_given_the_recorded_original_insert_when_decoded_then_item_key_and_time_match_it(recorded_record):
    change = decode_record(recorded_record(0), KEY_NAMES, STREAM_ARN)

    assert change["itemKey"] == "CACHE_TTL_SEC"
    assert change["itemKeyParts"] == {"key": "CACHE_TTL_SEC"}
    assert change["modificationTime"] == "2024-06-15T10:00:00.000Z"
    assert ISO_MILLIS_Z.match(change["modificationTime"])
    assert change["eventName"] == "INSERT"
    assert change["eventId"] == "7de2f0c5a3a1b9e4c8d6f1a2b3c4d5e6"
    assert change["table"] == "Configuration"
    assert change["sequenceNumber"] == "1195860200000000034221870811"
    assert change["newImage"] == {"value": {"N": "3600"}, "key": {"S": "CACHE_TTL_SEC"}}
    assert "oldImage" not in change
    assert change["expiredByTtl"] is False


def test_given_the_recorded_modify_when_decoded_then_both_images_stay_lossless_dynamodb_json(recorded_record):
    record = recorded_record(1)

    change = decode_record(record, KEY_NAMES, STREAM_ARN)

    assert change["oldImage"] == record["dynamodb"]["OldImage"]
    assert change["newImage"] == record["dynamodb"]["NewImage"]
    assert change["keys"] == {"key": {"S": "CACHE_TTL_SEC"}}


def test_given_a_ttl_expiry_when_decoded_then_it_is_flagged_and_a_user_delete_is_not(recorded_record):
    expired = decode_record(recorded_record(3), KEY_NAMES, STREAM_ARN)
    deleted = decode_record(recorded_record(2), KEY_NAMES, STREAM_ARN)

    assert expired["expiredByTtl"] is True
    assert expired["itemKey"] == "SESSION_BANNER"
    assert deleted["expiredByTtl"] is False


@pytest.mark.parametrize(
    "identity",
    [
        {"type": "Service", "principalId": "lambda.amazonaws.com"},
        {"type": "User", "principalId": "dynamodb.amazonaws.com"},
    ],
)
def test_given_a_remove_by_another_principal_when_decoded_then_not_flagged_as_ttl(make_record, identity):
    change = decode_record(make_record("REMOVE", user_identity=identity), KEY_NAMES, STREAM_ARN)

    assert change["expiredByTtl"] is False


@pytest.mark.parametrize("event_name", ["INSERT", "MODIFY"])
def test_given_a_write_carrying_the_ttl_identity_when_decoded_then_it_is_not_a_ttl_expiry(make_record, event_name):
    identity = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}

    change = decode_record(make_record(event_name, user_identity=identity), KEY_NAMES, STREAM_ARN)

    assert change["expiredByTtl"] is False


def test_given_a_record_without_its_own_arn_when_decoded_then_the_batch_arn_names_the_table(make_record):
    record = make_record("INSERT")
    del record["eventSourceARN"]

    change = decode_record(
        record, KEY_NAMES, "arn:aws:dynamodb:eu-west-1:210987654321:table/Flags/stream/2024-02-02T00:00:00.000"
    )

    assert change["table"] == "Flags"


# ---------------------------------------------------------------- composite keys


def test_given_a_composite_key_when_decoded_then_item_key_is_hash_then_range_in_schema_order(make_record):
    keys = {"version": {"N": "42"}, "tenant": {"S": "acme"}}
    image = {**keys, "value": {"S": "on"}}

    change = decode_record(make_record("INSERT", keys=keys, new=image), ["tenant", "version"], STREAM_ARN)

    assert change["itemKey"] == "acme|42"
    assert list(change["itemKeyParts"].items()) == [("tenant", "acme"), ("version", "42")]


def test_given_the_schema_lists_range_first_when_decoded_then_that_order_is_kept(make_record):
    keys = {"tenant": {"S": "acme"}, "name": {"S": "FLAG"}}

    change = decode_record(make_record("INSERT", keys=keys, new=dict(keys)), ["name", "tenant"], STREAM_ARN)

    assert change["itemKey"] == "FLAG|acme"
    assert list(change["itemKeyParts"]) == ["name", "tenant"]


def test_given_a_binary_range_key_when_decoded_then_its_part_is_base64(make_record):
    keys = {"pk": {"S": "device"}, "sk": {"B": "AP8="}}

    change = decode_record(make_record("INSERT", keys=keys, new=dict(keys)), ["pk", "sk"], STREAM_ARN)

    assert change["itemKey"] == "device|AP8="


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (["a|b", "c"], "a\\|b|c"),
        (["a", "b|c"], "a|b\\|c"),
        (["a\\", "b"], "a\\\\|b"),
        (["", ""], "|"),
    ],
)
def test_given_the_separator_inside_composite_key_values_when_joined_then_it_is_escaped(parts, text):
    assert item_key(parts) == text
    assert split_item_key(text) == parts


def test_given_a_hash_only_key_when_joined_then_it_is_the_plain_value():
    assert item_key(["a|b\\c"]) == "a|b\\c"


separator_heavy = st.text(alphabet="ab|\\", max_size=6)


@given(st.lists(separator_heavy, min_size=2, max_size=2), st.lists(separator_heavy, min_size=2, max_size=2))
@example(["a|b", "c"], ["a", "b|c"])
def test_given_any_two_composite_keys_when_joined_then_they_split_back_and_differ_unless_equal(one, other):
    assert split_item_key(item_key(one)) == one
    assert (item_key(one) == item_key(other)) == (one == other)


def test_given_a_key_ending_in_a_lone_escape_when_split_then_refused():
    with pytest.raises(ValueError, match="unfinished escape"):
        split_item_key("a|b\\")


def test_given_no_configured_key_names_when_decoded_then_parts_fall_back_to_name_order(make_record):
    keys = {"zone": {"S": "b"}, "area": {"S": "a"}}

    change = decode_record(make_record("INSERT", keys=keys, new=dict(keys)), [], STREAM_ARN)

    assert change["itemKey"] == "a|b"


# ---------------------------------------------------------------- clear errors


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "eventID"),
        ((), "eventName"),
        ((), "dynamodb"),
        (("dynamodb",), "Keys"),
        (("dynamodb",), "SequenceNumber"),
        (("dynamodb",), "ApproximateCreationDateTime"),
    ],
)
def test_given_a_record_missing_a_required_field_when_decoded_then_malformed_record_names_it(recorded_record, path, field):
    record = recorded_record(1)
    target = record
    for part in path:
        target = target[part]
    del target[field]

    with pytest.raises(MalformedStreamRecordError, match=field):
        decode_record(record, KEY_NAMES, STREAM_ARN)


def test_given_a_record_whose_dynamodb_part_is_not_an_object_when_decoded_then_malformed_record(recorded_record):
    record = recorded_record(1)
    record["dynamodb"] = "oops"

    with pytest.raises(MalformedStreamRecordError):
        decode_record(record, KEY_NAMES, STREAM_ARN)


def test_given_an_unknown_event_name_when_decoded_then_malformed_record(make_record):
    record = make_record("MODIFY")
    record["eventName"] = "UPDATE"

    with pytest.raises(MalformedStreamRecordError, match="eventName 'UPDATE'"):
        decode_record(record, KEY_NAMES, STREAM_ARN)


@pytest.mark.parametrize(
    ("event_name", "image"), [("MODIFY", "OldImage"), ("MODIFY", "NewImage"), ("INSERT", "NewImage"), ("REMOVE", "OldImage")]
)
def test_given_a_record_without_the_image_its_event_needs_when_decoded_then_malformed_record(make_record, event_name, image):
    record = make_record(event_name)
    del record["dynamodb"][image]

    with pytest.raises(MalformedStreamRecordError, match=f"{event_name} record has no {image}"):
        decode_record(record, KEY_NAMES, STREAM_ARN)


@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE"])
def test_given_a_stream_without_both_images_when_decoded_then_wrong_view_type(make_record, view_type):
    record = make_record("MODIFY")
    record["dynamodb"]["StreamViewType"] = view_type

    with pytest.raises(WrongStreamViewTypeError, match="NEW_AND_OLD_IMAGES"):
        decode_record(record, KEY_NAMES, STREAM_ARN)


@pytest.mark.parametrize(
    "bad_value",
    [
        {"X": "unknown type tag"},
        {"S": "two", "N": "tags"},
        {},
        "not an attribute value",
        {"B": "not base64!"},
        {"N": "1234567890123456789012345678901234567890"},  # 40 significant digits
        {"N": "1E+200"},  # out of DynamoDB's range
        {"L": [{"M": {"inner": {"Q": "nested unknown tag"}}}]},
    ],
)
def test_given_invalid_dynamodb_json_in_an_image_when_decoded_then_malformed_record(make_record, bad_value):
    record = make_record("MODIFY", new={"key": {"S": "CACHE_TTL_SEC"}, "value": bad_value})

    with pytest.raises(MalformedStreamRecordError, match="invalid DynamoDB JSON"):
        decode_record(record, KEY_NAMES, STREAM_ARN)


def test_given_invalid_dynamodb_json_in_the_keys_when_decoded_then_malformed_record(make_record):
    record = make_record("INSERT")
    record["dynamodb"]["Keys"] = {"key": {"SX": "CACHE_TTL_SEC"}}

    with pytest.raises(MalformedStreamRecordError, match="invalid DynamoDB JSON"):
        decode_record(record, KEY_NAMES, STREAM_ARN)


# ---------------------------------------------------------------- decode_input


def batch_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "eventSourceArn": STREAM_ARN,
        "firstSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
        "lastSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
        "recordCount": len(records),
    }


def test_given_inline_records_when_decoded_then_changes_come_in_stream_order_with_the_batch(recorded_batch):
    records = recorded_batch()["Records"]
    execution_input = {"version": 1, "batch": batch_of(records), "records": records}

    def load_ref(ref):
        raise AssertionError("inline input must not load a claim check")

    output = decode_input(execution_input, SOURCE_KEYS, load_ref)

    assert output["batch"] == execution_input["batch"]
    assert [c["eventName"] for c in output["changes"]] == ["INSERT", "MODIFY", "REMOVE", "REMOVE"]
    assert [c["sequenceNumber"] for c in output["changes"]] == [r["dynamodb"]["SequenceNumber"] for r in records]


def test_given_a_claim_check_when_decoded_then_the_loader_reads_the_records(recorded_batch):
    records = recorded_batch()["Records"]
    ref = {"bucket": "changetrail-payloads", "key": "payloads/chg-abc.json"}
    loaded = []

    def load_ref(location):
        loaded.append(location)
        return records

    output = decode_input({"version": 1, "batch": batch_of(records), "recordsRef": ref}, SOURCE_KEYS, load_ref)

    assert loaded == [ref]
    assert len(output["changes"]) == len(records)


@pytest.mark.parametrize(
    "execution_input",
    [
        {"version": 1, "batch": {"eventSourceArn": STREAM_ARN}},
        {"version": 1, "records": []},
        None,
        [],
    ],
)
def test_given_input_without_batch_or_records_when_decoded_then_malformed_execution_input(execution_input):
    with pytest.raises(MalformedExecutionInputError):
        decode_input(execution_input, SOURCE_KEYS, lambda ref: [])


def test_given_one_bad_record_in_the_input_when_decoded_then_it_alone_is_rejected_with_a_clear_error(recorded_batch):
    records = recorded_batch()["Records"]
    records[2]["eventName"] = "PUT"

    output = decode_input({"version": 1, "batch": batch_of(records), "records": records}, SOURCE_KEYS, lambda ref: [])

    assert [c["eventId"] for c in output["changes"]] == [r["eventID"] for i, r in enumerate(records) if i != 2]
    [rejected] = output["rejected"]
    assert rejected["eventId"] == records[2]["eventID"]
    assert rejected["sequenceNumber"] == records[2]["dynamodb"]["SequenceNumber"]
    assert (rejected["state"], rejected["error"]) == ("Decode", "MalformedStreamRecordError")
    assert "eventName 'PUT'" in rejected["cause"]


def test_given_a_record_of_another_view_type_among_good_ones_when_decoded_then_it_alone_is_rejected(recorded_batch):
    records = recorded_batch()["Records"]
    records[1]["dynamodb"]["StreamViewType"] = "KEYS_ONLY"

    output = decode_input({"version": 1, "batch": batch_of(records), "records": records}, SOURCE_KEYS, lambda ref: [])

    assert len(output["changes"]) == 3
    assert [r["error"] for r in output["rejected"]] == ["WrongStreamViewTypeError"]


def test_given_only_some_event_ids_when_decoded_then_the_other_records_are_left_out(recorded_batch):
    records = recorded_batch()["Records"]
    wanted = [records[1]["eventID"], records[3]["eventID"]]
    execution_input = {"version": 1, "batch": batch_of(records), "records": records, "only": wanted}

    output = decode_input(execution_input, SOURCE_KEYS, lambda ref: [])

    assert [c["eventId"] for c in output["changes"]] == wanted


def test_given_a_replay_naming_its_archive_object_when_decoded_then_the_key_is_passed_on(recorded_batch):
    records = recorded_batch()["Records"]
    execution_input = {"version": 1, "batch": batch_of(records), "records": records, "archiveKey": "p/T/2024/x.jsonl"}

    assert decode_input(execution_input, SOURCE_KEYS, lambda ref: [])["archiveKey"] == "p/T/2024/x.jsonl"


@pytest.mark.parametrize("value", [{"N": "abc"}, {"N": "NaN"}, {"NS": ["1", "Infinity"]}, {"L": [{"N": "-inf"}]}])
def test_given_a_number_that_is_not_a_dynamodb_number_when_decoded_then_it_is_refused(value):
    # boto3's deserializer turns these into NaN/Infinity silently; the pipeline must not archive them as numbers.
    with pytest.raises(ValueError, match="is not a DynamoDB number"):
        decode_value(value)


def test_given_records_of_two_tables_when_decoded_then_each_takes_its_own_tables_key_order(make_record):
    keys = {"b": {"S": "1"}, "a": {"S": "2"}}
    other_arn = STREAM_ARN.replace("table/Configuration/", "table/Orders/")
    records = [make_record("INSERT", keys=keys, new=dict(keys)), make_record("INSERT", keys=keys, new=dict(keys))]
    records[1]["eventSourceARN"] = other_arn
    source_keys = {"Configuration": ["b", "a"], "Orders": ["a", "b"]}

    output = decode_input({"version": 1, "batch": batch_of(records), "records": records}, source_keys, lambda ref: [])

    configuration, orders = output["changes"]
    assert (configuration["table"], list(configuration["itemKeyParts"])) == ("Configuration", ["b", "a"])
    assert (orders["table"], list(orders["itemKeyParts"])) == ("Orders", ["a", "b"])
    assert configuration["itemKey"] != orders["itemKey"]


def test_source_keys_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("SOURCE_KEYS", '{"Configuration":["key"],"Orders":["tenant","id"]}')
    assert source_keys_from_environment() == {"Configuration": ["key"], "Orders": ["tenant", "id"]}
    monkeypatch.setenv("SOURCE_KEYS", "tenant,id")
    with pytest.raises(ValueError, match="SOURCE_KEYS is not JSON"):
        source_keys_from_environment()


MALFORMED = [
    {"N": "not a number"},
    {"N": "1e400"},
    {"NS": ["1", "x"]},
    {"B": "not base64!"},
    {"M": {"inner": {"N": "NaN"}}},
    {"L": [{"S": "fine"}, {"BS": ["@@"]}]},
    {"S": "a", "N": "1"},
    {"X": "unknown tag"},
    {"M": ["not", "a", "map"]},
    {"SS": [["unhashable"]]},
]


@pytest.mark.parametrize("value", MALFORMED, ids=[json.dumps(v)[:40] for v in MALFORMED])
def test_given_a_malformed_value_when_checked_then_it_fails_as_decoding_it_would(value):
    with pytest.raises(Exception) as decoding:
        decode_value(value)
    with pytest.raises(type(decoding.value)):
        check_value(value)


@given(values)
def test_given_any_valid_value_when_checked_then_it_passes_without_building_it(value):
    wire = on_the_wire(serializer.serialize(value))
    check_value(wire)  # the same value decodes, so it must check
    decode_value(wire)
