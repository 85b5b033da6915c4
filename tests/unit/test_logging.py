"""Structured logs: every handler's lines are JSON, carry the batch's id as correlation id and the
changes' event ids, and never an attribute value (values may be redacted data)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from functions import decode, diff, notify, trigger, write_audit
from functions.contracts import batch_id
from tests.unit.conftest import KEY_NAMES
from tests.unit.test_notify import FakeSns
from tests.unit.test_trigger import BUCKET, MACHINE_ARN, FakeS3, FakeStepFunctions, LambdaContext
from tests.unit.test_write_audit import FakeTable

SECRET = "s3cr3t-value-that-must-not-be-logged"


def secret_batch(recorded_batch) -> dict[str, Any]:
    event = recorded_batch()
    for record in event["Records"]:
        for image in ("NewImage", "OldImage"):
            if image in record["dynamodb"]:
                record["dynamodb"][image]["value"] = {"S": SECRET}
    return event


def run_pipeline_handlers(event: dict[str, Any], monkeypatch) -> tuple[dict[str, Any], FakeStepFunctions]:
    monkeypatch.setenv("STATE_MACHINE_ARN", MACHINE_ARN)
    monkeypatch.setenv("PAYLOAD_BUCKET", BUCKET)
    monkeypatch.setenv("SOURCE_KEYS", json.dumps({"Configuration": KEY_NAMES}))
    sfn = FakeStepFunctions()
    monkeypatch.setattr(trigger, "_clients", {"stepfunctions": sfn, "s3": FakeS3()})
    trigger.handler(event, LambdaContext())
    (execution_input,) = sfn.inputs()
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:changes")
    monkeypatch.setattr(write_audit, "_ddb", FakeTable())
    monkeypatch.setattr(notify, "_sns", FakeSns())
    decoded = decode.handler(execution_input, LambdaContext(function_name="changetrail-dev-decode"))
    diffed = diff.handler(decoded, LambdaContext(function_name="changetrail-dev-diff"))
    written = write_audit.handler(diffed, LambdaContext(function_name="changetrail-dev-write-audit"))
    notify.handler(written, LambdaContext(function_name="changetrail-dev-notify"))
    return execution_input, sfn


@pytest.fixture
def logged(recorded_batch, monkeypatch) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    loggers = (trigger.logger, decode.logger, diff.logger, write_audit.logger, notify.logger)
    saved = [(logger.registered_handler.stream, logger.log_level) for logger in loggers]
    try:
        for logger in loggers:
            logger.registered_handler.setStream(buffer)
            logger.setLevel("INFO")
        run_pipeline_handlers(secret_batch(recorded_batch), monkeypatch)
    finally:
        for logger, (stream, level) in zip(loggers, saved, strict=True):
            logger.registered_handler.setStream(stream)
            logger.setLevel(level)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_handler_logs_the_batch_under_its_id_with_every_event_id(logged, recorded_batch):
    event_ids = [record["eventID"] for record in recorded_batch()["Records"]]
    by_message = {line["message"]: line for line in logged}
    assert {"execution started", "decoded", "diffed", "written", "notified", "batch handled"} <= set(by_message)
    started = by_message["execution started"]
    correlation = batch_id(started["batch"])
    for message in ("execution started", "decoded", "diffed", "written", "notified"):
        assert by_message[message]["correlation_id"] == correlation, message
    for message in ("execution started", "decoded", "diffed"):
        assert by_message[message]["eventIds"] == event_ids, message
    # The secret replaced the one value the MODIFY changed, so that MODIFY changes nothing any more.
    assert by_message["written"]["summary"]["changes"] == len(event_ids) - 1
    services = {line["service"] for line in logged}
    assert services == {f"changetrail-{name}" for name in ("trigger", "decode", "diff", "write-audit", "notify")}
    # The invocation summary belongs to no one batch.
    assert "correlation_id" not in by_message["batch handled"] or by_message["batch handled"]["correlation_id"] is None


def test_no_log_line_carries_an_attribute_value(logged):
    assert logged
    assert all(SECRET not in json.dumps(line) for line in logged)


def test_a_later_invocation_does_not_inherit_an_earlier_correlation_id(logged, monkeypatch):
    buffer = io.StringIO()
    saved = (decode.logger.registered_handler.stream, decode.logger.log_level)
    decode.logger.registered_handler.setStream(buffer)
    decode.logger.setLevel("INFO")
    try:
        with pytest.raises(Exception, match="no 'batch'"):
            decode.handler({"records": []}, LambdaContext(function_name="changetrail-dev-decode"))
        decode.logger.info("after")
    finally:
        decode.logger.registered_handler.setStream(saved[0])
        decode.logger.setLevel(saved[1])
    (line,) = [json.loads(text) for text in buffer.getvalue().splitlines()]
    assert line.get("correlation_id") is None
