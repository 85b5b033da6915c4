"""Hypothesis strategies for DynamoDB values, and exact comparison helpers for decoded values."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from hypothesis import strategies as st

serializer = TypeSerializer()


@st.composite
def dynamodb_numbers(draw) -> Decimal:
    """Any number DynamoDB stores: up to 38 significant digits, magnitude 1E-130 .. 9.99..E+125."""
    digits = draw(st.integers(min_value=1, max_value=38))
    coefficient = draw(st.integers(min_value=10 ** (digits - 1), max_value=10**digits - 1))
    exponent = draw(st.integers(min_value=max(-165, -130 - (digits - 1)), max_value=125 - (digits - 1)))
    sign = draw(st.sampled_from(["", "-"]))
    return Decimal(f"{sign}{coefficient}E{exponent}")


numbers = st.one_of(st.just(Decimal(0)), dynamodb_numbers())
texts = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=20)  # empty, unicode, astral
names = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=10)
scalars = st.one_of(
    texts,
    numbers,
    st.binary(max_size=20),
    st.booleans(),
    st.none(),
    st.sets(texts, min_size=1, max_size=5),
    st.sets(numbers, min_size=1, max_size=5),
    st.sets(st.binary(max_size=10), min_size=1, max_size=5),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=4),
    max_leaves=12,
)
"""Python values of every DynamoDB type (S, N, B, BOOL, NULL, SS, NS, BS, L, M), nested."""
items = st.dictionaries(names, values, min_size=1, max_size=6)


def on_the_wire(value: Any) -> Any:
    """boto3's DynamoDB JSON (binary as bytes) -> Lambda's stream event form (binary as base64 text)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: on_the_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [on_the_wire(v) for v in value]
    return value


def wire_item(item: dict[str, Any]) -> dict[str, Any]:
    """A Python item -> its DynamoDB JSON image as a stream event carries it."""
    return on_the_wire({name: serializer.serialize(value) for name, value in item.items()})


def typed(value: Any, exact_numbers: bool = True) -> Any:
    """A decoded value with its DynamoDB type kept: True is not 1, bytes are not boto3 ``Binary``.

    ``exact_numbers`` also tells 1.0 from 1 (the representation); without it numbers compare by value.
    """
    if isinstance(value, bool):
        return ("BOOL", value)
    if value is None:
        return ("NULL",)
    if isinstance(value, Decimal):
        return ("N", value.as_tuple() if exact_numbers else value)
    if isinstance(value, str):
        return ("S", value)
    if type(value) is bytes:
        return ("B", value)
    if isinstance(value, (set, frozenset)):
        return ("SET", frozenset(typed(v, exact_numbers) for v in value))
    if isinstance(value, list):
        return ("L", tuple(typed(v, exact_numbers) for v in value))
    if isinstance(value, dict):
        return ("M", tuple(sorted((k, typed(v, exact_numbers)) for k, v in value.items())))
    raise TypeError(f"not a decoded DynamoDB value: {type(value).__name__}")
