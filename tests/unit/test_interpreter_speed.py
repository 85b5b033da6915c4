"""The embedded interpreter's fast copy must be an exact deep copy of state data."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from changetrail.embedded.interpreter_speed import json_deepcopy

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


def shape(value):
    """Value and exact type at every level (True is not 1)."""
    if isinstance(value, dict):
        return ("dict", {key: shape(item) for key, item in value.items()})
    if isinstance(value, list):
        return ("list", [shape(item) for item in value])
    return (type(value).__name__, value)


@given(json_values)
def test_given_json_state_data_when_copied_then_equal_in_value_and_type_and_independent(value):
    copied = json_deepcopy(value)

    assert shape(copied) == shape(value)
    if isinstance(value, (dict, list)):
        assert copied is not value
        copied_again = json_deepcopy(value)
        if isinstance(value, dict):
            copied_again["__new__"] = 1
        else:
            copied_again.append(1)
        assert shape(value) == shape(json_deepcopy(value)), "the original is untouched by changes to a copy"


class Kind(enum.StrEnum):
    TASK = "Task"


def test_given_objects_marshal_does_not_handle_when_copied_then_deepcopy_semantics_apply():
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    value = {"when": moment, "kind": Kind.TASK, "amount": Decimal("1.10"), "nested": [{"a": 1}]}

    copied = json_deepcopy(value)

    assert copied == value and copied is not value and copied["nested"][0] is not value["nested"][0]
    assert type(copied["kind"]) is Kind and type(copied["when"]) is datetime
