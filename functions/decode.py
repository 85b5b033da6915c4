"""Decode state: stream records (inline or by claim check) -> validated, decoded changes."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
from datetime import UTC, datetime
from decimal import Decimal, DecimalException
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary, TypeDeserializer

from functions import claims
from functions.contracts import (
    EVENT_NAMES,
    IMAGES_BY_EVENT,
    REQUIRED_VIEW_TYPE,
    STATE_BUDGET,
    UNKNOWN_TABLE,
    Change,
    Changes,
    ExecutionInput,
    Rejected,
    S3Location,
    batch_id,
)
from functions.exceptions import (
    MalformedExecutionInputError,
    MalformedStreamRecordError,
    WrongStreamViewTypeError,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from functions.contracts import DynamoItem, DynamoJson

logger = Logger(service="changetrail-decode")
_deserializer = TypeDeserializer()
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
KEY_SEPARATOR = "|"
ESCAPE = "\\"
CAUSE_LIMIT = 2000
"""Characters of a rejected change's cause kept in the state (the dead letter keeps the whole input)."""


def decode_value(value: DynamoJson) -> Any:
    """DynamoDB JSON -> Python value; numbers are exact ``Decimal``, binary is ``bytes``.

    Accepts binary as the base64 text of Lambda's stream events (and of the archive) or as bytes.
    Every type but binary is decoded here exactly as boto3's ``TypeDeserializer`` would, without
    its per-call dispatch (the hot path of Decode and Diff); binary goes through it.
    """
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "S" or tag == "BOOL":
            return inner
        if tag == "N":
            return _number(inner)
        if tag == "M":
            return {name: decode_value(item) for name, item in inner.items()}
        if tag == "L":
            return [decode_value(item) for item in inner]
        if tag == "SS":
            return set(inner)
        if tag == "NS":
            return {_number(item) for item in inner}
        if tag == "NULL":
            return None
    decoded = _deserializer.deserialize(binary_as_bytes(value))
    return _unwrap_binary(decoded)


def check_value(value: DynamoJson) -> None:
    """Raise what ``decode_value`` would raise for this value, without building the decoded value."""
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag in ("S", "BOOL", "NULL"):
            return
        if tag == "N":
            _number(inner)
            return
        if tag == "M":
            for item in inner.values():
                check_value(item)
            return
        if tag == "L":
            for item in inner:
                check_value(item)
            return
        if tag == "SS":
            set(inner)
            return
        if tag == "NS":
            for item in inner:
                _number(item)
            return
    decode_value(value)  # binary, and what is malformed: the full decoder's checks


def _number(text: str) -> Decimal:
    number = DYNAMODB_CONTEXT.create_decimal(text)
    if not number.is_finite():
        raise ValueError(f"number {number} is not a DynamoDB number")
    return number


def binary_as_bytes(value: DynamoJson) -> DynamoJson:
    (tag, inner), *rest = value.items()
    if rest:
        raise ValueError(f"attribute value has {len(rest) + 1} type tags: {sorted(value)}")
    if tag == "B":
        return {"B": _bytes(inner)}
    if tag == "BS":
        return {"BS": [_bytes(item) for item in inner]}
    if tag == "L":
        return {"L": [binary_as_bytes(item) for item in inner]}
    if tag == "M":
        return {"M": {name: binary_as_bytes(item) for name, item in inner.items()}}
    return value


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, (bytes, bytearray)) else base64.b64decode(value, validate=True)


def decode_image(image: DynamoItem) -> dict[str, Any]:
    """A whole DynamoDB JSON item -> plain values (see ``decode_value``)."""
    return {name: decode_value(value) for name, value in image.items()}


def _unwrap_binary(value: Any) -> Any:
    """boto3's ``Binary`` -> ``bytes`` everywhere; refuses non-finite numbers (``{"N": "abc"}`` is NaN in boto3)."""
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"number {value} is not a DynamoDB number")
    if isinstance(value, set) and value and isinstance(next(iter(value)), Decimal):
        for number in value:
            _unwrap_binary(number)
        return value
    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, dict):
        return {k: _unwrap_binary(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_binary(v) for v in value]
    if isinstance(value, set) and value and isinstance(next(iter(value)), Binary):
        return {bytes(v) for v in value}
    return value


def key_text(value: Any) -> str:
    """A key attribute's value as readable text: strings as is, numbers exact, binary base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def item_key(parts: list[str]) -> str:
    """An item's history key: a hash key's value as it is; composite keys joined by ``|``.

    Inside each part ``\\`` and ``|`` are escaped with ``\\``, so ("a|b", "c") and ("a", "b|c")
    never share a history; ``split_item_key`` gives the parts back.
    """
    if len(parts) == 1:
        return parts[0]
    return KEY_SEPARATOR.join(part.replace(ESCAPE, ESCAPE * 2).replace(KEY_SEPARATOR, ESCAPE + KEY_SEPARATOR) for part in parts)


def split_item_key(text: str) -> list[str]:
    """The parts of an ``item_key``: ``|`` separates, ``\\`` escapes the next character."""
    parts, current, escaped = [], [], False
    for character in text:
        if escaped:
            current.append(character)
            escaped = False
        elif character == ESCAPE:
            escaped = True
        elif character == KEY_SEPARATOR:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    if escaped:
        raise ValueError(f"item key {text!r} ends in an unfinished escape; write a backslash as \\\\")
    return [*parts, "".join(current)]


@functools.lru_cache(maxsize=1024)
def modification_time(approximate_creation: Any) -> str:
    """Stream ApproximateCreationDateTime (epoch seconds) -> ISO 8601 UTC with milliseconds.

    Cached: a batch's records share a handful of creation times (the stream keeps them to the second).
    """
    moment = datetime.fromtimestamp(float(approximate_creation), tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def table_from_arn(arn: str) -> str:
    """``arn:aws:dynamodb:r:a:table/NAME/stream/LABEL`` -> ``NAME``."""
    try:
        return arn.split(":", 5)[5].split("/")[1]
    except IndexError as error:
        raise MalformedStreamRecordError(f"eventSourceArn {arn!r} is not a DynamoDB stream ARN") from error


def decode_record(record: dict[str, Any], key_names: list[str], event_source_arn: str) -> Change:
    """Validate one stream record and decode its envelope; images stay lossless DynamoDB JSON."""
    where = f"stream record {record.get('eventID', '<no eventID>')}"
    try:
        event_name = record["eventName"]
        stream = record["dynamodb"]
        keys = stream["Keys"]
        sequence_number = str(stream["SequenceNumber"])
        created = stream["ApproximateCreationDateTime"]
        event_id = record["eventID"]
    except (KeyError, TypeError) as error:
        raise MalformedStreamRecordError(f"{where}: missing field {error}") from error
    if event_name not in EVENT_NAMES:
        raise MalformedStreamRecordError(f"{where}: eventName {event_name!r} is not one of {EVENT_NAMES}")
    view_type = stream.get("StreamViewType", REQUIRED_VIEW_TYPE)
    if view_type != REQUIRED_VIEW_TYPE:
        raise WrongStreamViewTypeError(
            f"{where}: stream view type is {view_type}; set the table's stream to {REQUIRED_VIEW_TYPE}"
        )
    images = {name: stream[name] for name in ("OldImage", "NewImage") if name in stream}
    missing = [name for name in IMAGES_BY_EVENT[event_name] if name not in images]
    if missing:
        raise MalformedStreamRecordError(f"{where}: {event_name} record has no {', '.join(missing)}")
    try:
        plain_keys = decode_image(keys)
        for image in images.values():
            for value in image.values():
                check_value(value)
    except (TypeError, ValueError, AttributeError, KeyError, binascii.Error, DecimalException) as error:
        raise MalformedStreamRecordError(f"{where}: invalid DynamoDB JSON: {error}") from error
    parts = {name: key_text(plain_keys[name]) for name in _ordered_key_names(plain_keys, key_names)}
    identity = record.get("userIdentity") or {}
    change: Change = {
        "eventId": event_id,
        "eventName": event_name,
        "table": table_from_arn(record.get("eventSourceARN") or event_source_arn),
        "keys": keys,
        "itemKey": item_key(list(parts.values())),
        "itemKeyParts": parts,
        "sequenceNumber": sequence_number,
        "modificationTime": modification_time(created),
        # Only a delete can be a TTL expiry; other records may carry a userIdentity too.
        "expiredByTtl": event_name == "REMOVE"
        and identity.get("type") == "Service"
        and identity.get("principalId") == TTL_PRINCIPAL,
    }
    if "OldImage" in images:
        change["oldImage"] = images["OldImage"]
    if "NewImage" in images:
        change["newImage"] = images["NewImage"]
    return change


def _ordered_key_names(plain_keys: dict[str, Any], key_names: list[str]) -> list[str]:
    """Hash key first, then range key (as configured); unknown schemas fall back to name order."""
    known = [name for name in key_names if name in plain_keys]
    return known + sorted(name for name in plain_keys if name not in known)


def decode_input(execution_input: ExecutionInput, source_keys: Mapping[str, list[str]], load_ref: Any) -> Changes:
    """Execution input -> decoded changes in stream order; a record that cannot be decoded is rejected alone.

    ``source_keys`` names each source table's key attributes, hash key first: one state machine serves
    every source, and each record says by its stream ARN which table it came from.
    """
    try:
        batch = execution_input["batch"]
    except (KeyError, TypeError) as error:
        raise MalformedExecutionInputError("execution input has no 'batch' coordinates") from error
    if "records" in execution_input:
        records = execution_input["records"]
    elif "recordsRef" in execution_input:
        records = load_ref(execution_input["recordsRef"])
    else:
        raise MalformedExecutionInputError("execution input has neither 'records' nor 'recordsRef'")
    only = set(execution_input["only"]) if "only" in execution_input else None
    changes: list[Change] = []
    rejected: list[Rejected] = []
    for record in records:
        if only is not None and event_id_of(record) not in only:
            continue
        arn = _record_arn(record, batch.get("eventSourceArn", ""))
        table = table_of_arn(arn)
        try:
            changes.append(decode_record(record, list(source_keys.get(table, [])), arn))
        except Exception as error:  # noqa: BLE001 -- decoding is pure: whatever fails, fails for this record alone
            rejected.append(rejection(record, "Decode", error, table))
    output: Changes = {"batch": batch, "changes": changes, "rejected": rejected}
    if "archiveKey" in execution_input:
        output["archiveKey"] = execution_input["archiveKey"]
    return output


def _record_arn(record: Any, batch_arn: str) -> str:
    arn = record.get("eventSourceARN") if isinstance(record, dict) else None
    return arn if isinstance(arn, str) and arn else batch_arn


def source_keys_from_environment() -> dict[str, list[str]]:
    """``SOURCE_KEYS``: ``{"table": ["hashKey", "rangeKey"]}`` as JSON."""
    try:
        keys = json.loads(os.environ.get("SOURCE_KEYS") or "{}")
    except json.JSONDecodeError as error:
        raise ValueError(f"SOURCE_KEYS is not JSON: {error}") from error
    return {str(table): [str(name) for name in names] for table, names in keys.items()}


def event_id_of(record: Any) -> str:
    return str(record.get("eventID", "")) if isinstance(record, dict) else ""


def table_of_arn(arn: str) -> str:
    """The table a stream ARN names, or ``unknown`` for an ARN too broken to name one (its record is rejected)."""
    try:
        return table_from_arn(arn) or UNKNOWN_TABLE
    except MalformedStreamRecordError:
        return UNKNOWN_TABLE


def rejection(record_or_change: Any, state: str, error: Exception, table: str | None = None) -> Rejected:
    """What the dead letter of one failed change says: which change of which table, where, and why."""
    stream = record_or_change.get("dynamodb") if isinstance(record_or_change, dict) else None
    sequence = stream.get("SequenceNumber") if isinstance(stream, dict) else None
    if isinstance(record_or_change, dict) and "sequenceNumber" in record_or_change:
        sequence = record_or_change["sequenceNumber"]
    event_id = record_or_change.get("eventId") if isinstance(record_or_change, dict) else None
    given = record_or_change if isinstance(record_or_change, dict) else {}
    return {
        "eventId": str(event_id or event_id_of(record_or_change)),
        "table": table or str(given.get("table") or UNKNOWN_TABLE),
        "sequenceNumber": str(sequence or ""),
        "state": state,
        "error": type(error).__name__,
        "cause": str(error)[:CAUSE_LIMIT],
    }


def rejected_ids(rejected: list[Rejected]) -> list[dict[str, str]]:
    """What a log line may say of rejected changes: which, where, what error; a cause can quote a value."""
    return [{"eventId": r["eventId"], "state": r["state"], "error": r["error"]} for r in rejected]


def _load_records(ref: S3Location) -> list[dict[str, Any]]:
    return claims.get_json(ref)["records"]


def changes_of(output: Changes) -> list[Change]:
    """The changes of a Decode or Diff output, inline or by claim check."""
    if "changes" in output:
        return output["changes"]
    return claims.get_json(output["changesRef"])["changes"]


def fit_changes(output: Changes, bucket: str) -> Changes:
    """Changes too large for the state go on by claim check."""
    if "changes" not in output or claims.json_size(output) <= STATE_BUDGET:
        return output
    fitted: Changes = {key: value for key, value in output.items() if key != "changes"}  # type: ignore[assignment]
    fitted["changesRef"] = claims.put_stage(bucket, {"changes": output["changes"]})
    return fitted


@logger.inject_lambda_context(clear_state=True)
def handler(event: ExecutionInput, context: Any) -> Changes:
    if isinstance(event, dict) and isinstance(event.get("batch"), dict) and "lastSequenceNumber" in event["batch"]:
        logger.set_correlation_id(batch_id(event["batch"]))
    output = decode_input(event, source_keys_from_environment(), _load_records)
    event_ids = [change["eventId"] for change in output["changes"]]
    logger.info(
        "decoded",
        extra={
            "changes": len(event_ids),
            "rejected": rejected_ids(output["rejected"]),
            "batch": output["batch"],
            "eventIds": event_ids,
        },
    )
    return fit_changes(output, os.environ["PAYLOAD_BUCKET"])
