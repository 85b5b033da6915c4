"""Redrive: get every failed change through, safely, as often as you like.

Express workflows have no RedriveExecution, so this reads the dead-letter queues and starts new
executions itself. Two kinds of message:

- the pipeline's own dead letters (``SendToDLQ``): the original execution input goes into a new
  execution, with a ``redrive`` block counting attempts so a poison message stops at ``max_attempts``;
- the event source mapping's on-failure messages: only stream coordinates, so the records are read
  back from the stream while it retains them and started like the trigger would.

Dead letters the DLQ could not take (SQS unavailable) were written to the payload bucket instead
(``payloads/dead-letters/``); they are read and redriven the same way, and deleted the same way.

A message is deleted only after its new execution started (with ``wait``: only after it finished,
and then a failure has already sent its own, newer dead letter). Everything downstream is
idempotent (deterministic audit ids, conditional writes, deterministic archive keys), so running
redrive twice, or again after an interruption, adds nothing twice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from changetrail.executions import FAILURE_PATH, ExecutionSource, NoSuchExecutionError, execution_name_of
from changetrail.history import rows_by_id
from changetrail.outputs import sources
from changetrail.streams import LostToRetentionError, read_range
from functions import claims, trigger
from functions.contracts import UNKNOWN_TABLE
from functions.decode import decode_record, table_of_arn
from functions.diff import AttributeRules, DiffSettings, attribute_rules, audit_rows, diff_changes

SERVICES = ("stepfunctions", "sqs", "s3", "dynamodbstreams", "dynamodb")
"""The clients a ``Redriver`` needs, by service name."""
DEFAULT_MAX_ATTEMPTS = 5
SCAN_VISIBILITY_SECONDS = 120
MAX_VISIBILITY_SECONDS = 12 * 3600
"""SQS's limit for a message's visibility timeout."""


@dataclass
class DeadLetter:
    """One DLQ message (or fallback object), classified."""

    queue_url: str
    """The queue it came from, or ``s3://<bucket>`` for a fallback object."""
    receipt: str
    """The receipt handle, or the fallback object's key."""
    message_id: str
    body: dict[str, Any]
    kind: str  # "execution" | "stream" | "unknown"
    note: str = ""
    """What reading it found (a stream range's records already audited)."""

    @property
    def error(self) -> str:
        if self.kind == "stream":
            return self.body.get("responseContext", {}).get("functionError") or self.body["requestContext"]["condition"]
        return self.body.get("error", "unreadable message")

    @property
    def failed_state(self) -> str:
        return {"stream": "(event source mapping)", "unknown": "?"}.get(self.kind) or self.body.get("failedState", "?")

    @property
    def in_bucket(self) -> bool:
        return self.queue_url.startswith("s3://")

    @property
    def attempt(self) -> int:
        return int((self.body.get("input") or {}).get("redrive", {}).get("attempt", 0))

    @property
    def table(self) -> str:
        """The source table of its changes: the letter's own ``table``, else the stream ARN it names."""
        if self.kind == "stream":
            return table_of_arn(self.body["DDBStreamBatchInfo"].get("streamArn", ""))
        if self.body.get("table"):
            return str(self.body["table"])
        given = self.body.get("input")
        batch = given.get("batch") if isinstance(given, dict) else None
        return table_of_arn(batch.get("eventSourceArn", "")) if isinstance(batch, dict) else UNKNOWN_TABLE


def classify(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("input"), dict) and "batch" in body["input"]:
        return "execution"
    if isinstance(body, dict) and "DDBStreamBatchInfo" in body:
        return "stream"
    return "unknown"


def read_dead_letters(
    sqs: Any, queue_url: str, limit: int | None = None, visibility: int = SCAN_VISIBILITY_SECONDS
) -> Iterator[DeadLetter]:
    """Receive messages (hidden from other readers while we work on them), oldest first as SQS allows."""
    seen: set[str] = set()
    while limit is None or len(seen) < limit:
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10 if limit is None else max(1, min(10, limit - len(seen))),
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        for again in (m for m in batch if m["MessageId"] in seen):
            # Received a second time in this run (it was released): show it again at once.
            sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                body = json.loads(message["Body"])
            except json.JSONDecodeError:
                body = {"raw": message["Body"]}
            yield DeadLetter(queue_url, message["ReceiptHandle"], message["MessageId"], body, classify(body))


def fallback_keys(s3: Any, bucket: str) -> Iterator[str]:
    """Keys of the dead letters written to the payload bucket because the DLQ was unavailable."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=claims.DEAD_LETTER_PREFIX):
        yield from (entry["Key"] for entry in page.get("Contents", []))


def read_fallback_letters(s3: Any, bucket: str, limit: int | None = None) -> Iterator[DeadLetter]:
    for key in itertools.islice(fallback_keys(s3, bucket), limit):
        try:
            body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except json.JSONDecodeError:
            body = {"raw": key}
        yield DeadLetter(f"s3://{bucket}", key, key, body, classify(body))


def release(sqs: Any, letter: DeadLetter) -> None:
    """Make a message visible again now (it stays in the queue); a fallback object simply stays."""
    if not letter.in_bucket:
        sqs.change_message_visibility(QueueUrl=letter.queue_url, ReceiptHandle=letter.receipt, VisibilityTimeout=0)


def redrive_name(letter: DeadLetter, attempt: int) -> str:
    """Deterministic per dead letter and attempt: an interrupted redrive restarts the same name."""
    identity = letter.body.get("executionArn") or json.dumps(letter.body, sort_keys=True)
    only = ",".join(letter.body.get("only") or [])  # one execution's letters of single changes differ by these
    digest = hashlib.sha256(f"{identity}|{only}|{attempt}".encode()).hexdigest()[:32]
    return f"redrive-{attempt}-{digest}"


@dataclass
class Outcome:
    message_id: str
    action: str  # redriven | succeeded | failed-again | poison | filtered | lost-to-retention | error | would-redrive
    detail: str = ""
    executions: list[str] = field(default_factory=list)
    group: str = ""
    """``<error> in <failed state>``: what the dry run groups by."""


LEFT_ACTIONS = ("poison", "lost-to-retention", "error", "unknown")
"""Outcomes an operator must look at: the message stays."""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    in_flight: int = 0
    """Messages no one can see right now (received by another reader, or by a redrive that was
    interrupted): they return when their visibility timeout ends, and the next run takes them."""
    visibility_timeout: int = SCAN_VISIBILITY_SECONDS
    table: str | None = None
    """The one source table this run redrove (``--table``)."""
    other_tables: int = 0
    """Letters of the pipeline DLQ (or the fallback) that another table's changes wrote: looked at, left alone."""

    def count(self, *actions: str) -> int:
        return sum(1 for o in self.outcomes if o.action in actions)

    def groups(self) -> dict[str, int]:
        return dict(Counter(o.group for o in self.outcomes))

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(o.action for o in self.outcomes)
        return {
            "redriven": counts["redriven"] + counts["succeeded"] + counts["failed-again"],
            "succeeded": counts["succeeded"],
            "failed_again": counts["failed-again"],
            "left": counts["poison"] + counts["filtered"] + counts["lost-to-retention"] + counts["error"] + counts["unknown"],
            "would_redrive": counts["would-redrive"],
            "in_flight": self.in_flight,
            "other_tables": self.other_tables,
        }

    def to_json(self) -> dict[str, Any]:
        """What ``changetrail redrive --json`` prints and the console shows."""
        return {"totals": self.totals, "groups": self.groups(), "outcomes": [vars(o) for o in self.outcomes], "table": self.table}

    def render(self, dry_run: bool = False) -> str:
        of = f" of {self.table}" if self.table else ""
        lines = [f"would redrive {self.totals['would_redrive']} message(s){of}; by error and failed state:"] if dry_run else []
        lines += [f"  {count:>6}  {group}" for group, count in sorted(self.groups().items(), key=lambda item: -item[1])]
        lines += [f"  left {o.message_id}: {o.action}: {o.detail}" for o in self.outcomes if o.action in LEFT_ACTIONS]
        totals = self.totals
        lines.append(
            f"redriven {totals['redriven']}, succeeded {totals['succeeded']}, failed again {totals['failed_again']}, "
            f"left {totals['left']}" + (" (dry run: nothing started, nothing deleted)" if dry_run else "")
        )
        if self.other_tables:
            lines.append(f"left alone {self.other_tables} letter(s) of other tables in the pipeline DLQ (--table {self.table})")
        if self.in_flight:
            lines.append(
                f"in flight {self.in_flight}: received by another reader or an interrupted redrive; they return within "
                f"their visibility timeout ({self.visibility_timeout} s if a redrive took them) and the next run takes them"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class RedriveSettings:
    max_messages: int | None = None
    error: str | None = None
    dry_run: bool = False
    wait: bool = False
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    wait_timeout: float = 300.0
    visibility_timeout: int = SCAN_VISIBILITY_SECONDS
    """How long a received message stays hidden; after a crash it reappears for the next run."""
    table: str | None = None
    """Only letters of this source table: its stream-failures queue, and its letters in the pipeline DLQ."""


Progress = Callable[[int, int, str], None]


class Redriver:
    """Redrives both dead-letter queues of one stack (its outputs name them)."""

    def __init__(self, outputs: dict[str, Any], clients: dict[str, Any], history: ExecutionSource | None = None) -> None:
        self.outputs = outputs
        self.sfn, self.sqs, self.s3, self.streams, self.ddb = (
            clients[k] for k in ("stepfunctions", "sqs", "s3", "dynamodbstreams", "dynamodb")
        )
        self.history = history
        self._started: set[str] = set()
        """Executions this run started: their own dead letters wait for the next run."""

    def queues(self, table: str | None = None) -> list[str]:
        """The workflow's dead-letter queue, then each source's (or ``table``'s) stream-failures queue."""
        failures = [
            source.get("stream_failures_queue_url")
            for source in sources(self.outputs)
            if table is None or source.get("table_name") == table
        ]
        return list(dict.fromkeys(url for url in (self.outputs.get("dlq_url"), *failures) if url))

    def fallback_letters(self, limit: int | None = None) -> Iterator[DeadLetter]:
        bucket = self.outputs.get("payload_bucket_name")
        return read_fallback_letters(self.s3, bucket, limit) if bucket else iter(())

    def in_flight(self, table: str | None = None) -> int:
        """Messages of the queues hidden from readers right now."""
        return sum(
            int(
                self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
                    "Attributes"
                ]["ApproximateNumberOfMessagesNotVisible"]
            )
            for url in self.queues(table)
        )

    def depth(self, table: str | None = None) -> int:
        bucket = self.outputs.get("payload_bucket_name")
        total = sum(1 for _ in fallback_keys(self.s3, bucket)) if bucket else 0
        for url in self.queues(table):
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
        return total

    def run(self, settings: RedriveSettings, progress: Progress | None = None) -> Summary:
        summary = Summary(visibility_timeout=settings.visibility_timeout, table=settings.table)
        total = self.depth(settings.table)
        if settings.max_messages is not None:
            total = min(total, settings.max_messages)
        for source in [*self.queues(settings.table), None]:
            remaining = None if settings.max_messages is None else settings.max_messages - len(summary.outcomes)
            if remaining is not None and remaining <= 0:
                break
            # Another table's letters in the shared queue do not count towards --max: read them all, take at most --max.
            limit = None if settings.table else remaining
            letters = (
                self.fallback_letters(limit)
                if source is None
                else read_dead_letters(self.sqs, source, limit, settings.visibility_timeout)
            )
            for letter in letters:
                if execution_name_of(letter.body.get("executionArn", "")) in self._started:
                    release(self.sqs, letter)
                    continue
                if settings.table is not None and letter.table != settings.table:
                    release(self.sqs, letter)
                    summary.other_tables += 1
                    continue
                if settings.max_messages is not None and len(summary.outcomes) >= settings.max_messages:
                    release(self.sqs, letter)
                    continue
                outcome = self._handle(letter, settings)
                outcome.group = f"{letter.error} in {letter.failed_state}"
                summary.outcomes.append(outcome)
                if progress:
                    progress(len(summary.outcomes), max(total, len(summary.outcomes)), outcome.action)
        summary.in_flight = self.in_flight(settings.table)
        return summary

    # -- one message -----------------------------------------------------------------------
    def _handle(self, letter: DeadLetter, settings: RedriveSettings) -> Outcome:
        def leave(action: str, detail: str) -> Outcome:
            release(self.sqs, letter)
            return Outcome(letter.message_id, action, detail)

        if settings.error and letter.error != settings.error:
            return leave("filtered", letter.error)
        if letter.kind == "unknown":
            return leave("unknown", "not a changetrail dead letter; left in the queue")
        if letter.attempt >= settings.max_attempts:
            return leave("poison", f"{letter.attempt} attempts failed ({letter.error}); left in the queue")
        try:
            inputs = self._execution_inputs(letter)
        except Exception as error:  # noqa: BLE001 -- reported per message; the message stays
            action = "lost-to-retention" if isinstance(error, LostToRetentionError) else "error"
            detail = f"{error}; see the archive for what was archived" if action == "lost-to-retention" else str(error)
            return leave(action, detail)
        if settings.dry_run:
            records = sum(i["batch"]["recordCount"] for _, i in inputs)
            return leave("would-redrive", with_note(f"{len(inputs)} execution(s), {records} record(s)", letter))
        arns = [self._start(name, execution_input) for name, execution_input in inputs]
        if not settings.wait or not arns:
            self._delete(letter)
            return Outcome(letter.message_id, "redriven", with_note(f"{len(arns)} execution(s) started", letter), arns)
        finished = [self._wait(arn, settings.wait_timeout) for arn in arns]
        if all(e.status == "SUCCEEDED" for e in finished):
            self._delete(letter)
            return Outcome(letter.message_id, "succeeded", "", arns)
        failed = [e for e in finished if e.status != "SUCCEEDED"]
        if all(_dead_lettered(e) for e in failed):
            self._delete(letter)  # each failure sent its own dead letter with the next attempt count
            return Outcome(letter.message_id, "failed-again", "; ".join(f"{e.error} in {e.failed_state}" for e in failed), arns)
        return leave("error", "a redriven execution failed without reaching the DLQ; message kept")

    def _execution_inputs(self, letter: DeadLetter) -> list[tuple[str, dict[str, Any]]]:
        attempt = letter.attempt + 1
        marker = {"attempt": attempt, "of": letter.body.get("executionArn") or letter.message_id}
        if letter.kind == "execution":
            only = {"only": letter.body["only"]} if letter.body.get("only") else {}
            return [(redrive_name(letter, attempt), {**letter.body["input"], **only, "redrive": marker})]
        info = letter.body["DDBStreamBatchInfo"]
        read = read_range(
            self.streams, info["streamArn"], info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]
        )
        # The range may hold records other batches delivered (several batches of a shard run at once with a
        # parallelization factor above 1, and earlier chunks of the batch may have started): only the
        # changes not audited yet are started again. A change with nothing to audit (a MODIFY of only
        # attributes its table's rules leave out, or of none) never gets a claim row: it is not run again either.
        rules = attribute_rules(json.dumps(self.outputs.get("attribute_rules") or {}))
        audited, nothing = settled_event_ids(self.ddb, self.outputs["audit_table_name"], read, rules)
        records = [record for record in read if record.get("eventID") not in audited | nothing]
        letter.note = f"{len(read)} record(s) in the range, {len(audited)} already audited, {len(nothing)} with nothing to audit"
        chunks = trigger.plan_chunks(records, trigger.DEFAULT_INLINE_BUDGET)
        store = claims.records_store(self.s3, self.outputs["payload_bucket_name"])
        inputs = []
        for index, chunk in enumerate(chunks):
            batch = trigger.coordinates(chunk)
            execution_input = trigger.execution_input(chunk, batch, trigger.DEFAULT_INLINE_BUDGET, store)
            inputs.append((f"{redrive_name(letter, attempt)[:70]}-{index}", {**execution_input, "redrive": marker}))
        return inputs

    def changes_of(self, letter: DeadLetter) -> list[tuple[str, str]]:
        """(table, eventId) of each change the letter would run again (of a letter of single changes, those only)."""
        if letter.kind == "stream":
            info = letter.body["DDBStreamBatchInfo"]
            try:
                records = read_range(
                    self.streams, info["streamArn"], info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]
                )
            except LostToRetentionError:
                return []
            return [(letter.table, str(record.get("eventID", ""))) for record in records]
        if letter.kind != "execution":
            return []
        given = letter.body["input"]
        if "records" in given:
            records = given["records"]
        else:
            ref = given["recordsRef"]
            records = json.loads(self.s3.get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read())["records"]
        only = set(letter.body.get("only") or given.get("only") or [])
        batch_arn = given.get("batch", {}).get("eventSourceArn", "")
        return [
            (table_of_arn(record.get("eventSourceARN") or batch_arn), str(record.get("eventID", "")))
            for record in records
            if not only or record.get("eventID") in only
        ]

    def _start(self, name: str, execution_input: dict[str, Any]) -> str:
        machine = self.outputs["state_machine_arn"]
        self._started.add(name)
        try:
            return self.sfn.start_execution(
                stateMachineArn=machine, name=name, input=json.dumps(execution_input, separators=(",", ":"))
            )["executionArn"]
        except self.sfn.exceptions.ExecutionAlreadyExists:
            # An interrupted earlier redrive started it; the writes it makes are idempotent anyway.
            return f"{machine.replace(':stateMachine:', ':execution:')}:{name}"

    def _delete(self, letter: DeadLetter) -> None:
        if letter.in_bucket:
            self.s3.delete_object(Bucket=letter.queue_url.removeprefix("s3://"), Key=letter.receipt)
        else:
            self.sqs.delete_message(QueueUrl=letter.queue_url, ReceiptHandle=letter.receipt)

    def _wait(self, arn: str, timeout: float) -> Any:
        if self.history is None:
            raise RuntimeError("waiting needs an execution history source")
        deadline = time.monotonic() + timeout
        while True:
            try:
                execution = self.history.show(arn)
                if execution.status != "RUNNING":
                    return execution
            except NoSuchExecutionError:
                pass  # Express logs arrive a little after the execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {arn} did not finish within {timeout:.0f}s")
            time.sleep(0.2)


def with_note(detail: str, letter: DeadLetter) -> str:
    return f"{detail}; {letter.note}" if letter.note else detail


def settled_event_ids(
    ddb: Any, audit_table: str, records: list[dict[str, Any]], rules: Mapping[str, AttributeRules]
) -> tuple[set[str], set[str]]:
    """Of the records' changes: the event ids whose claim row is in the Audit table (it has its archive object), and
    those with nothing to audit, as the pipeline's own Diff finds with each table's attribute rules."""
    claims_of: dict[str, str] = {}
    nothing: set[str] = set()
    settings = DiffSettings(rules=rules)
    for record in records:
        try:
            change = decode_record(record, [], record.get("eventSourceARN", ""))
            batch = {"eventSourceArn": "", "firstSequenceNumber": "", "lastSequenceNumber": "", "recordCount": 1}
            diffed = diff_changes({"batch": batch, "changes": [change], "rejected": []}, settings)  # type: ignore[typeddict-item]
            rows = audit_rows(diffed["changes"][0]) if diffed["changes"] else []
        except Exception:  # noqa: BLE001 -- a record the pipeline cannot decode is not audited; it is started again
            continue
        if rows:
            claims_of[rows[0]["id"]["S"]] = change["eventId"]
        elif not diffed["rejected"]:
            nothing.add(change["eventId"])
    found = rows_by_id(ddb, audit_table, list(claims_of), projection="id")
    return {claims_of[claim] for claim in found}, nothing


def _dead_lettered(execution: Any) -> bool:
    return any(step.name in FAILURE_PATH and step.exited and not step.error for step in execution.steps)


PEEK_SECONDS = 10
"""Letters looked at (verify, the console) are hidden this long, and released as soon as they are read."""
Waiting = dict[tuple[str, str], str]
"""(table, eventId) of a change -> where its dead letter waits (a queue's name, or the fallback object's key)."""


def waiting_changes(outputs: dict[str, Any], clients: dict[str, Any]) -> Waiting:
    """Every change a dead letter holds, in the pipeline DLQ, a stream-failures queue or the fallback: what a redrive
    would run again. Looking takes nothing away: each queue's letters are released once read; a stream range past the
    stream's retention names no change (its records are gone)."""
    redriver = Redriver(outputs, clients)
    waiting: Waiting = {}
    for url in redriver.queues():
        letters = list(read_dead_letters(redriver.sqs, url, None, PEEK_SECONDS))
        for letter in letters:
            release(redriver.sqs, letter)
        for letter in letters:
            for change in redriver.changes_of(letter):
                waiting.setdefault(change, url.rstrip("/").rsplit("/", 1)[-1])
    for letter in redriver.fallback_letters():
        for change in redriver.changes_of(letter):
            waiting.setdefault(change, f"{letter.queue_url}/{letter.receipt}")
    return waiting
