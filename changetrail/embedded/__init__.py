"""The embedded local AWS: the Pulumi program's own stack, created in moto, running for real.

``EmbeddedAws`` starts moto with Step Functions execution on, runs ``__main__.py`` under mocks
that create each resource in moto (the archive side in a second account), runs Lambda handlers
in-process, makes task credentials assume their role, starts Express executions as AWS does (a
used name runs again, under its own Express ARN), refuses DynamoDB items past AWS's depth and
size limits, and delivers stream records to the trigger with the event source mapping's
semantics. ``functions/`` and ``statemachine/`` are untouched.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from moto import mock_aws

from changetrail.embedded import (
    authorization,
    conditional_writes,
    express,
    interpreter_speed,
    item_limits,
    lambdas,
    principals,
    s3policy,
    sdk_error_names,
    sns_batches,
    state_limits,
    stepfunctions,
    stream_pages,
    stream_toggles,
)
from changetrail.embedded.accounts import (
    ARCHIVE_ACCOUNT,
    PIPELINE_ACCOUNT,
    REGION,
    client,
    deploy_role_arn,
    forget_credentials,
)
from changetrail.embedded.execution_logs import ExecutionLogPublisher
from changetrail.embedded.mocks import MotoMocks, Registry
from changetrail.embedded.program import run_program
from changetrail.embedded.stream import Mapping, StreamPoller
from changetrail.stack_config import PROJECT_DIR, stack_config

__all__ = ["ARCHIVE_ACCOUNT", "PIPELINE_ACCOUNT", "REGION", "EmbeddedAws", "client"]

ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    # Off, so only the archive role can write to the archive account's bucket.
    "MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS": "false",
    "POWERTOOLS_METRICS_NAMESPACE": "changetrail",
}
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def quiet_handlers() -> None:
    """Keep a screen for results: the in-process handlers' logs, EMF metrics and moto's Fail-state noise go quiet."""
    import logging

    from functions import decode, diff, notify, trigger, write_audit

    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    for module in (decode, diff, notify, trigger, write_audit):
        module.logger.setLevel(logging.WARNING)


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Stack config with overrides; object-valued keys merge one level deep."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


class EmbeddedAws:
    """Use as a context manager: ``with EmbeddedAws() as aws: aws.outputs[...]``."""

    def __init__(
        self,
        stack: str = "dev",
        overrides: dict[str, Any] | None = None,
        project_dir: Path = PROJECT_DIR,
        before_deploy: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.stack = stack
        self.config = merge(stack_config(stack, project_dir), overrides or {})
        self.project_dir = project_dir
        self.before_deploy = before_deploy
        """Runs on the started embedded AWS before the program, and returns the stack config to deploy:
        where what a stack attaches to (a table and its stream) must exist before ``pulumi up``."""
        self.outputs: dict[str, Any] = {}
        self.registry = Registry()
        self.pollers: list[StreamPoller] = []
        self.execution_logs: ExecutionLogPublisher | None = None
        self._mock: Any = None
        self._saved_environment: dict[str, str | None] = {}

    def __enter__(self) -> EmbeddedAws:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
        self._saved_environment = {key: os.environ.get(key) for key in ENVIRONMENT}
        os.environ.update(ENVIRONMENT)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._mock.start()
        forget_credentials()
        lambdas.install()
        authorization.install()
        stepfunctions.install()
        express.install()
        state_limits.install()
        sdk_error_names.install()
        interpreter_speed.install()
        s3policy.install()
        conditional_writes.install()
        item_limits.install()
        stream_pages.install()
        stream_toggles.install()
        sns_batches.install()
        principals.install()
        principals.ensure_deploy_role(ARCHIVE_ACCOUNT, deploy_role_arn(ARCHIVE_ACCOUNT).rsplit("/", 1)[-1])
        if self.before_deploy is not None:
            self.config = self.before_deploy(self.config)
        mocks = MotoMocks()
        self.outputs = run_program(mocks, self.stack, self.config, self.project_dir)
        self.registry = mocks.registry
        machine = client("stepfunctions").describe_state_machine(stateMachineArn=self.outputs["state_machine_arn"])
        stepfunctions.execution_role_arn = machine["roleArn"]
        # Operators read the archive as the reader role: its sessions are held to its policy, as on AWS.
        authorization.operator_roles.clear()
        if self.outputs.get("archive_reader_role_arn"):
            authorization.operator_roles.add(self.outputs["archive_reader_role_arn"])
        self.execution_logs = ExecutionLogPublisher(self.outputs["state_machine_arn"])
        self.pollers = [
            StreamPoller(Mapping.from_inputs(m), self.invoke_function_for(m["functionName"])) for m in self.registry.mappings
        ]
        return self.outputs

    def stop(self) -> None:
        # An execution still running would outlive its stack and call the next one's, or the real, endpoints.
        if self._mock is not None and self.outputs.get("state_machine_arn"):
            with contextlib.suppress(TimeoutError, ClientError):  # a test may have removed the state machine
                self.wait_for_executions(timeout=60)
        stepfunctions.execution_role_arn = None
        authorization.operator_roles.clear()
        principals.uninstall()
        sns_batches.uninstall()
        stream_toggles.uninstall()
        stream_pages.uninstall()
        item_limits.uninstall()
        conditional_writes.uninstall()
        s3policy.uninstall()
        interpreter_speed.uninstall()
        sdk_error_names.uninstall()
        state_limits.uninstall()
        express.uninstall()
        stepfunctions.uninstall()
        authorization.uninstall()
        lambdas.uninstall()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for key, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # -- running the pipeline --------------------------------------------------------------
    def invoke_function_for(self, function: str) -> Any:
        """A stream mapping's invoker: through moto's Lambda API, so it reaches the in-process handler."""
        lambda_client = client("lambda")

        def invoke(event: dict[str, Any]) -> tuple[Any, str | None]:
            response = lambda_client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read() or b"null")
            return payload, response.get("FunctionError")

        return invoke

    def pump(self, wait_for_batches: bool = False) -> int:
        """Deliver the records now on the streams to the trigger; returns how many were read.

        By default everything, as if each batching window had passed; ``wait_for_batches`` holds a
        batch that is still filling until its window has passed, as Lambda does.
        """
        total = 0
        while read := sum(poller.poll(wait_for_batches) for poller in self.pollers):
            total += read
        return total

    def wait_for_executions(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Block until no execution is running; returns every execution of the state machine."""
        sfn = client("stepfunctions")
        arn = self.outputs["state_machine_arn"]
        deadline = time.monotonic() + timeout
        while True:
            # Ask only for running executions: listing them all on every poll competed with them for the GIL.
            running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=5)["executions"]
            if not running:
                executions = self.executions()
                if all(e["status"] in TERMINAL for e in executions):
                    if self.execution_logs:
                        self.execution_logs.publish(executions)
                    return executions
            if time.monotonic() > deadline:
                names = [e["name"] for e in running]
                raise TimeoutError(f"executions still running after {timeout}s: {names}")
            time.sleep(0.05)

    def executions(self) -> list[dict[str, Any]]:
        sfn = client("stepfunctions")
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=self.outputs["state_machine_arn"])
        return [execution for page in pages for execution in page["executions"]]

    def publish_execution_logs(self, executions: list[dict[str, Any]] | None = None) -> int:
        """Deliver finished executions to the log group, as AWS does for Express workflows."""
        if self.execution_logs is None:
            return 0
        return self.execution_logs.publish(executions) if executions is not None else self.execution_logs.publish_new()

    def settle(self, timeout: float = 120.0) -> list[dict[str, Any]]:
        """Pump the streams and wait for the executions that started; returns all executions."""
        self.pump()
        return self.wait_for_executions(timeout)
