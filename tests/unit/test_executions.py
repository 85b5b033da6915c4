"""Execution views from CloudWatch Logs (AWS's Express log format), against log events stored in moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from changetrail.executions import LogsHistory, NoSuchExecutionError, build_execution, render_timeline

RECORDED = Path(__file__).resolve().parents[1] / "events" / "express_execution_logs.jsonl"
GROUP = "/aws/vendedlogs/states/changetrail-prod-pipeline"
FAILED_NAME = "chg-5d1f0c2b7a9e4f31b8c6d2e0a4f7b9c1d3e5f7a9"


@pytest.fixture
def logs(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        client.create_log_group(logGroupName=GROUP)
        client.create_log_stream(logGroupName=GROUP, logStreamName="states/changetrail-prod-pipeline/2026-11-21/all")
        lines = RECORDED.read_text().splitlines()
        events = [{"timestamp": int(json.loads(line)["event_timestamp"]), "message": line} for line in lines]
        client.put_log_events(
            logGroupName=GROUP, logStreamName="states/changetrail-prod-pipeline/2026-11-21/all", logEvents=events
        )
        yield client


def history(logs) -> LogsHistory:
    return LogsHistory(logs, GROUP, since=datetime(2026, 11, 1, tzinfo=UTC))


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
    later = LogsHistory(logs, GROUP, since=datetime(2027, 1, 1, tzinfo=UTC))
    assert later.recent(10) == []


def test_a_running_execution_has_no_stop_and_no_failed_state():
    lines = RECORDED.read_text().splitlines()[4:10]
    from changetrail.executions import _log_event

    events = [_log_event(line)[1] for line in lines]
    execution = build_execution("x", "arn", events)
    assert execution.status == "RUNNING" and execution.stop is None and execution.failed_state is None


def test_when_the_dlq_also_fails_the_failed_state_is_still_the_step_that_failed_first():
    from datetime import timedelta

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
