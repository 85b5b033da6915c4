"""Express execution logs at level ERROR on the embedded AWS: what AWS would deliver, and nothing more."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import client, faults
from changetrail.embedded.execution_logs import execution_history
from tests.e2e.conftest import statuses

pytestmark = pytest.mark.e2e


def logged_types(aws) -> dict[str, list[str]]:
    """Execution ARN -> the types of its logged events, in order."""
    pages = client("logs").get_paginator("filter_log_events").paginate(logGroupName=aws.outputs["log_group_name"])
    logged: dict[str, list[str]] = {}
    for page in pages:
        for event in page["events"]:
            message = json.loads(event["message"])
            logged.setdefault(message["execution_arn"], []).append(message["type"])
    return logged


def test_at_error_a_failed_execution_logs_its_failures_and_its_fail_state_and_a_success_logs_nothing(deploy):
    aws = deploy({"changetrail:workflow": {"logLevel": "ERROR", "includeExecutionData": False}})
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "FINE"}, "value": {"N": "1"}})
    aws.settle()
    with faults.function_raises(aws.outputs, "-decode"):
        ddb.put_item(TableName="Configuration", Item={"key": {"S": "BROKEN"}, "value": {"N": "2"}})
        executions = aws.settle()

    assert statuses(executions) == {"SUCCEEDED": 1, "FAILED": 1}
    failed = next(e for e in executions if e["status"] == "FAILED")
    history = [e["type"] for e in execution_history(failed["executionArn"])]
    logged = logged_types(aws)
    assert list(logged) == [failed["executionArn"]], "a successful execution has nothing to log at ERROR"
    assert "FailStateEntered" in logged[failed["executionArn"]] and "FailStateEntered" in history
    assert logged[failed["executionArn"]][-1] == "ExecutionFailed"
    assert "TaskFailed" in logged[failed["executionArn"]]
    assert not {
        t for t in logged[failed["executionArn"]] if t.endswith(("Entered", "Exited", "Succeeded", "Scheduled", "Started"))
    } - {"FailStateEntered"}
