"""Start Express executions as AWS does: a name already used starts another execution.

AWS keeps no execution registry for Express workflows (at-least-once): ``StartExecution`` with a
name already used runs again, concurrently, each start under its own ARN
``arn:aws:states:<region>:<account>:express:<machine>:<name>:<uuid>``, which is also the
execution's ``$$.Execution.Id`` and the ``execution_arn`` of its CloudWatch log events. moto
treats every machine as Standard: a used name raises ``ExecutionAlreadyExists`` (or returns the
running execution when the input is the same) and the ARN is ``...:execution:<machine>:<name>``.

Here, for machines of type EXPRESS, the name check is skipped and the execution takes AWS's
Express ARN before it starts. moto's registry still holds it, so ``DescribeExecution``,
``GetExecutionHistory`` and ``ListExecutions`` keep answering for it (AWS has none of them for
Express; the harness and the local execution views rely on them). Standard machines are unchanged.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.parser.backend.execution import Execution
from moto.utilities.utils import ARN_PARTITION_REGEX

EXPRESS = "EXPRESS"
EXECUTION_ARN = re.compile(ARN_PARTITION_REGEX + r":states:[-0-9a-zA-Z]+:(?P<account_id>[0-9]{12}):(?:execution|express):.+")
"""What ``DescribeExecution`` and ``GetExecutionHistory`` accept: Standard and Express execution ARNs."""

_original_idempotency = StateMachine._handle_name_input_idempotency
_original_start = Execution.start
_original_arn_format = StepFunctionBackend.accepted_exec_arn_format


def express_execution_arn(standard_arn: str) -> str:
    """``...:execution:<machine>:<name>`` -> ``...:express:<machine>:<name>:<uuid>``, a new uuid per start."""
    prefix, machine, name = standard_arn.rsplit(":", 2)
    return f"{prefix.removesuffix(':execution')}:express:{machine}:{name}:{uuid.uuid4()}"


def _handle_name_input_idempotency(machine: StateMachine, name: str, execution_input: str) -> Any:
    # moto keeps the real type in ``type``; its ``sm_type`` is always STANDARD.
    if machine.type == EXPRESS:
        return None
    return _original_idempotency(machine, name, execution_input)


def _start(execution: Execution) -> None:
    if getattr(execution.state_machine, "type", None) == EXPRESS and ":execution:" in execution.exec_arn:
        execution.exec_arn = execution.execution_arn = express_execution_arn(execution.exec_arn)
    _original_start(execution)


def install() -> None:
    # The ignores: moto's methods, replaced in place; mypy holds each replacement to moto's own signature.
    StateMachine._handle_name_input_idempotency = _handle_name_input_idempotency  # type: ignore[method-assign,assignment]
    Execution.start = _start  # type: ignore[method-assign,assignment]
    StepFunctionBackend.accepted_exec_arn_format = EXECUTION_ARN


def uninstall() -> None:
    StateMachine._handle_name_input_idempotency = _original_idempotency  # type: ignore[method-assign]
    Execution.start = _original_start  # type: ignore[method-assign]
    StepFunctionBackend.accepted_exec_arn_format = _original_arn_format
