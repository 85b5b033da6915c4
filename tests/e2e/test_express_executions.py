"""Express executions as AWS runs them: a name already used starts another execution, under its own ARN."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest

from changetrail.embedded import PIPELINE_ACCOUNT, REGION, client
from changetrail.executions import InterpreterHistory, LogsHistory, execution_name_of
from tests.e2e.conftest import statuses

WAIT_THEN_ECHO_CONTEXT = {
    "StartAt": "Wait",
    "States": {
        "Wait": {"Type": "Wait", "Seconds": 1, "Next": "Echo"},
        "Echo": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name"}, "End": True},
    },
}


def machine(aws, name: str, kind: str) -> str:
    role = client("stepfunctions").describe_state_machine(stateMachineArn=aws.outputs["state_machine_arn"])["roleArn"]
    return client("stepfunctions").create_state_machine(
        name=name, definition=json.dumps(WAIT_THEN_ECHO_CONTEXT), roleArn=role, type=kind
    )["stateMachineArn"]


def finished(arn: str, timeout: float = 30.0) -> dict:
    sfn, deadline = client("stepfunctions"), time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.05)
    return described


def test_a_name_used_again_on_an_express_machine_runs_again_concurrently_under_its_own_arn(aws):
    sfn, arn = client("stepfunctions"), machine(aws, "echo-express", "EXPRESS")

    # WHEN the same name is started twice, the second while the first still runs
    first = sfn.start_execution(stateMachineArn=arn, name="same", input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, name="same", input="{}")["executionArn"]

    # THEN both run at once, each under AWS's Express ARN (machine, name, a uuid of its own)
    express_arn = re.compile(rf"^arn:aws:states:{REGION}:{PIPELINE_ACCOUNT}:express:echo-express:same:[0-9a-f-]{{36}}$")
    assert express_arn.match(first) and express_arn.match(second) and first != second
    running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    assert {e["executionArn"] for e in running} == {first, second}
    # AND each is its own execution: described, with its own history and context object
    for execution_arn in (first, second):
        described = finished(execution_arn)
        assert described["status"] == "SUCCEEDED" and described["name"] == "same"
        assert json.loads(described["output"]) == {"id": execution_arn, "name": "same"}
        events = sfn.get_execution_history(executionArn=execution_arn)["events"]
        assert events[-1]["type"] == "ExecutionSucceeded"
        assert execution_name_of(execution_arn) == "same"
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert sorted(e["executionArn"] for e in listed) == sorted([first, second])


def test_a_standard_machine_still_refuses_a_used_name(aws):
    sfn, arn = client("stepfunctions"), machine(aws, "echo-standard", "STANDARD")

    first = sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 1}')["executionArn"]
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn, name="once", input='{"a": 2}')

    assert first == f"arn:aws:states:{REGION}:{PIPELINE_ACCOUNT}:execution:echo-standard:once"
    assert json.loads(finished(first)["output"]) == {"id": first, "name": "once"}


def test_a_batch_started_twice_runs_twice_and_the_views_show_the_newest_run_of_its_name(aws):
    # GIVEN one change, delivered and run
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "K"}, "value": {"N": "1"}})
    (execution,) = aws.settle()
    sfn = client("stepfunctions")
    records = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["records"]

    # WHEN the stream delivers the same batch again: the trigger starts the same name again
    response, error = aws.invoke_function_for(aws.outputs["trigger_function_name"])({"Records": records})
    executions = aws.wait_for_executions()

    # THEN it ran twice, under two Express ARNs of one name
    assert error is None and response == {"batchItemFailures": []}
    assert statuses(executions) == {"SUCCEEDED": 2}
    assert {e["name"] for e in executions} == {execution["name"]}
    newest = max(executions, key=lambda e: e["startDate"])
    # AND showing the name shows the newest run, from the interpreter and from the logs alike
    shown = InterpreterHistory(sfn, aws.outputs["state_machine_arn"]).show(execution["name"])
    assert (shown.arn, shown.name, shown.status) == (newest["executionArn"], execution["name"], "SUCCEEDED")
    logs = LogsHistory(client("logs"), aws.outputs["log_group_name"], since=datetime.now(UTC) - timedelta(hours=1))
    assert logs.show(execution["name"]).arn == newest["executionArn"]
    # AND the logs carry each execution's own ARN (its $$.Execution.Id), not a converted one
    assert sorted(e.arn for e in logs.recent(10)) == sorted(e["executionArn"] for e in executions)
