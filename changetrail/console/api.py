"""The console's JSON API: what the page shows, as plain data, from the library the CLI uses.

Nothing here re-implements an operator command: executions come from an ``ExecutionSource``
(``InterpreterHistory`` locally, ``LogsHistory`` for Express on AWS) and ``build_execution``,
dead letters from ``changetrail.redrive``'s readers, redrive from ``Redriver``, item history from
``changetrail.history.stack_history`` and archive lines from ``changetrail.archive``. The HTTP
layer (``server.py``) only routes requests here, so these methods are what the tests call.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from changetrail import history
from changetrail.archive import Archive, parse_time, reader_client
from changetrail.console import graph
from changetrail.executions import ExecutionSource, execution_name_of, unnamed_note
from changetrail.outputs import aws_client, source_tables
from changetrail.redrive import PEEK_SECONDS as PEEK_VISIBILITY_SECONDS
from changetrail.redrive import SERVICES, DeadLetter, Redriver, RedriveSettings, read_dead_letters, release

CONFIRM_SECONDS = 300
"""How long a dry run's confirmation stays valid for the real redrive."""
READER_SECONDS = 1800
"""The archive reader role's session is renewed after this (STS sessions last an hour by default)."""
MAX_LIMIT = 500


class ConsoleError(Exception):
    """A request the console cannot answer: ``status`` is the HTTP status, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Clients:
    """One boto3 client per service, made as the CLI makes them (``outputs.aws_client``).

    boto3 clients are thread-safe to use, not to create: creating one reads ``os.environ``, which
    the embedded AWS's in-process handlers change, so ``guard`` (a reentrant lock) serialises it.
    """

    def __init__(self, outputs: dict[str, Any], guard: AbstractContextManager[Any] | None = None) -> None:
        self.outputs = outputs
        self._guard = guard or nullcontext()
        self._made: dict[str, Any] = {}
        self._archive: tuple[float, Archive] | None = None
        self._lock = threading.Lock()

    def get(self, service: str) -> Any:
        with self._lock:
            if service not in self._made:
                with self._guard:
                    self._made[service] = aws_client(service, self.outputs)
            return self._made[service]

    def redrive(self) -> dict[str, Any]:
        return {name: self.get(name) for name in SERVICES}

    def archive(self) -> Archive:
        """The archive, read as the archive account's reader role (the pipeline account is refused)."""
        sts = self.get("sts")
        with self._lock:
            if self._archive is None or time.monotonic() - self._archive[0] > READER_SECONDS:
                with self._guard:
                    reader = reader_client(self.outputs, sts)
                store = Archive(reader, self.outputs["archive_bucket_name"], self.outputs.get("archive_prefix", ""))
                self._archive = (time.monotonic(), store)
            return self._archive[1]


@dataclass(frozen=True)
class PendingRedrive:
    """What a dry run showed, waiting for its confirmation."""

    error: str | None
    max_messages: int
    expires: float
    table: str | None = None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds") if moment else None


def _queue_name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _record_keys(records: list[dict[str, Any]], shown: int = 20) -> list[str]:
    """The items of a dead letter's records, as ``itemKey`` reads (``hash|range``)."""
    keys = []
    for record in records[:shown]:
        item = (record.get("dynamodb") or {}).get("Keys") or {}
        keys.append("|".join(history.plain(value).strip('"') for value in item.values()))
    return keys


class Console:
    """The console's answers for one stack (its outputs), over the operator library."""

    def __init__(self, outputs: dict[str, Any], clients: Clients, history_source: Callable[[], ExecutionSource]) -> None:
        self.outputs = outputs
        self.clients = clients
        self.history_source = history_source
        """A fresh source per request: a logs source's time window moves on with the clock."""
        self._pending: dict[str, PendingRedrive] = {}
        self._redrive_lock = threading.Lock()
        """One redrive run at a time: two would receive, and hide from each other, the same queues."""

    # -- the stack -------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        keys = (
            "stack", "region", "state_machine_name", "state_machine_arn", "source_table_name", "audit_table_name",
            "dlq_url", "stream_failures_queue_url", "payload_bucket_name", "archive_bucket_name",
            "archive_account_id", "archive_reader_role_arn", "endpoint_url",
        )  # fmt: skip
        return {**{key: self.outputs.get(key) for key in keys}, "source_tables": source_tables(self.outputs)}

    def definition(self) -> dict[str, Any]:
        """The deployed ASL (``DescribeStateMachine``): the graph follows whatever is deployed."""
        machine = self.clients.get("stepfunctions").describe_state_machine(stateMachineArn=self.outputs["state_machine_arn"])
        return json.loads(machine["definition"])

    def graph(self) -> dict[str, Any]:
        return graph.execution_graph(self.definition())

    # -- executions ------------------------------------------------------------------------
    def executions(self, status: str | None = None, limit: int = 25, table: str | None = None) -> dict[str, Any]:
        """Recent executions, newest first; ``status`` keeps one status among them, as ``changetrail executions --status``,
        ``table`` one source table's, as ``--table``."""
        limit = max(1, min(limit, MAX_LIMIT))
        self._check_table(table)
        source = self.history_source()
        found = source.recent(limit, table)
        if status:
            found = [e for e in found if e.status == status.upper()]
        answer: dict[str, Any] = {"executions": [e.to_json() for e in found], "table": table, "unnamed": 0}
        if table and source.unnamed:
            answer.update(unnamed=source.unnamed, note=unnamed_note(source.unnamed, table))
        return answer

    def _check_table(self, table: str | None) -> None:
        tables = source_tables(self.outputs)
        if table is not None and table not in tables:
            raise ConsoleError(400, f"table {table!r} is not audited by this stack; its tables: {', '.join(tables)}")

    def execution(self, name: str) -> dict[str, Any]:
        """One execution: its view, the graph coloured by outcome, the event timeline, input and output."""
        execution = self.history_source().show(name)
        view = execution.to_json()
        events = []
        state = None
        for index, event in enumerate(execution.events):
            if event.name and event.type.endswith("StateEntered"):
                state = event.name
            events.append(
                {
                    "index": index + 1,
                    "type": event.type,
                    "time": _iso(event.time),
                    "offset": (event.time - execution.start).total_seconds(),
                    "state": event.name or state,
                    "error": event.error,
                    "cause": event.cause,
                    "input": event.input,
                    "output": event.output,
                }
            )
        started = next((e for e in execution.events if e.type == "ExecutionStarted"), None)
        finished = next((e for e in reversed(execution.events) if e.type.startswith("Execution") and e is not started), None)
        return {
            "execution": view,
            "graph": graph.execution_graph(self.definition(), view),
            "events": events,
            "input": started.input if started else None,
            "output": finished.output if finished else None,
        }

    # -- dead letters ----------------------------------------------------------------------
    def _redriver(self, with_history: bool = False) -> Redriver:
        return Redriver(self.outputs, self.clients.redrive(), self.history_source() if with_history else None)

    def dead_letters(self, limit: int = 100, table: str | None = None) -> dict[str, Any]:
        """Every dead letter of the queues and the payload-bucket fallback (of one source ``table``), grouped by error and
        failed state.

        Queue messages are received (hidden a few seconds) and released at once, so a look
        never delays a redrive; the fallback letters are read in place. Not while this console
        runs a redrive: a look would hide from it letters it has yet to receive.
        """
        limit = max(1, min(limit, MAX_LIMIT))
        self._check_table(table)
        redriver = self._redriver()
        sqs = self.clients.get("sqs")
        letters: list[tuple[str, DeadLetter]] = []
        if not self._redrive_lock.acquire(blocking=False):
            raise ConsoleError(409, "a redrive is running; look again when it has finished")
        try:
            for url in redriver.queues(table):
                seen = list(read_dead_letters(sqs, url, limit, PEEK_VISIBILITY_SECONDS))
                for letter in seen:
                    release(sqs, letter)
                source = "dlq" if url == self.outputs.get("dlq_url") else "stream-failures"
                letters += [(source, letter) for letter in seen]
        finally:
            self._redrive_lock.release()
        letters += [("fallback", letter) for letter in redriver.fallback_letters(limit)]
        letters = [(source, letter) for source, letter in letters if table is None or letter.table == table]
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for source, letter in letters:
            groups.setdefault((letter.error, letter.failed_state), []).append(self._letter(source, letter))
        ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
        return {
            "table": table,
            "depth": redriver.depth(table),
            "listed": len(letters),
            "queues": [{"name": _queue_name(url), "url": url} for url in redriver.queues(table)],
            "fallback": f"s3://{self.outputs['payload_bucket_name']}/payloads/dead-letters/"
            if self.outputs.get("payload_bucket_name")
            else None,
            "groups": [
                {"error": error, "failedState": state, "group": f"{error} in {state}", "count": len(items), "letters": items}
                for (error, state), items in ordered
            ],
        }

    @staticmethod
    def _letter(source: str, letter: DeadLetter) -> dict[str, Any]:
        body = letter.body
        given = body.get("input")
        execution_input: dict[str, Any] = given if isinstance(given, dict) else {}
        records = execution_input.get("records") or []
        arn = body.get("executionArn")
        return {
            "messageId": letter.message_id,
            "source": source,
            "where": letter.queue_url if not letter.in_bucket else f"{letter.queue_url}/{letter.receipt}",
            "kind": letter.kind,
            "table": letter.table,
            "error": letter.error,
            "failedState": letter.failed_state,
            "attempt": letter.attempt,
            "cause": body.get("cause"),
            "failedAt": body.get("failedAt"),
            "executionArn": arn,
            "execution": execution_name_of(arn) if arn else None,
            "records": (execution_input.get("batch") or {}).get("recordCount"),
            "keys": _record_keys(records),
            "recordsRef": execution_input.get("recordsRef"),
            "stream": body.get("DDBStreamBatchInfo"),
            "body": body,
        }

    def redrive(self, request: dict[str, Any]) -> dict[str, Any]:
        """Two steps: a dry run (grouping, and a confirmation), then the redrive that confirmation allows.

        The real run handles at most as many letters as the dry run looked at, with the same
        error filter, and waits for the new executions (``RedriveSettings.wait``), as
        ``changetrail redrive --wait``: a letter is deleted only once its change got through or
        failed into a newer dead letter.
        """
        token = request.get("confirm")
        if token:
            pending = self._pending.pop(str(token), None)
            if pending is None or pending.expires < time.monotonic():
                raise ConsoleError(409, "this confirmation is unknown, used or expired: run the dry run again")
            settings = RedriveSettings(max_messages=pending.max_messages, error=pending.error, wait=True, table=pending.table)
            with self._redrive_lock:
                summary = self._redriver(with_history=True).run(settings)
            return {"dryRun": False, **summary.to_json()}
        error, table = request.get("error") or None, request.get("table") or None
        if error is not None and not isinstance(error, str):
            raise ConsoleError(400, "error must be an error name, e.g. S3.S3Exception")
        if table is not None and not isinstance(table, str):
            raise ConsoleError(400, "table must be a source table's name")
        self._check_table(table)
        with self._redrive_lock:
            summary = self._redriver().run(RedriveSettings(error=error, dry_run=True, table=table))
        self._forget_expired()
        answer: dict[str, Any] = {"dryRun": True, **summary.to_json(), "confirmation": None}
        if summary.totals["would_redrive"]:
            token = secrets.token_urlsafe(18)
            self._pending[token] = PendingRedrive(error, len(summary.outcomes), time.monotonic() + CONFIRM_SECONDS, table)
            answer.update(confirmation=token, expiresInSeconds=CONFIRM_SECONDS)
        return answer

    def _forget_expired(self) -> None:
        now = time.monotonic()
        for token in [t for t, p in self._pending.items() if p.expires < now]:
            self._pending.pop(token, None)

    # -- item history ----------------------------------------------------------------------
    def history(self, key: str, table: str | None = None, limit: int | None = 100) -> dict[str, Any]:
        """One item's audit rows, newest first, values whole (``changetrail history``), each with where its archive line is."""
        if not key:
            raise ConsoleError(400, "give the item's key (its itemKey; hash|range for composite keys)")
        limit = max(1, min(limit or MAX_LIMIT, MAX_LIMIT))
        try:
            rows, _ = history.stack_history(
                self.clients.get("dynamodb"),
                self.outputs["audit_table_name"],
                self.outputs["audit_history_index"],
                key,
                source_tables(self.outputs),
                table or None,
                limit,
            )
        except history.KeyInSeveralTablesError as several:
            raise ConsoleError(400, history.several_tables(key, several.tables, "choose a table")) from None
        found = []
        for row in rows:
            entry = history.row_json(row)
            entry["oldText"] = history.plain(row.get("oldValue")) if "oldValue" in row else None
            entry["newText"] = history.plain(row.get("newValue")) if "newValue" in row else None
            found.append(entry)
        return {"key": key, "table": table or None, "rows": found}

    def archive_line(self, table: str, moment: str, sequence: str, event_id: str) -> dict[str, Any]:
        """The archive line of one change, read as the reader role: the evidence behind an audit row."""
        if not (table and moment and sequence and event_id):
            raise ConsoleError(400, "give table, time, sequence and eventId of the change")
        try:
            when = parse_time(moment)
        except ValueError as error:
            raise ConsoleError(400, str(error)) from error
        if not sequence.isdigit():
            raise ConsoleError(400, f"sequence {sequence!r} is not a stream sequence number")
        store = self.clients.archive()
        found = store.locate(table, when, sequence, event_id)
        if found is None:
            raise ConsoleError(404, f"change {sequence} of {table} is not in the archive (yet): redrive the dead letters first")
        archived, index = found
        return {
            "bucket": store.bucket,
            "key": archived.key,
            "uri": f"s3://{store.bucket}/{archived.key}",
            "line": index + 1,
            "lines": len(archived.lines),
            "record": archived.lines[index],
            "readAs": self.outputs.get("archive_reader_role_arn"),
        }
