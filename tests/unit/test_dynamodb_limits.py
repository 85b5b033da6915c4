"""DynamoDB's item measure, nesting levels and key values: the one measure WriteAudit and the embedded AWS share."""

from __future__ import annotations

import pytest

from functions.dynamodb_limits import (
    MAX_PARTITION_KEY_BYTES,
    fits,
    item_size,
    key_value,
    nesting_levels,
    number_size,
    too_deep,
    value_size,
)

# Each number's bytes, measured at the 400 KB gate by accept/refuse pairs (a public capture
# against DynamoDB, eu-west-2, 2026-08): significant digits, each side of the point rounded up.
MEASURED_NUMBERS = [
    ("0", 1), ("1", 2), ("12", 2), ("123", 3), ("1234", 3), ("12345678901234567890123456789012345678", 20),
    ("0042", 2), ("100", 2), ("1010", 3), ("0.0000001", 2), ("1E125", 2), ("1E-100", 2), ("1.5", 3), ("15", 2),
    ("1.2", 3), ("1.200", 3), ("1.234", 4), ("3.14159", 5), ("123456", 4), ("100.5", 4), ("0.15", 2), ("-42", 3),
    ("-0", 1),
]  # fmt: skip


@pytest.mark.parametrize(("literal", "size"), MEASURED_NUMBERS)
def test_a_number_costs_its_significant_digits_by_halves_each_side_of_the_point(literal, size):
    assert number_size(literal) == size


def test_documents_cost_3_bytes_and_1_per_element_and_scalars_what_the_guide_says():
    assert value_size({"S": "naïve"}) == 6  # UTF-8 bytes
    assert value_size({"B": "AAEC"}) == value_size({"B": b"\x00\x01\x02"}) == 3  # raw bytes, base64 or not
    assert value_size({"BOOL": False}) == value_size({"NULL": True}) == 1
    assert value_size({"SS": ["a", "bc"]}) == 3 and value_size({"NS": ["1", "12345"]}) == 2 + 4
    assert value_size({"M": {}}) == value_size({"L": []}) == 3
    assert value_size({"M": {"ab": {"S": "xyz"}}}) == 3 + 2 + 3 + 1
    assert value_size({"L": [{"S": "xyz"}, {"NULL": True}]}) == 3 + (3 + 1) + (1 + 1)
    assert item_size({"key": {"S": "K"}, "n": {"N": "12345"}}) == (3 + 1) + (1 + 4)


def test_the_attribute_is_level_1_and_each_list_or_map_adds_one():
    assert nesting_levels({"S": "x"}) == nesting_levels({"SS": ["x"]}) == 1
    assert nesting_levels({"M": {}}) == 1 and nesting_levels({"L": [{"M": {"a": {"N": "1"}}}]}) == 3
    assert nesting_levels({"M": {"flat": {"S": "x"}, "deep": {"L": [{"L": [{"S": "x"}]}]}}}) == 4


def test_a_key_value_that_fits_is_itself_and_a_longer_one_a_bounded_prefix_and_digest():
    assert key_value("k" * MAX_PARTITION_KEY_BYTES) == "k" * MAX_PARTITION_KEY_BYTES
    long_a, long_b = "é" * 1500 + "a", "é" * 1500 + "b"  # same first 2,048 bytes, different keys
    bounded_a, bounded_b = key_value(long_a), key_value(long_b)

    assert bounded_a != bounded_b and key_value(long_a) == bounded_a
    assert all(len(bounded.encode()) <= MAX_PARTITION_KEY_BYTES for bounded in (bounded_a, bounded_b))
    assert bounded_a.startswith("é" * 100) and "�" not in bounded_a  # cut between characters


@pytest.mark.parametrize(("levels", "stored"), [(31, True), (32, True), (33, False)])
@pytest.mark.parametrize("kind", ["M", "L"])
def test_dynamodb_stores_a_value_of_31_or_32_levels_and_refuses_33(levels, stored, kind):
    """The attribute is level 1: 31 maps or lists above a scalar are stored, 32 are refused (Constraints page)."""
    value: dict = {"S": "leaf"}
    for _ in range(levels - 1):
        value = {"M": {"n": value}} if kind == "M" else {"L": [value]}

    assert nesting_levels(value) == levels
    assert fits({"deep": value}) is stored and too_deep({"deep": value}) is not stored
