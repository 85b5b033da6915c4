"""DynamoDB's item limits, measured as DynamoDB measures them: one measure for WriteAudit and the embedded AWS.

Size: the UTF-8 bytes of attribute names plus values (strings by UTF-8 bytes, binary by raw
bytes, numbers by significant digits, booleans and nulls 1 byte, lists and maps 3 bytes plus 1
per element); an item above 409,600 bytes is refused. Depth: the attribute itself is level 1
and every list or map around a value one more; a value past level 32 is refused (31 maps or
lists above a scalar are stored, 32 are not). Keys: a partition key value up to 2,048 bytes,
a sort key value up to 1,024, for a table's and for a global secondary index's keys alike.
"""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_ITEM_BYTES = 409_600
"""400 KB: an item of exactly this size is stored, one byte more is refused."""
MAX_NESTING_LEVELS = 32
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
DOCUMENT_OVERHEAD = 3
"""A list or a map costs 3 bytes, and each of its elements 1 more."""


def _utf8(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def _binary(value: Any) -> int:
    return len(value) if isinstance(value, (bytes, bytearray)) else len(base64.b64decode(value))


def number_size(literal: str) -> int:
    """1 byte, plus 1 per two significant digits on each side of the decimal point, plus 1 if negative.

    The documented rule ("1 byte per two significant digits, plus 1") refined by accept/refuse pairs
    at the 400 KB gate: each side of the point rounds up on its own, the exponent is not counted.
    """
    try:
        sign, digit_tuple, exponent = Decimal(literal.strip()).as_tuple()
    except InvalidOperation:
        return _utf8(literal)  # not a number: DynamoDB refuses it elsewhere
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    if not digits or not isinstance(exponent, int):
        return 1  # zero (never negative), or not finite
    significant = digits.rstrip("0")
    point = len(digits) + exponent  # integer digits before the point
    if 0 < point < len(significant):
        integer, fraction = point, len(significant) - point
    else:
        integer, fraction = len(significant), 0  # all on one side of the point
    return 1 + -(-integer // 2) + -(-fraction // 2) + (1 if sign else 0)


def value_size(value: dict[str, Any]) -> int:
    """One attribute value's bytes (DynamoDB JSON; binary as base64 text or as bytes)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return _utf8(inner)
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return _binary(inner)
    if kind == "SS":
        return sum(_utf8(v) for v in inner)
    if kind == "NS":
        return sum(number_size(v) for v in inner)
    if kind == "BS":
        return sum(_binary(v) for v in inner)
    if kind == "M":
        return DOCUMENT_OVERHEAD + sum(_utf8(k) + value_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return DOCUMENT_OVERHEAD + sum(value_size(v) + 1 for v in inner)
    return 1  # BOOL, NULL


def item_size(attributes: dict[str, dict[str, Any]]) -> int:
    return sum(_utf8(name) + value_size(value) for name, value in attributes.items())


def nesting_levels(value: dict[str, Any], cap: int = MAX_NESTING_LEVELS + 1) -> int:
    """Levels of an attribute value, counted up to ``cap``: 1 for a scalar or set, 1 more for each list or map around it."""
    ((kind, inner),) = value.items()
    if kind not in ("M", "L") or cap <= 1:
        return 1
    children = inner.values() if kind == "M" else inner
    return 1 + max((nesting_levels(child, cap - 1) for child in children), default=0)


def too_deep(attributes: dict[str, dict[str, Any]]) -> bool:
    return any(nesting_levels(value) > MAX_NESTING_LEVELS for value in attributes.values())


def fits(attributes: dict[str, dict[str, Any]]) -> bool:
    """DynamoDB stores this item: not nested too deep, not larger than 400 KB."""
    return not too_deep(attributes) and item_size(attributes) <= MAX_ITEM_BYTES


def key_value(text: str, limit: int = MAX_PARTITION_KEY_BYTES) -> str:
    """``text`` as a key value DynamoDB takes: itself if it fits ``limit`` bytes, else a prefix and its digest.

    The SHA-256 of the whole text keeps two long keys apart; the prefix keeps it readable. The same
    text always gives the same key value, so a reader finds the key from the text it was given.
    """
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    suffix = "…#sha256:" + hashlib.sha256(encoded).hexdigest()
    prefix = encoded[: limit - len(suffix.encode())].decode(errors="ignore")  # never a split character
    return prefix + suffix
