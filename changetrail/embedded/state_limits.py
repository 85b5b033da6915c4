"""Step Functions' state limit as AWS applies it: how state data is measured, and that no Catch rescues it.

Measured as AWS measures it (Step Functions developer guide, "Step Functions service quotas"): at most
256 KiB of a state's input or output as UTF-8, which moto's interpreter measures with spaces after
every ``,`` and ``:`` and refuses at exactly 262,144 bytes, so a state AWS holds could fail here.

A failure's cause is at most 32,768 characters (Step Functions API reference, ``TaskFailedEventDetails``
and ``ExecutionFailedEventDetails``: ``cause`` length 0-32768): a longer one, e.g. a Lambda error
whose message and stack trace are long, is cut to that length here, where moto keeps it whole and
so grows a dead letter past what AWS's would be.

Caught as AWS catches it. AWS (Step Functions developer guide, "Handling errors in Step Functions workflows"): ``States.ALL``
cannot catch the terminal ``States.DataLimitExceeded`` nor ``States.Runtime`` errors: a state whose
input or output passes 256 KiB, or whose paths fail at run time, fails the whole execution, whatever
its Retry and Catch say. moto's interpreter lets ``States.ALL`` catch them, so a pipeline could
dead-letter there and look safe, while on AWS the change would end in a failed execution and no
dead letter. Here ``States.ALL`` skips them; a Catch that names them still matches by name.
"""

from __future__ import annotations

import json
from typing import Any

from moto.stepfunctions.parser import quotas
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType

UNCATCHABLE_BY_ALL = frozenset({StatesErrorNameType.StatesStatesDataLimitExceeded, StatesErrorNameType.StatesRuntime})
_original = ErrorEqualsDecl._eval_body
_original_failure_init = FailureEvent.__init__
MAX_STATE_BYTES = 256 * 1024
MAX_CAUSE_CHARACTERS = 32_768
_MEASURED_BY = [
    "moto.stepfunctions.parser.asl.component.state.state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
]


def is_within_size_quota(value: Any) -> bool:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    return len(text.encode()) <= MAX_STATE_BYTES


def _eval_body(declaration: ErrorEqualsDecl, env: Any) -> None:
    error_name = env.stack[-1]
    terminal = isinstance(error_name, StatesErrorName) and error_name.typ in UNCATCHABLE_BY_ALL
    if terminal and ErrorEqualsDecl._STATE_ALL_ERROR in declaration.error_names:
        env.stack.pop()
        env.stack.append(False)
        return
    _original(declaration, env)


def _failure_init(event: FailureEvent, *args: Any, **kwargs: Any) -> None:
    _original_failure_init(event, *args, **kwargs)
    for details in (event.event_details or {}).values():
        if isinstance(details, dict) and isinstance(details.get("cause"), str):
            details["cause"] = details["cause"][:MAX_CAUSE_CHARACTERS]


def _measuring_modules() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in _MEASURED_BY]


def install() -> None:
    ErrorEqualsDecl._eval_body = _eval_body  # type: ignore[method-assign,assignment]
    FailureEvent.__init__ = _failure_init  # type: ignore[method-assign,assignment]
    for module in _measuring_modules():
        module.is_within_size_quota = is_within_size_quota


def uninstall() -> None:
    ErrorEqualsDecl._eval_body = _original  # type: ignore[method-assign]
    FailureEvent.__init__ = _original_failure_init  # type: ignore[method-assign]
    for module in _measuring_modules():
        module.is_within_size_quota = quotas.is_within_size_quota
