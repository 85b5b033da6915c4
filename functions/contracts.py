"""Every wire contract of the pipeline, and the constants more than one function shares, in one place.

Images and audit values stay in DynamoDB JSON between states and in the archive: it is the
only JSON form that keeps every DynamoDB type (sets, binary, 38-digit numbers) exactly, so a
restore puts back the very item that was changed.
"""

# No ``from __future__ import annotations`` here: TypedDict compiles each string annotation into a
# forward reference, which made this module the costliest part of the trigger's cold start.
import hashlib
from typing import Any, Literal, NotRequired, TypedDict

CONTRACT_VERSION = 1
EventName = Literal["INSERT", "MODIFY", "REMOVE"]
EVENT_NAMES: tuple[EventName, ...] = ("INSERT", "MODIFY", "REMOVE")
UNKNOWN_TABLE = "unknown"
"""The table of a dead letter (or a failure summary) whose record names none; a non-empty word because SQS refuses
empty attributes."""
REQUIRED_VIEW_TYPE = "NEW_AND_OLD_IMAGES"
IMAGES_BY_EVENT: dict[str, tuple[str, ...]] = {
    "INSERT": ("NewImage",),
    "MODIFY": ("OldImage", "NewImage"),
    "REMOVE": ("OldImage",),
}
"""The stream images each event name carries on a NEW_AND_OLD_IMAGES stream."""
STATE_PAYLOAD_LIMIT = 256 * 1024
STATE_BUDGET = 240 * 1024
"""What a state's output may use of Step Functions' limit: the rest is room for what a Catch adds."""
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


class Redrive(TypedDict):
    attempt: int
    of: str
    """The dead letter's execution ARN (or message id) this attempt redrives."""


class ExecutionInput(TypedDict):
    """What the trigger, redrive and replay start the state machine with."""

    version: int
    batch: BatchCoordinates
    records: NotRequired[list[dict[str, Any]]]
    recordsRef: NotRequired[S3Location]
    only: NotRequired[list[str]]
    """Process only the records with these event ids (a dead letter of single changes)."""
    archiveKey: NotRequired[str]
    """Replay: the archive object these records came from, so the replay rewrites that object."""
    redrive: NotRequired[Redrive]


class Rejected(TypedDict):
    """One change that failed on its own (bad record, a value DynamoDB refuses): dead-lettered alone."""

    eventId: str
    table: str
    sequenceNumber: str
    state: str
    error: str
    cause: str


class Change(TypedDict):
    """One stream record, decoded and validated by the Decode state; Diff adds what changed."""

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
    changedAttributes: NotRequired[list[str]]
    """Set by Diff: the audited top-level attributes that differ (empty for INSERT and REMOVE)."""


class Changes(TypedDict):
    """The Decode and the Diff states' output: changes inline, or by claim check when too large."""

    batch: BatchCoordinates
    changes: NotRequired[list[Change]]
    changesRef: NotRequired[S3Location]
    rejected: list[Rejected]
    ignored: NotRequired[list[str]]
    """Event ids of MODIFYs whose changed attributes the source's attribute rules all leave out."""
    archiveKey: NotRequired[str]
    """The object the chunk's changes are archived in; set by Diff (or given by a replay)."""


class SnsAttribute(TypedDict):
    DataType: str
    StringValue: str


class Notification(TypedDict):
    message: str
    attributes: dict[str, SnsAttribute]


class ArchiveObject(TypedDict):
    """The body inline, or by claim check when it would not fit the state. An empty body: nothing to archive."""

    key: str
    body: NotRequired[str]
    bodyRef: NotRequired[S3Location]


class Summary(TypedDict):
    changes: int
    """Changes this execution audited and archived."""
    auditRows: int
    notifications: int
    archiveKey: str
    skipped: int
    """Changes another execution had already claimed (a retried or overlapping chunk): left to it."""
    ignored: int
    """MODIFYs of attributes the source's rules leave out: nothing audited, archived or notified."""
    rejected: int


class Written(TypedDict):
    """The WriteAudit state's output: what Archive and Notify need, and nothing else."""

    batch: BatchCoordinates
    archive: ArchiveObject
    notifications: NotRequired[list[Notification]]
    notificationsRef: NotRequired[S3Location]
    rejected: list[Rejected]
    rejectedCause: NotRequired[str]
    """When changes were rejected: the cause the execution fails with (JSON: failed state, records, which)."""
    summary: Summary


class DeadLetter(TypedDict):
    """What SendToDLQ writes: enough to redrive without guessing."""

    version: int
    input: ExecutionInput
    only: NotRequired[list[str]]
    """Only these changes of ``input`` failed (by event id); the rest were audited and archived."""
    error: str
    cause: str
    failedState: str
    executionArn: str
    stateMachineArn: str
    failedAt: str


class FailureCause(TypedDict):
    """The cause a failed execution ends with, as JSON: the console and ERROR-level logs show the state, size and table."""

    failedState: str
    records: int
    cause: str
    table: str
    """The source table of the chunk (``unknown`` when the input named none)."""
