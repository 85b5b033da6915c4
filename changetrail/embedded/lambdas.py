"""Run Lambda handlers in-process, as moto's Lambda would in a container.

Both of moto's invoke paths (a boto3/Step Functions ``invoke`` and moto's own stream mapping)
end in ``LambdaFunction._invoke_lambda``; replacing it there catches every call. Each call gets
the function's environment variables, as in AWS, under one lock because ``os.environ`` is shared.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.awslambda.models import LambdaFunction

from changetrail.embedded import authorization
from changetrail.embedded.accounts import ENVIRONMENT_LOCK

InvocationHook = Callable[[str, Any], None]
"""Called with (function name, event) before each invocation: the fault harness's entry point."""
hooks: list[InvocationHook] = []
CompletionHook = Callable[[str, Any, Any], None]
"""Called with (function name, event, result) after a handler returned: raising there is a crash after
the handler's side effects and before its caller hears of them (a timeout, say)."""
completion_hooks: list[CompletionHook] = []
invocations: dict[str, int] = {}
durations: dict[str, list[float]] = {}
"""Seconds per invocation, by function name: what Lambda would bill (measured here, in-process)."""


@dataclass
class LambdaContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "embedded"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def resolve_handler(spec: str | None) -> Callable[[Any, Any], Any]:
    if not spec:  # moto's handler is optional (image functions); every function of this program names one
        raise ValueError("the function has no handler")
    module_name, _, attribute = spec.rpartition(".")
    return getattr(importlib.import_module(module_name.replace("/", ".")), attribute)


def invoke_in_process(function: LambdaFunction, event: Any) -> tuple[str, bool, str]:
    """Returns (payload, errored, logs) like moto's Docker runner."""
    payload = json.loads(event) if isinstance(event, (str, bytes)) and event else (event or {})
    context = LambdaContext(
        function_name=function.function_name,
        invoked_function_arn=function.function_arn,
        memory_limit_in_mb=int(function.memory_size or 128),
        aws_request_id=str(uuid.uuid4()),
        deadline=time.monotonic() + float(function.timeout or 3),
        log_group_name=f"/aws/lambda/{function.function_name}",
    )
    with ENVIRONMENT_LOCK:
        saved = {key: os.environ.get(key) for key in function.environment_vars}
        os.environ.update(function.environment_vars)
        try:
            invocations[function.function_name] = invocations.get(function.function_name, 0) + 1
            for hook in hooks:
                hook(function.function_name, payload)
            started = time.perf_counter()
            try:
                with authorization.acting_as(function.role):
                    result = resolve_handler(function.handler)(payload, context)
            finally:
                durations.setdefault(function.function_name, []).append(time.perf_counter() - started)
            for completion in completion_hooks:
                completion(function.function_name, payload, result)
            return json.dumps(result), False, ""
        except Exception as error:  # noqa: BLE001 -- reported to the caller as a function error, like Lambda
            body = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-5:],
            }
            return json.dumps(body), True, traceback.format_exc()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


_original_invoke = LambdaFunction._invoke_lambda


def install() -> None:
    LambdaFunction._invoke_lambda = lambda self, event=None: invoke_in_process(self, event)  # type: ignore[method-assign]


def uninstall() -> None:
    LambdaFunction._invoke_lambda = _original_invoke  # type: ignore[method-assign]
