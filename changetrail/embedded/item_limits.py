"""Refuse DynamoDB items as AWS does: nested deeper than 32 levels, or larger than 400 KB.

AWS's measure (``functions.dynamodb_limits``, the one WriteAudit fits its rows by) refuses an
item above 409,600 bytes, or with an attribute value nested past level 32, with a
``ValidationException``, on PutItem, BatchWriteItem and UpdateItem.

moto 5.2.5 checks no depth at all, and its size check measures differently (numbers by their
text, no list or map overhead) against 405,000 bytes, so it refuses items AWS stores (a 400 KB
string, or many long numbers) and stores items AWS refuses (many list or map elements).

Here moto's check is replaced by AWS's: on every stored put (PutItem, and the puts of
BatchWriteItem, all checked before any is written, as AWS validates the request first), and on
UpdateItem against the item as the update would leave it (worked out on a copy first, so a
refused update changes nothing) and against its expression values' depth. TransactWriteItems'
puts and updates pass the same checks. A malformed value is left to moto's own validation.
UpdateItem is measured as the finished item, as ten regions do; the other regions'
statement-sized rule (what the update writes, plus a cost per clause) is not modelled.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge, MockValidationException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import UpdateExpressionValidator
from moto.dynamodb.responses import DynamoHandler

from functions.dynamodb_limits import MAX_ITEM_BYTES, item_size, too_deep

NESTING_MESSAGE = (
    "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
)


class NestingTooDeep(MockValidationException):
    def __init__(self) -> None:
        super().__init__(NESTING_MESSAGE)


def check_depth(values: dict[str, dict[str, Any]]) -> None:
    try:
        deep = too_deep(values)
    except (AttributeError, TypeError, ValueError):  # malformed: moto's own validation answers it
        return
    if deep:
        raise NestingTooDeep()


def check_item(
    attributes: dict[str, dict[str, Any]], too_large: Callable[[], MockValidationException] = ItemSizeTooLarge
) -> None:
    """Raise AWS's ValidationException if the item nests too deep or is larger than 400 KB."""
    check_depth(attributes)
    try:
        size = item_size(attributes)
    except (AttributeError, TypeError, ValueError):  # malformed (binascii.Error is a ValueError): left to moto
        return
    if size > MAX_ITEM_BYTES:
        raise too_large()


# -- the patches ---------------------------------------------------------------------------
_original_setitem = LimitedSizeDict.__setitem__
_original_table_put = Table.put_item
_original_batch_write = DynamoHandler.batch_write_item
_original_update = DynamoDBBackend.update_item


def _table_put_item(table: Table, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Item:
    check_item(item_attrs)
    return _original_table_put(table, item_attrs, *args, **kwargs)


MAX_BATCH_WRITES = 25
MAX_BATCH_WRITE_BYTES = 16 * 1024 * 1024


def _batch_write_item(handler: DynamoHandler) -> Any:
    """BatchWriteItem's own limits too (API reference): at most 25 requests and 16 MB in one call."""
    tables = handler.body.get("RequestItems") or {}
    if sum(len(requests) for requests in tables.values()) > MAX_BATCH_WRITES:
        raise MockValidationException(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have length less than or equal to 25]"
        )
    requested = sum(
        item_size(request["PutRequest"].get("Item") or {})
        for requests in tables.values()
        for request in requests
        if "PutRequest" in request
    )
    if requested > MAX_BATCH_WRITE_BYTES:
        raise MockValidationException("Item size has exceeded the maximum allowed size")  # the request, past 16 MB
    for requests in tables.values():
        for request in requests:
            if "PutRequest" in request:
                check_item(request["PutRequest"].get("Item") or {})
    return _original_batch_write(handler)


def _finished_item(
    backend: DynamoDBBackend,
    table_name: str,
    key: dict[str, Any],
    update_expression: str,
    names: dict[str, Any],
    values: dict[str, Any],
    attribute_updates: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The item as the update would leave it, worked out on a copy; None if moto would refuse the update anyway."""
    table = backend.get_table(table_name)
    if table.hash_key_attr not in key:
        return None
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr and table.range_key_attr in key else None
    stored = table.get_item(hash_value, range_value)
    item = copy.deepcopy(stored) if stored is not None else Item(hash_value, range_value, attrs=dict(key))
    if update_expression:
        ast = UpdateExpressionParser.make(update_expression)
        validated = UpdateExpressionValidator(
            ast, expression_attribute_names=names, expression_attribute_values=values, item=item, table=table
        ).validate()
        validated.normalize()
        UpdateExpressionExecutor(validated, item, names).execute()
    elif attribute_updates:
        item.update_with_attribute_updates(attribute_updates)
    return item.to_json()["Attributes"]


def _update_item(
    backend: DynamoDBBackend,
    table_name: str,
    key: dict[str, dict[str, Any]],
    update_expression: str,
    expression_attribute_names: dict[str, Any],
    expression_attribute_values: dict[str, Any],
    attribute_updates: dict[str, Any] | None = None,
    *args: Any,
    **kwargs: Any,
) -> Item:
    check_depth(expression_attribute_values or {})
    try:
        finished = _finished_item(
            backend,
            table_name,
            key,
            update_expression,
            expression_attribute_names,
            expression_attribute_values,
            attribute_updates,
        )
    except Exception:  # noqa: BLE001 -- moto's own update below raises the right error for a refused update
        finished = None
    if finished is not None:
        check_item(finished, ItemSizeToUpdateTooLarge)
    return _original_update(
        backend,
        table_name,
        key,
        update_expression,
        expression_attribute_names,
        expression_attribute_values,
        attribute_updates,
        *args,
        **kwargs,
    )


def install() -> None:
    # The ignores: moto's methods, replaced in place; mypy holds each replacement to moto's own signature.
    LimitedSizeDict.__setitem__ = dict.__setitem__  # type: ignore[method-assign]  # moto's measure, replaced
    Table.put_item = _table_put_item  # type: ignore[method-assign,assignment]
    DynamoHandler.batch_write_item = _batch_write_item  # type: ignore[method-assign,assignment]
    DynamoDBBackend.update_item = _update_item  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    LimitedSizeDict.__setitem__ = _original_setitem  # type: ignore[method-assign]
    Table.put_item = _original_table_put  # type: ignore[method-assign]
    DynamoHandler.batch_write_item = _original_batch_write  # type: ignore[method-assign]
    DynamoDBBackend.update_item = _original_update  # type: ignore[method-assign]
