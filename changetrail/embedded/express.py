"""Start Express executions as AWS does: a name already used starts another execution.

AWS keeps no execution registry for Express workflows (at-least-once): ``StartExecution`` with a
name already used runs again, concurrently, each start under its own ARN
``arn:aws:states:<region>:<account>:express:<machine>:<name>:<uuid>``, which is also the
execution's ``$$.Execution.Id`` and the ``execution_arn`` of its CloudWatch log events. moto
treats every machine as Standard: a used name raises ``ExecutionAlreadyExists`` (or returns the
running execution when the input is the same) and the ARN is ``...:execution:<machine>:<name>``.

Here, for machines of type EXPRESS, the name check is skipped and the execution takes AWS's
Express ARN before it starts; and, for every machine, an input over 262,144 bytes is refused with a
``ValidationException`` (StartExecution API reference: input length at most 262144; moto takes any).
moto's registry still holds it, so ``DescribeExecution``,
``GetExecutionHistory`` and ``ListExecutions`` keep answering for it (AWS has none of them for
Express; the harness and the local execution views rely on them). Standard machines are unchanged.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.stepfunctions.models import StateMachine, StepFunctionBackend
from moto.stepfunctions.parser.backend.execution import Execution
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.utilities.utils import ARN_PARTITION_REGEX

EXPRESS = "EXPRESS"
MAX_INPUT_BYTES = 262_144
EXECUTION_ARN = re.compile(ARN_PARTITION_REGEX + r":states:[-0-9a-zA-Z]+:(?P<account_id>[0-9]{12}):(?:execution|express):.+")
"""What ``DescribeExecution`` and ``GetExecutionHistory`` accept: Standard and Express execution ARNs."""

_original_idempotency = StateMachine._handle_name_input_idempotency
_original_start = Execution.start
_original_arn_format = StepFunctionBackend.accepted_exec_arn_format
_original_start_execution = StepFunctionsParserBackend.start_execution


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


def _start_execution(backend: StepFunctionsParserBackend, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
    execution_input = kwargs.get("execution_input", args[1] if len(args) > 1 else None)
    if execution_input is not None and len(str(execution_input).encode()) > MAX_INPUT_BYTES:
        raise JsonRESTError(
            "ValidationException",
            f"1 validation error detected: Value at 'input' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_INPUT_BYTES}",
        )
    return _original_start_execution(backend, state_machine_arn, *args, **kwargs)


def install() -> None:
    # The ignores: moto's methods, replaced in place; mypy holds each replacement to moto's own signature.
    StateMachine._handle_name_input_idempotency = _handle_name_input_idempotency  # type: ignore[method-assign,assignment]
    Execution.start = _start  # type: ignore[method-assign,assignment]
    StepFunctionBackend.accepted_exec_arn_format = EXECUTION_ARN
    StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    StateMachine._handle_name_input_idempotency = _original_idempotency  # type: ignore[method-assign]
    Execution.start = _original_start  # type: ignore[method-assign]
    StepFunctionBackend.accepted_exec_arn_format = _original_arn_format
    StepFunctionsParserBackend.start_execution = _original_start_execution  # type: ignore[method-assign]
