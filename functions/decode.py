"""Decode state: stream records (inline or by claim check) -> validated, decoded changes."""

from __future__ import annotations

import base64
import binascii
import os
from datetime import UTC, datetime
from decimal import Decimal, DecimalException
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from boto3.dynamodb.types import DYNAMODB_CONTEXT, Binary, TypeDeserializer

from functions import claims
from functions.contracts import Change, DecodeOutput, ExecutionInput, S3Location, batch_id
from functions.exceptions import (
    MalformedExecutionInputError,
    MalformedStreamRecordError,
    WrongStreamViewTypeError,
)

if TYPE_CHECKING:
    from functions.contracts import DynamoItem, DynamoJson

logger = Logger(service="changetrail-decode")
_deserializer = TypeDeserializer()
EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_NEEDED_IMAGES = {"INSERT": ("NewImage",), "MODIFY": ("OldImage", "NewImage"), "REMOVE": ("OldImage",)}


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


def modification_time(approximate_creation: Any) -> str:
    """Stream ApproximateCreationDateTime (epoch seconds) -> ISO 8601 UTC with milliseconds."""
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
    view_type = stream.get("StreamViewType", "NEW_AND_OLD_IMAGES")
    if view_type != "NEW_AND_OLD_IMAGES":
        raise WrongStreamViewTypeError(f"{where}: stream view type is {view_type}; set the table's stream to NEW_AND_OLD_IMAGES")
    images = {name: stream[name] for name in ("OldImage", "NewImage") if name in stream}
    missing = [name for name in _NEEDED_IMAGES[event_name] if name not in images]
    if missing:
        raise MalformedStreamRecordError(f"{where}: {event_name} record has no {', '.join(missing)}")
    try:
        plain_keys = decode_image(keys)
        for image in images.values():
            decode_image(image)
    except (TypeError, ValueError, AttributeError, KeyError, binascii.Error, DecimalException) as error:
        raise MalformedStreamRecordError(f"{where}: invalid DynamoDB JSON: {error}") from error
    parts = {name: key_text(plain_keys[name]) for name in _ordered_key_names(plain_keys, key_names)}
    identity = record.get("userIdentity") or {}
    change: Change = {
        "eventId": event_id,
        "eventName": event_name,
        "table": table_from_arn(record.get("eventSourceARN") or event_source_arn),
        "keys": keys,
        "itemKey": "|".join(parts.values()),
        "itemKeyParts": parts,
        "sequenceNumber": sequence_number,
        "modificationTime": modification_time(created),
        "expiredByTtl": identity.get("type") == "Service" and identity.get("principalId") == TTL_PRINCIPAL,
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


def decode_input(execution_input: ExecutionInput, key_names: list[str], load_ref: Any) -> DecodeOutput:
    """Execution input -> decoded changes, in stream order."""
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
    changes = [decode_record(record, key_names, batch["eventSourceArn"]) for record in records]
    return {"batch": batch, "changes": changes}


def _load_records(ref: S3Location) -> list[dict[str, Any]]:
    return claims.get_json(ref)["records"]


def pass_on_by_reference(output: DecodeOutput, records_ref: S3Location) -> DecodeOutput:
    """Records that came by claim check decode to changes as large: they go on the same way."""
    key = f"{claims.PREFIX}{batch_id(output['batch'])}.changes.json"
    ref = claims.put_json(records_ref["bucket"], key, {"changes": output["changes"]})
    return {"batch": output["batch"], "changesRef": ref}


@logger.inject_lambda_context(clear_state=True)
def handler(event: ExecutionInput, context: Any) -> DecodeOutput:
    key_names = [name for name in os.environ.get("SOURCE_KEY_NAMES", "").split(",") if name]
    if isinstance(event, dict) and isinstance(event.get("batch"), dict) and "lastSequenceNumber" in event["batch"]:
        logger.set_correlation_id(batch_id(event["batch"]))
    output = decode_input(event, key_names, _load_records)
    event_ids = [change["eventId"] for change in output["changes"]]
    logger.info("decoded", extra={"changes": len(event_ids), "batch": output["batch"], "eventIds": event_ids})
    return pass_on_by_reference(output, event["recordsRef"]) if "recordsRef" in event else output
