"""Execution views: recent executions and one execution's timeline, state by state.

Two sources behind one interface. ``InterpreterHistory`` reads ``ListExecutions`` and
``GetExecutionHistory`` (the embedded AWS, or Standard workflows). Express workflows on AWS have
neither, so ``LogsHistory`` rebuilds the same views from the state machine's CloudWatch Logs
(logging level ALL, execution data included), which is what the console does.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from functions.contracts import UNKNOWN_TABLE

FINISHED = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


FAILURE_PATH = ("SendToDLQ", "SendToFallback", "DeadLetterRejected")
"""States that record a failure (the last one dead-letters changes that failed alone): one of them
failing too does not make it the failed state, and one of them done means the letters were written."""


class NoSuchExecutionError(LookupError):
    pass


@dataclass
class Event:
    """One history event, whichever source it came from."""

    type: str
    time: datetime
    name: str | None = None
    error: str | None = None
    cause: str | None = None
    input: str | None = None
    id: int = 0
    """The event's id in its execution: the order AWS gave the events (several share a millisecond)."""
    output: str | None = None


@dataclass
class Step:
    name: str
    kind: str
    entered: datetime
    exited: datetime | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def seconds(self) -> float | None:
        return (self.exited - self.entered).total_seconds() if self.exited else None


@dataclass
class Execution:
    name: str
    arn: str
    status: str
    start: datetime
    stop: datetime | None = None
    records: int | None = None
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None
    table: str | None = None
    """The source table of its changes: from its input, or from its failure summary when the logs hold no input."""
    steps: list[Step] = field(default_factory=list)
    events: list[Event] = field(default_factory=list, repr=False)
    """The events the view was built from, oldest first (the console's event timeline); not in ``to_json``."""

    @property
    def seconds(self) -> float | None:
        return (self.stop - self.start).total_seconds() if self.stop else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(replace(self, events=[]))
        del data["events"]
        data["seconds"] = self.seconds
        for step, raw in zip(self.steps, data["steps"], strict=True):
            raw["seconds"] = step.seconds
        return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def build_execution(name: str, arn: str, events: list[Event]) -> Execution:
    """The execution's status, record count, failure and top-level timeline from its events."""
    events = sorted(events, key=lambda e: (e.id, e.time))
    start = events[0].time if events else datetime.now(UTC)
    execution = Execution(name=name, arn=arn, status="RUNNING", start=start, events=events)
    open_steps: dict[str, Step] = {}
    depth = 0  # inside Map iterations and Parallel branches: their inner states are not top-level steps
    branch_error: Event | None = None  # a Parallel fails with its branch's error, which only the branch's event carries
    for event in events:
        if event.type == "ExecutionStarted" and event.input:
            execution.records, execution.table = _record_count(event.input), _input_table(event.input)
        elif event.type in FINISHED:
            execution.status, execution.stop = FINISHED[event.type], event.time
            execution.error, execution.cause = event.error or execution.error, event.cause or execution.cause
        elif event.type == "MapIterationStarted":
            depth += 1
        elif event.type in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            depth -= 1
        elif event.type == "ParallelStateStarted":
            depth, branch_error = depth + 1, None
        elif event.type in ("ParallelStateSucceeded", "ParallelStateFailed", "ParallelStateAborted"):
            depth -= 1
            if event.type == "ParallelStateFailed" and branch_error and depth == 0 and execution.steps:
                execution.steps[-1].error, execution.steps[-1].cause = branch_error.error, branch_error.cause
        elif depth > 0 and event.type in ("TaskFailed", "ExecutionFailed", "FailStateEntered") and event.error:
            branch_error = event
        elif depth == 0 and event.type.endswith("StateEntered") and event.name:
            step = Step(name=event.name, kind=event.type.removesuffix("StateEntered"), entered=event.time)
            open_steps[event.name] = step
            execution.steps.append(step)
        elif depth == 0 and event.type.endswith("StateExited") and event.name in open_steps:
            open_steps.pop(event.name).exited = event.time
        elif depth == 0 and event.type.endswith("Failed") and event.error and execution.steps:
            failing = execution.steps[-1]
            failing.error, failing.cause = event.error, event.cause
    failed = [
        step
        for step in execution.steps
        if step.error and step.kind in ("Task", "Map", "Parallel") and step.name not in FAILURE_PATH
    ]
    if execution.status == "FAILED" and failed:
        execution.failed_state = failed[-1].name
    _read_failure_summary(execution)
    return execution


def _read_failure_summary(execution: Execution) -> None:
    """A failed execution's cause is a summary (failed state, records, the original cause), so that logs at
    level ERROR, which carry no state events and no input, still say where it failed and how big it was."""
    try:
        summary = json.loads(execution.cause or "")
    except ValueError:
        return
    if not isinstance(summary, dict) or "failedState" not in summary:
        return
    execution.failed_state = str(summary["failedState"])
    if execution.records is None and isinstance(summary.get("records"), int) and summary["records"]:
        execution.records = summary["records"]
    if execution.table is None and summary.get("table") not in (None, "", UNKNOWN_TABLE):
        execution.table = str(summary["table"])
    execution.cause = str(summary.get("cause", ""))


def _record_count(raw_input: str) -> int | None:
    try:
        return int(json.loads(raw_input)["batch"]["recordCount"])
    except (ValueError, KeyError, TypeError):
        return None


def _input_table(raw_input: str) -> str | None:
    """The table an execution's input is of: its batch's stream ARN (``arn:...:table/<name>/stream/...``)."""
    try:
        arn = json.loads(raw_input)["batch"]["eventSourceArn"]
        table = arn.split(":", 5)[5].split("/")[1] if "/stream/" in arn else None
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return table or None


class ExecutionSource(Protocol):
    unnamed: int
    """Of the last ``recent`` call for one table: how many executions were left out because they name no table."""

    def recent(self, limit: int, table: str | None = None) -> list[Execution]: ...
    def show(self, name_or_arn: str) -> Execution: ...


def of_table(executions: list[Execution], table: str | None) -> tuple[list[Execution], int]:
    """The executions of ``table`` (all for ``None``), and how many name no table at all."""
    if table is None:
        return executions, 0
    return [e for e in executions if e.table == table], sum(1 for e in executions if e.table is None)


class InterpreterHistory:
    """``ListExecutions`` + ``GetExecutionHistory``."""

    def __init__(self, sfn: Any, state_machine_arn: str) -> None:
        self.sfn, self.state_machine_arn = sfn, state_machine_arn
        self.unnamed = 0

    def recent(self, limit: int, table: str | None = None) -> list[Execution]:
        """The newest ``limit`` executions (of ``table``): for one table, older ones are read until ``limit`` are found."""
        if table is None:
            listed = self.sfn.list_executions(stateMachineArn=self.state_machine_arn, maxResults=limit)["executions"]
        else:
            pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn)
            listed = [e for page in pages for e in page["executions"]]
        listed.sort(key=lambda e: e["startDate"], reverse=True)
        found: list[Execution] = []
        self.unnamed = 0
        for entry in listed:
            if len(found) >= limit:
                break
            kept, unnamed = of_table([self._load(entry["executionArn"], entry["name"])], table)
            found += kept
            self.unnamed += unnamed
        return found

    def show(self, name_or_arn: str) -> Execution:
        """One execution by ARN, or by name: the newest of that name (an Express name may have run several times)."""
        arn = name_or_arn if name_or_arn.startswith("arn:") else self._arn_of(name_or_arn)
        return self._load(arn, execution_name_of(arn))

    def _arn_of(self, name: str) -> str:
        pages = self.sfn.get_paginator("list_executions").paginate(stateMachineArn=self.state_machine_arn)
        named = [e for page in pages for e in page["executions"] if e["name"] == name]
        if not named:
            raise NoSuchExecutionError(f"no execution {name} of {self.state_machine_arn.rsplit(':', 1)[-1]}")
        return max(named, key=lambda e: e["startDate"])["executionArn"]

    def _load(self, arn: str, name: str) -> Execution:
        try:
            pages = self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
            raw = [event for page in pages for event in page["events"]]
        except self.sfn.exceptions.ExecutionDoesNotExist as error:
            raise NoSuchExecutionError(f"no execution {name} of {self.state_machine_arn.rsplit(':', 1)[-1]}") from error
        return build_execution(name, arn, [_history_event(e) for e in raw])


def _history_event(raw: dict[str, Any]) -> Event:
    details: dict[str, Any] = next((value for key, value in raw.items() if key.endswith("EventDetails")), {}) or {}
    return Event(
        type=raw["type"],
        time=raw["timestamp"],
        name=details.get("name"),
        error=details.get("error"),
        cause=details.get("cause"),
        input=details.get("input"),
        id=int(raw.get("id", 0)),
        output=details.get("output"),
    )


class LogsHistory:
    """Express executions from the state machine's CloudWatch Logs (level ALL)."""

    def __init__(self, logs: Any, log_group: str, since: datetime) -> None:
        self.logs, self.log_group, self.since = logs, log_group, since
        self.unnamed = 0

    def recent(self, limit: int, table: str | None = None) -> list[Execution]:
        by_execution = self._events()
        executions = [build_execution(execution_name_of(arn), arn, events) for arn, events in by_execution.items()]
        executions.sort(key=lambda e: e.start, reverse=True)
        kept, self.unnamed = of_table(executions, table)
        return kept[:limit]

    def show(self, name_or_arn: str) -> Execution:
        """One execution by ARN, or by name: the newest of that name (an Express name may have run several times)."""
        matching = [
            build_execution(execution_name_of(arn), arn, events)
            for arn, events in self._events().items()
            if name_or_arn in (arn, execution_name_of(arn))
        ]
        if matching:
            return max(matching, key=lambda e: e.start)
        raise NoSuchExecutionError(f"no execution {name_or_arn} in {self.log_group} since {self.since.isoformat()}")

    def _events(self) -> dict[str, list[Event]]:
        grouped: dict[str, list[Event]] = defaultdict(list)
        paginator = self.logs.get_paginator("filter_log_events")
        pages = paginator.paginate(logGroupName=self.log_group, startTime=int(self.since.timestamp() * 1000))
        for page in pages:
            for record in page["events"]:
                parsed = _log_event(record["message"])
                if parsed:
                    arn, event = parsed
                    grouped[arn].append(event)
        return grouped


def execution_source(outputs: dict[str, Any], source: str = "auto", since: timedelta = timedelta(hours=24)) -> ExecutionSource:
    """Where a stack's executions can be read: ``history`` (ListExecutions, GetExecutionHistory) or ``logs``.

    ``auto`` asks: Express state machines on AWS refuse ListExecutions, so their executions are
    read from the state machine's CloudWatch Logs; the embedded AWS and Standard ones answer it.
    """
    from botocore.exceptions import ClientError

    from changetrail.outputs import aws_client

    sfn = aws_client("stepfunctions", outputs)
    if source == "auto":
        try:
            sfn.list_executions(stateMachineArn=outputs["state_machine_arn"], maxResults=1)
            source = "history"
        except ClientError:
            source = "logs"
    if source == "history":
        return InterpreterHistory(sfn, outputs["state_machine_arn"])
    return LogsHistory(aws_client("logs", outputs), outputs["log_group_name"], datetime.now(UTC) - since)


def execution_name_of(arn: str) -> str:
    """Express ARNs are ``...:express:<machine>:<name>:<id>``; Standard ones end in the name."""
    parts = arn.split(":")
    return parts[7] if len(parts) > 8 and parts[5] == "express" else parts[-1]


def _log_event(message: str) -> tuple[str, Event] | None:
    """One Express log line (``{"type", "details", "event_timestamp", "execution_arn", ...}``)."""
    try:
        data = json.loads(message)
        details = data.get("details") or {}
        moment = datetime.fromtimestamp(int(data["event_timestamp"]) / 1000, tz=UTC)
        event = Event(
            type=data["type"],
            time=moment,
            name=details.get("name"),
            error=details.get("error"),
            cause=details.get("cause"),
            input=details.get("input"),
            id=int(data.get("id", 0)),
            output=details.get("output"),
        )
        return data["execution_arn"], event
    except (ValueError, KeyError, TypeError):
        return None


def render_list(executions: list[Execution]) -> str:
    width = max([5, *(len(e.table or "-") for e in executions)])
    lines = [f"{'STATUS':<10} {'STARTED (UTC)':<24} {'SECONDS':>8} {'RECORDS':>7}  {'NAME':<44} {'TABLE':<{width}} ERROR"]
    for e in executions:
        seconds = f"{e.seconds:.3f}" if e.seconds is not None else "-"
        error = f"{e.error} in {e.failed_state}" if e.error and e.failed_state else (e.error or "")
        lines.append(
            f"{e.status:<10} {e.start.isoformat(timespec='milliseconds')[:23]:<24} {seconds:>8} "
            f"{e.records if e.records is not None else '-':>7}  {e.name:<44} {e.table or '-':<{width}} {error}"
        )
    return "\n".join(lines)


def unnamed_note(count: int, table: str) -> str:
    return (
        f"{count} execution(s) name no table and are not listed for {table}: their logs hold no input "
        "(workflow.includeExecutionData is false); failed ones name their table in their cause"
    )


def render_timeline(e: Execution) -> str:
    seconds = f"{e.seconds:.3f}s" if e.seconds is not None else "running"
    lines = [f"{e.name}  {e.status}  started {e.start.isoformat(timespec='milliseconds')}  {seconds}  records={e.records}"]
    for step in e.steps:
        offset = (step.entered - e.start).total_seconds()
        took = f"{step.seconds:.3f}s" if step.seconds is not None else "-"
        mark = f"  FAILED {step.error}: {(step.cause or '')[:160]}" if step.error else ""
        lines.append(f"  +{offset:7.3f}s  {step.name:<18} {step.kind:<7} {took:>8}{mark}")
    if e.status == "FAILED":
        lines.append(f"failed in {e.failed_state or '?'}: {e.error}")
        lines.append(f"cause: {e.cause}")
    return "\n".join(lines)
