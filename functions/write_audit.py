"""WriteAudit state: audit rows with their exact values, and the archive body and notifications of what this execution owns.

Why a function and not the Step Functions DynamoDB integration: the integration base64-encodes
the string it is given for a binary value, so bytes from the state would be stored encoded
twice; boto3 writes the real bytes.

Ownership. A change can reach several executions: a trigger that crashed after starting them
is retried with the batch bisected (other chunks, other archive keys), Express runs an
execution twice now and then, a stream-failure redrive reads back a range that holds other
lanes' records. Each change's first row is its claim: written conditionally (new, or already
this archive key's), atomically deciding which archive object holds the change. The changes
whose claim another execution holds are left to it: no archive line, no notification here.
Every other row is written first, in batches; its content is the same whichever execution
writes it.
"""

from __future__ import annotations

import contextvars
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import ClientError

from functions import claims
from functions.contracts import EVENT_NAMES, STATE_BUDGET, Changes, FailureCause, Written, batch_id
from functions.decode import binary_as_bytes, changes_of, rejected_ids, rejection
from functions.diff import archive_line, audit_rows, notifications, redacted
from functions.dynamodb_limits import MAX_ITEM_BYTES, MAX_NESTING_LEVELS, item_size, too_deep
from functions.exceptions import AuditTableError, AuditTableThrottledError

if TYPE_CHECKING:
    from functions.contracts import Change, DynamoItem, Rejected

logger = Logger(service="changetrail-write-audit")
BATCH_WRITE_LIMIT = 25
CLAIM_CONDITION = "attribute_not_exists(id) OR archiveKey = :archiveKey"
THROTTLES = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
CLAIM_WORKERS = 8
VALUE_ATTRIBUTES = ("oldValue", "newValue")
_ddb: Any = None


@dataclass(frozen=True)
class WriteSettings:
    audit_table: str = "Audit"
    payload_bucket: str = ""
    redact: frozenset[str] = frozenset()
    redact_in_archive: bool = True
    notify_mode: str = "change"
    notify_event_names: frozenset[str] = frozenset(EVENT_NAMES)
    unprocessed_attempts: int = 6

    @classmethod
    def from_environment(cls) -> WriteSettings:
        names = os.environ.get("NOTIFY_EVENT_NAMES", ",".join(EVENT_NAMES))
        return cls(
            audit_table=os.environ.get("AUDIT_TABLE", cls.audit_table),
            payload_bucket=os.environ.get("PAYLOAD_BUCKET", ""),
            redact=frozenset(name for name in os.environ.get("REDACT_ATTRIBUTES", "").split(",") if name),
            redact_in_archive=os.environ.get("REDACT_IN_ARCHIVE", "true") == "true",
            notify_mode=os.environ.get("NOTIFY_MODE", cls.notify_mode),
            notify_event_names=frozenset(name for name in names.split(",") if name),
        )


# ---------------------------------------------------------------- DynamoDB's limits

ROW_METADATA_BYTES = 16 * 1024
"""More than a row's attributes besides its values take (keys of at most 3 KB among them)."""


def shallow(line: str) -> bool:
    """No row value from this JSON line can be nested deeper than DynamoDB allows.

    Each level of a value is at least one ``{`` (a list's ``{"L":``, a leaf's ``{"S":``), and a row's
    value wraps an image one level deeper than the item held it; a line with no more ``{`` than the
    limit holds no value past it (braces inside strings only make the count larger).
    """
    return line.count("{") <= MAX_NESTING_LEVELS


def fit_row(row: DynamoItem, line_bytes: int | None = None, line_shallow: bool = False) -> DynamoItem:
    """The row as DynamoDB can hold it: a value too large (or too deep) for a row stays in the archive line.

    The row then names the attributes it left there (``valuesInArchive``); the change's archive
    line holds both whole images, and the claim row of the change names that line's object.
    ``line_bytes``, the size of that line, bounds the row: a value's JSON is never smaller than
    DynamoDB's size of it, so a row from a line well under 400 KB fits and is not sized. Likewise
    ``line_shallow`` (see ``shallow``): then no value of the row is measured for depth.
    """
    small = line_bytes is not None and line_bytes + ROW_METADATA_BYTES <= MAX_ITEM_BYTES
    deep = not line_shallow and too_deep({name: row[name] for name in VALUE_ATTRIBUTES if name in row})
    if not deep and (small or item_size(row) <= MAX_ITEM_BYTES):
        return row
    fitted = {name: value for name, value in row.items() if name not in VALUE_ATTRIBUTES}
    moved = [name for name in VALUE_ATTRIBUTES if name in row]
    fitted["valuesInArchive"] = {"M": {"attributes": {"SS": moved}}}
    return fitted


# ---------------------------------------------------------------- what to write


@dataclass
class Planned:
    """One change: its rows as written (masked, fitted; the first is the claim) and its archive line."""

    change: Change
    rows: list[DynamoItem]
    line: str

    @property
    def audit_ids(self) -> list[str]:
        return [row["id"]["S"] for row in self.rows]


def plan(change: Change, archive_key: str, settings: WriteSettings) -> Planned:
    masked = redacted(change, settings.redact)
    line = archive_line(masked if settings.redact_in_archive else change)
    # The line holds the change's real values (or the masked ones, which are no larger, nor deeper).
    bounds = settings.redact_in_archive or not settings.redact
    size = (len(line) if line.isascii() else len(line.encode())) if bounds else None
    line_shallow = bounds and shallow(line)
    return Planned(change, [fit_row(row, size, line_shallow) for row in audit_rows(masked, archive_key)], line)


# ---------------------------------------------------------------- writing


@dataclass
class Outcome:
    owned: list[Planned] = field(default_factory=list)
    skipped: list[Planned] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class AuditWriter:
    """Writes planned changes to the Audit table: other rows in batches first, then each change's claim."""

    def __init__(self, ddb: Any, table: str, archive_key: str, unprocessed_attempts: int = 6) -> None:
        self.ddb, self.table, self.archive_key = ddb, table, archive_key
        self.unprocessed_attempts = unprocessed_attempts

    def write(self, planned: list[Planned]) -> Outcome:
        outcome = Outcome()
        refused = self._write_batches([(p, row) for p in planned for row in p.rows[1:]])
        writable = []
        for p in planned:
            if id(p) in refused:
                outcome.rejected.append(rejection(p.change, "WriteAudit", refused[id(p)]))
            elif p.rows:
                writable.append(p)
        with ThreadPoolExecutor(max_workers=CLAIM_WORKERS) as pool:
            # Each claim runs in the invocation's context (logging keys, tracing), as if in its thread.
            futures = [pool.submit(contextvars.copy_context().run, self._claim, p) for p in writable]
            results = [future.result() for future in futures]
        for p, result in zip(writable, results, strict=True):
            if result is True:
                outcome.owned.append(p)
            elif result is False:
                outcome.skipped.append(p)
            else:
                outcome.rejected.append(rejection(p.change, "WriteAudit", result))
        return outcome

    def _claim(self, planned: Planned) -> bool | Exception:
        """True: this execution holds the change; False: another does; an error: DynamoDB refused the row."""
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item=wire(planned.rows[0]),
                ConditionExpression=CLAIM_CONDITION,
                ExpressionAttributeValues={":archiveKey": {"S": self.archive_key}},
            )
            return True
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code == "ConditionalCheckFailedException":
                return False
            if code == "ValidationException":
                return error
            raise table_error(error) from error

    def _write_batches(self, rows: list[tuple[Planned, DynamoItem]]) -> dict[int, Exception]:
        """BatchWriteItem in 25s, unprocessed items retried with backoff; returns the changes DynamoDB refused."""
        refused: dict[int, Exception] = {}
        for start in range(0, len(rows), BATCH_WRITE_LIMIT):
            chunk = rows[start : start + BATCH_WRITE_LIMIT]
            try:
                self._batch_write([row for _, row in chunk])
            except ClientError as error:
                if error.response["Error"]["Code"] != "ValidationException":
                    raise table_error(error) from error
                refused.update(self._write_one_by_one(chunk))
        return refused

    def _batch_write(self, rows: list[DynamoItem]) -> None:
        pending: dict[str, Any] = {self.table: [{"PutRequest": {"Item": wire(row)}} for row in rows]}
        for attempt in range(self.unprocessed_attempts):
            pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(min(2.0, 0.05 * 2**attempt))
        raise AuditTableThrottledError(
            f"{len(pending[self.table])} audit rows stayed unprocessed after {self.unprocessed_attempts} BatchWriteItem attempts"
        )

    def _write_one_by_one(self, chunk: list[tuple[Planned, DynamoItem]]) -> dict[int, Exception]:
        """A batch DynamoDB refused as a whole: find the rows it refuses, so only their changes are rejected."""
        refused: dict[int, Exception] = {}
        for planned, row in chunk:
            try:
                self.ddb.put_item(TableName=self.table, Item=wire(row))
            except ClientError as error:
                if error.response["Error"]["Code"] != "ValidationException":
                    raise table_error(error) from error
                refused[id(planned)] = error
        return refused


def wire(row: DynamoItem) -> dict[str, Any]:
    """A row for boto3's low-level client: binary as the real bytes, at any depth."""
    return {name: binary_as_bytes(value) for name, value in row.items()}


def table_error(error: ClientError) -> Exception:
    code, message = error.response["Error"]["Code"], error.response["Error"].get("Message", "")
    if code in THROTTLES:
        return AuditTableThrottledError(f"{code}: {message}")
    return AuditTableError(f"{code}: {message}")


# ---------------------------------------------------------------- the state's output


def written(event: Changes, outcome: Outcome, settings: WriteSettings, store: Any) -> Written:
    """What Archive and Notify need: the owned changes' archive body and notifications, within the state limit."""
    key = event.get("archiveKey", "")
    lines = [p.line for p in outcome.owned]
    notes = notifications([(p.change, p.audit_ids) for p in outcome.owned], settings.notify_mode, settings.notify_event_names)
    rejected = [*event.get("rejected", []), *outcome.rejected]
    output: Written = {
        "batch": event["batch"],
        "archive": {"key": key, "body": "\n".join(lines) + "\n" if lines else ""},
        "notifications": notes,
        "rejected": rejected,
        "summary": {
            "changes": len(outcome.owned),
            "auditRows": sum(len(p.rows) for p in outcome.owned),
            "notifications": len(notes),
            "archiveKey": key,
            "skipped": len(outcome.skipped),
            "ignored": len(event.get("ignored", [])),
            "rejected": len(rejected),
        },
    }
    if rejected:
        output["rejectedCause"] = rejected_cause(rejected, event["batch"]["recordCount"])
    if claims.json_size(output) > STATE_BUDGET and lines:
        body = output["archive"].pop("body")
        output["archive"]["bodyRef"] = store(claims.content_key(claims.ARCHIVE_BODY_PREFIX, body, ".jsonl"), body)
    if claims.json_size(output) > STATE_BUDGET:
        output["notificationsRef"] = store(claims.content_key(claims.STAGE_PREFIX, json.dumps(notes)), json.dumps(notes))
        del output["notifications"]
    return output


def rejected_cause(rejected: list[Rejected], records: int) -> str:
    """The failed execution's cause: which changes were dead-lettered alone, and why."""
    first = rejected[0]
    listed = "; ".join(
        f"{r['eventId'] or '<no eventID>'} in {r['state']}: {r['error']}: {r['cause'][:300]}" for r in rejected[:10]
    )
    more = f"; and {len(rejected) - 10} more" if len(rejected) > 10 else ""
    cause: FailureCause = {
        "failedState": first["state"],
        "records": records,
        "cause": f"{len(rejected)} of {records} changes dead-lettered alone, the rest audited and archived: {listed}{more}",
        "table": first["table"],
    }
    return json.dumps(cause, ensure_ascii=False)


def write_audit(event: Changes, settings: WriteSettings, ddb: Any, store: Any) -> Written:
    """Pure of the state machine, not of I/O: plans every change, writes them, returns what comes next."""
    changes = changes_of(event)
    key = event.get("archiveKey", "")
    outcome = AuditWriter(ddb, settings.audit_table, key, settings.unprocessed_attempts).write(
        [plan(change, key, settings) for change in changes]
    )
    return written(event, outcome, settings, store)


def _client() -> Any:
    global _ddb
    _ddb = _ddb or boto3.client("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 3}))
    return _ddb


@logger.inject_lambda_context(clear_state=True)
def handler(event: Changes, context: Any) -> Written:
    logger.set_correlation_id(batch_id(event["batch"]))
    settings = WriteSettings.from_environment()
    output = write_audit(event, settings, _client(), lambda key, body: claims.put(settings.payload_bucket, key, body))
    logger.info("written", extra={"summary": output["summary"], "rejected": rejected_ids(output["rejected"])})
    return output
