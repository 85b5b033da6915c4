"""Step Functions' 256 KiB state limit where no Catch can help: the failure path itself must stay under it.

AWS: ``States.ALL`` does not catch ``States.DataLimitExceeded`` (nor ``States.Runtime``): a state
past the limit fails its execution, whatever its Catch says. The embedded AWS answers so too
(moto's interpreter would catch it), and the dead-letter path keeps a full chunk's letter within
the limit with the largest cause Step Functions carries.
"""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import client, lambdas
from tests.e2e.conftest import drain, statuses
from tests.e2e.test_express_executions import finished

pytestmark = pytest.mark.e2e
CAUSE_LIMIT = 32_768
"""Characters of an error's cause Step Functions keeps."""

OVER_THE_LIMIT_CAUGHT_BY_ALL = {
    "StartAt": "Big",
    "States": {
        "Big": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "Fill", "States": {"Fill": {"Type": "Pass", "Result": "x" * 300_000, "End": True}}}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
            "End": True,
        },
        "Caught": {"Type": "Pass", "Result": "caught", "End": True},
    },
}


def test_a_state_past_256_kib_fails_its_execution_and_states_all_does_not_catch_it(aws):
    sfn = client("stepfunctions")
    role = sfn.describe_state_machine(stateMachineArn=aws.outputs["state_machine_arn"])["roleArn"]
    arn = sfn.create_state_machine(
        name="too-big", definition=json.dumps(OVER_THE_LIMIT_CAUGHT_BY_ALL), roleArn=role, type="STANDARD"
    )["stateMachineArn"]

    described = finished(sfn.start_execution(stateMachineArn=arn, name="once", input="{}")["executionArn"])

    assert described["status"] == "FAILED"
    # AWS names it States.DataLimitExceeded; moto's interpreter, for a Parallel's output, States.Runtime: neither is caught
    assert described["error"] in ("States.DataLimitExceeded", "States.Runtime")
    history = sfn.get_execution_history(executionArn=described["executionArn"])["events"]
    assert "Caught" not in [e.get("stateEnteredEventDetails", {}).get("name") for e in history]


def test_a_full_chunk_failing_with_the_largest_cause_still_reaches_the_dlq(aws):
    """The letter holds the input once and the cause twice (letter, summary): under 256 KiB even at both maxima."""
    ddb, decode = client("dynamodb"), "changetrail-dev-decode"
    for n in range(100):  # one batch, one chunk of ~150 KB: near the trigger's inline budget
        ddb.put_item(TableName="Configuration", Item={"key": {"S": f"k{n:03d}"}, "pad": {"S": "p" * 1000}})

    def fail_with_a_long_cause(function_name, event):
        if function_name == decode:
            raise RuntimeError("e" * CAUSE_LIMIT)

    lambdas.hooks.append(fail_with_a_long_cause)
    try:
        executions = aws.settle()
    finally:
        lambdas.hooks.remove(fail_with_a_long_cause)

    assert statuses(executions) == {"FAILED": len(executions)}
    letters = drain(aws.outputs["dlq_url"])
    assert len(letters) == len(executions), "every failed chunk left its letter"
    assert sum(letter["Body"]["input"]["batch"]["recordCount"] for letter in letters) == 100
    assert max(len(json.dumps(letter["Body"]["input"])) for letter in letters) > 140_000, "a full chunk was tried"
