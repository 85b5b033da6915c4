"""Execution views from CloudWatch Logs (AWS's Express log format), against log events stored in moto."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from changetrail.executions import (
    Event,
    LogsHistory,
    NoSuchExecutionError,
    build_execution,
    of_table,
    render_list,
    render_timeline,
)

RECORDED = Path(__file__).resolve().parents[1] / "events" / "express_execution_logs.jsonl"
GROUP = "/aws/vendedlogs/states/changetrail-prod-pipeline"
FAILED_NAME = "chg-5d1f0c2b7a9e4f31b8c6d2e0a4f7b9c1d3e5f7a9"


def rebased(lines: list[str], newest_ms: int) -> list[dict]:
    """Recorded log lines as PutLogEvents events, moved in time so the newest is at ``newest_ms``.

    CloudWatch Logs refuses events older than 14 days, so a recording keeps its spacing and order but
    not its date: the suite must pass on any day.
    """
    records = [json.loads(line) for line in lines]
    shift = newest_ms - max(int(r["event_timestamp"]) for r in records)
    for record in records:
        record["event_timestamp"] = str(int(record["event_timestamp"]) + shift)
    return [{"timestamp": int(r["event_timestamp"]), "message": json.dumps(r)} for r in records]


def now_ms() -> int:
    return int(time.time() * 1000)


def put_events(client, stream: str, events: list[dict]) -> None:
    client.create_log_stream(logGroupName=GROUP, logStreamName=stream)
    client.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=events)


@pytest.fixture
def logs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        events = rebased(RECORDED.read_text().splitlines(), newest_ms=now_ms() - 60_000)
        put_events(client, f"states/changetrail-prod-pipeline/{datetime.now(UTC):%Y-%m-%d}/all", events)
        yield client


def history(logs) -> LogsHistory:
    return LogsHistory(logs, GROUP, since=datetime.now(UTC) - timedelta(hours=1))


def test_recorded_events_are_rebased_keeping_their_spacing_and_order():
    lines = RECORDED.read_text().splitlines()
    recorded = [int(json.loads(line)["event_timestamp"]) for line in lines]

    events = rebased(lines, newest_ms=2_000_000_000_000)

    assert [e["timestamp"] for e in events] == [t - max(recorded) + 2_000_000_000_000 for t in recorded]
    assert [json.loads(e["message"])["event_timestamp"] for e in events] == [str(e["timestamp"]) for e in events]


def test_recent_lists_each_execution_newest_first_with_status_and_records(logs):
    executions = history(logs).recent(10)

    assert [(e.status, e.records) for e in executions] == [("FAILED", 3), ("SUCCEEDED", 2)]
    assert executions[0].name == FAILED_NAME
    assert executions[1].seconds == pytest.approx(0.2)


def test_a_failed_execution_shows_its_failing_state_and_cause(logs):
    execution = history(logs).show(FAILED_NAME)

    assert execution.status == "FAILED"
    assert execution.failed_state == "Archive"
    assert execution.error == "S3.S3Exception" and "Access Denied" in execution.cause
    assert [s.name for s in execution.steps] == [
        "Decode", "Diff", "WriteAudit", "Archive", "AlreadyArchived", "ArchiveFailed", "SendToDLQ", "Failed",
    ]  # fmt: skip
    archive = next(s for s in execution.steps if s.name == "Archive")
    assert archive.error == "S3.S3Exception"
    write_audit = next(s for s in execution.steps if s.name == "WriteAudit")
    assert write_audit.error is None, "a caught ConditionalCheckFailed inside the Map is not a failure"
    timeline = render_timeline(execution)
    assert "failed in Archive: S3.S3Exception" in timeline and "Access Denied" in timeline


def test_show_accepts_the_full_express_arn(logs):
    arn = json.loads(RECORDED.read_text().splitlines()[-1])["execution_arn"]
    assert history(logs).show(arn).name == FAILED_NAME


def test_an_unknown_execution_is_a_clear_error(logs):
    with pytest.raises(NoSuchExecutionError, match="no execution nope"):
        history(logs).show("nope")


def test_events_before_since_are_not_read(logs):
    later = LogsHistory(logs, GROUP, since=datetime.now(UTC) + timedelta(minutes=1))
    assert later.recent(10) == []


def test_a_running_execution_has_no_stop_and_no_failed_state():
    lines = RECORDED.read_text().splitlines()[4:10]
    from changetrail.executions import _log_event

    events = [_log_event(line)[1] for line in lines]
    execution = build_execution("x", "arn", events)
    assert execution.status == "RUNNING" and execution.stop is None and execution.failed_state is None


def test_when_the_dlq_also_fails_the_failed_state_is_still_the_step_that_failed_first():
    from changetrail.executions import Event

    start = datetime(2026, 11, 23, tzinfo=UTC)
    timeline = [
        ("ExecutionStarted", None, None),
        ("TaskStateEntered", "WriteAudit", None),
        ("TaskFailed", None, "DynamoDB.ResourceNotFoundException"),
        ("TaskStateExited", "WriteAudit", None),
        ("TaskStateEntered", "SendToDLQ", None),
        ("TaskFailed", None, "SQS.InternalError"),
        ("TaskStateExited", "SendToDLQ", None),
        ("TaskStateEntered", "SendToFallback", None),
        ("TaskStateExited", "SendToFallback", None),
        ("ExecutionFailed", None, "DynamoDB.ResourceNotFoundException"),
    ]
    events = [
        Event(type=kind, time=start + timedelta(milliseconds=n), name=name, error=error, input="{}" if n == 0 else None)
        for n, (kind, name, error) in enumerate(timeline)
    ]

    execution = build_execution("x", "arn", events)

    assert execution.status == "FAILED"
    assert execution.failed_state == "WriteAudit"


SUCCEEDED_IN_ONE_MILLISECOND = [
    ("ExecutionStarted", None),
    ("TaskStateEntered", "Decode"),
    ("TaskScheduled", None),
    ("TaskSucceeded", None),
    ("TaskStateExited", "Decode"),
    ("PassStateEntered", "Diff"),
    ("PassStateExited", "Diff"),
    ("SucceedStateEntered", "Done"),
    ("SucceedStateExited", "Done"),
    ("ExecutionSucceeded", None),
]


def test_events_of_one_millisecond_are_ordered_by_their_ids_not_as_they_arrived():
    from changetrail.executions import Event

    moment = datetime(2026, 12, 1, tzinfo=UTC)
    events = [Event(type=kind, time=moment, name=name, id=n) for n, (kind, name) in enumerate(SUCCEEDED_IN_ONE_MILLISECOND, 1)]

    execution = build_execution("x", "arn", list(reversed(events)))

    assert execution.status == "SUCCEEDED"
    assert [(s.name, s.exited) for s in execution.steps] == [("Decode", moment), ("Diff", moment), ("Done", moment)]


def test_log_events_sharing_a_millisecond_keep_their_order_by_id(logs):
    """FilterLogEvents orders by timestamp only; events of one millisecond may come in any order."""
    arn = "arn:aws:states:us-east-1:111111111111:express:changetrail-prod-pipeline:same-ms:6f1c2a9e-0b7d-4e3f-9a8c-5d4b3a2f1e0d"
    moment = now_ms() - 60_000
    lines = [
        json.dumps(
            {
                "id": str(n),
                "type": kind,
                "details": {"name": name} if name else {},
                "previous_event_id": str(n - 1),
                "event_timestamp": str(moment),
                "execution_arn": arn,
                "redrive_count": "0",
            }
        )
        for n, (kind, name) in enumerate(SUCCEEDED_IN_ONE_MILLISECOND, 1)
    ]
    put_events(logs, "states/changetrail-prod-pipeline/same-ms", [{"timestamp": moment, "message": m} for m in reversed(lines)])

    execution = history(logs).show("same-ms")

    assert execution.status == "SUCCEEDED"
    assert [s.name for s in execution.steps] == ["Decode", "Diff", "Done"] and all(s.exited for s in execution.steps)


def test_history_events_sharing_a_millisecond_keep_their_order_by_id():
    from changetrail.executions import InterpreterHistory

    moment = datetime(2026, 12, 1, tzinfo=UTC)
    raw = [
        {"id": n, "type": kind, "timestamp": moment, **({"stateEnteredEventDetails": {"name": name}} if name else {})}
        for n, (kind, name) in enumerate(SUCCEEDED_IN_ONE_MILLISECOND, 1)
    ]

    class Paginator:
        def paginate(self, **_):
            return [{"events": list(reversed(raw))}]

    class Sfn:
        class exceptions:  # as boto3 names it
            ExecutionDoesNotExist = LookupError

        def get_paginator(self, _):
            return Paginator()

    arn = "arn:aws:states:us-east-1:1:express:m:n:6f1c2a9e-0b7d-4e3f-9a8c-5d4b3a2f1e0d"
    execution = InterpreterHistory(Sfn(), "arn:aws:states:us-east-1:1:stateMachine:m").show(arn)

    assert (execution.name, execution.status) == ("n", "SUCCEEDED")
    assert [s.name for s in execution.steps] == ["Decode", "Diff", "Done"] and all(s.exited for s in execution.steps)


def event(type_: str, second: int, event_id: int, **details) -> Event:
    return Event(type=type_, time=datetime(2026, 12, 1, 0, 0, second, tzinfo=UTC), id=event_id, **details)


def test_at_level_error_the_failure_summary_names_the_failed_state_and_the_records():
    # ERROR-level logs carry no state events and no input: only the failing task and the end.
    summary = json.dumps({"failedState": "Archive", "records": 32, "cause": "Forbidden (Status Code: 403)"})
    events = [
        event("TaskFailed", 1, 7, error="S3.AccessDenied", cause="Forbidden (Status Code: 403)"),
        event("FailStateEntered", 2, 20, name="Failed"),
        event("ExecutionFailed", 2, 21, error="S3.AccessDenied", cause=summary),
    ]

    execution = build_execution("chg-1", "arn", events)

    assert (execution.status, execution.failed_state, execution.records) == ("FAILED", "Archive", 32)
    assert execution.cause == "Forbidden (Status Code: 403)", "the original cause, not the summary's JSON"


def test_changes_rejected_alone_name_the_state_that_rejected_them():
    summary = json.dumps({"failedState": "Decode", "records": 7, "cause": "1 of 7 changes dead-lettered alone"})
    events = [event("ExecutionStarted", 0, 1), event("ExecutionFailed", 1, 40, error="ChangesRejected", cause=summary)]

    execution = build_execution("chg-2", "arn", events)

    assert (execution.error, execution.failed_state) == ("ChangesRejected", "Decode")


def test_a_cause_that_is_not_a_summary_is_shown_as_it_is():
    events = [event("ExecutionFailed", 1, 2, error="States.Runtime", cause="not json {")]

    assert build_execution("chg-3", "arn", events).cause == "not json {"


STREAM = "arn:aws:dynamodb:us-east-1:111111111111:table/{}/stream/2026-12-01T00:00:00.000"


def started(table: str) -> Event:
    given = {"version": 1, "batch": {"eventSourceArn": STREAM.format(table), "recordCount": 2}, "records": []}
    return event("ExecutionStarted", 0, 1, input=json.dumps(given))


def test_an_execution_names_the_table_its_input_is_of_or_failing_without_input_the_one_its_summary_names():
    assert build_execution("a", "arn", [started("Orders"), event("ExecutionSucceeded", 1, 2)]).table == "Orders"
    summary = json.dumps({"failedState": "Archive", "records": 3, "cause": "403", "table": "Beta"})
    assert build_execution("b", "arn", [event("ExecutionFailed", 1, 2, error="S3.AccessDenied", cause=summary)]).table == "Beta"
    unknown = json.dumps({"failedState": "Decode", "records": 0, "cause": "?", "table": "unknown"})
    assert build_execution("c", "arn", [event("ExecutionFailed", 1, 2, error="X", cause=unknown)]).table is None
    assert build_execution("d", "arn", [event("ExecutionSucceeded", 1, 2)]).table is None, "no input logged"


def test_one_tables_executions_leave_out_the_others_and_count_those_that_name_none():
    executions = [
        build_execution("a", "arn:a", [started("Alpha"), event("ExecutionSucceeded", 1, 2)]),
        build_execution("b", "arn:b", [started("Beta"), event("ExecutionSucceeded", 1, 2)]),
        build_execution("c", "arn:c", [event("ExecutionSucceeded", 1, 2)]),
    ]
    assert of_table(executions, None) == (executions, 0)
    assert [e.name for e in of_table(executions, "Beta")[0]] == ["b"] and of_table(executions, "Beta")[1] == 1
    listed = render_list(executions)
    assert listed.splitlines()[0].split()[-2:] == ["TABLE", "ERROR"]
    assert [line.split()[5] for line in listed.splitlines()[1:]] == ["Alpha", "Beta", "-"]


def test_from_express_logs_one_tables_executions_are_those_whose_logged_input_names_it(logs):
    source = history(logs)
    every = source.recent(10)
    assert every and {e.table for e in every} == {"Configuration"}, "the recording logged each execution's input"
    assert [e.arn for e in source.recent(10, "Configuration")] == [e.arn for e in every]
    assert source.recent(10, "Orders") == [] and source.unnamed == 0
