"""Every wire contract of the pipeline, in one place.

Images and audit values stay in DynamoDB JSON between states and in the archive: it is the
only JSON form that keeps every DynamoDB type (sets, binary, 38-digit numbers) exactly, so a
restore puts back the very item that was changed.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal, NotRequired, TypedDict

CONTRACT_VERSION = 1
EventName = Literal["INSERT", "MODIFY", "REMOVE"]
DynamoJson = dict[str, Any]
"""One attribute value in DynamoDB JSON, e.g. ``{"N": "3600"}``."""
DynamoItem = dict[str, DynamoJson]


class S3Location(TypedDict):
    bucket: str
    key: str


class BatchCoordinates(TypedDict):
    """Where a chunk of stream records came from: enough to read them back from the stream."""

    eventSourceArn: str
    firstSequenceNumber: str
    lastSequenceNumber: str
    recordCount: int


def batch_id(batch: BatchCoordinates) -> str:
    """The batch's name: its execution's name, and the correlation id of every log line about it.

    Deterministic from the stream coordinates, so a retry or redrive of the same changes logs
    under the same id (a redriven execution's name adds a suffix to it).
    """
    identity = f"{batch['eventSourceArn']}|{batch['firstSequenceNumber']}|{batch['lastSequenceNumber']}"
    return f"chg-{hashlib.sha256(identity.encode()).hexdigest()[:40]}"


class ExecutionInput(TypedDict):
    """What the trigger starts the state machine with: records inline, or by claim check."""

    version: int
    batch: BatchCoordinates
    records: NotRequired[list[dict[str, Any]]]
    recordsRef: NotRequired[S3Location]


class Change(TypedDict):
    """One stream record, decoded and validated by the Decode state."""

    eventId: str
    eventName: EventName
    table: str
    keys: DynamoItem
    itemKey: str
    itemKeyParts: dict[str, str]
    sequenceNumber: str
    modificationTime: str
    expiredByTtl: bool
    oldImage: NotRequired[DynamoItem]
    newImage: NotRequired[DynamoItem]


class DecodeOutput(TypedDict):
    """Changes inline, or by claim check when the records came by claim check."""

    batch: BatchCoordinates
    changes: NotRequired[list[Change]]
    changesRef: NotRequired[S3Location]


class SnsAttribute(TypedDict):
    DataType: str
    StringValue: str


class Notification(TypedDict):
    message: str
    attributes: dict[str, SnsAttribute]


class ArchiveObject(TypedDict):
    """The body inline, or by claim check when the Diff output would pass the state limit."""

    key: str
    body: NotRequired[str]
    bodyRef: NotRequired[S3Location]


class Summary(TypedDict):
    changes: int
    auditRows: int
    notifications: int
    archiveKey: str


class DiffOutput(TypedDict):
    """Everything the direct-integration states write; built by the Diff state."""

    auditRows: list[DynamoItem]
    archive: ArchiveObject
    notifications: list[Notification]
    summary: Summary


class DeadLetter(TypedDict):
    """What SendToDLQ writes: enough to redrive without guessing."""

    version: int
    input: ExecutionInput
    error: str
    cause: str
    failedState: str
    executionArn: str
    stateMachineArn: str
    failedAt: str
