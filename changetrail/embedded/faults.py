"""Fault injection for the embedded AWS: make one dependency fail for a window.

Each fault is a context manager: inside it the dependency fails the way AWS would (a throttle,
a hard error, a denied write), outside it everything works again. The pipeline code is untouched;
faults act on moto's backends, the in-process Lambda runtime, or the credentials the state
machine's tasks get.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend
from moto.sqs.exceptions import SQSException
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from changetrail.embedded import lambdas, stepfunctions
from changetrail.embedded.accounts import ARCHIVE_ACCOUNT, client

DENY_WRITES = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "FaultInjected", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}],
}


AUDIT_UNAVAILABLE = ("ResourceNotFoundException", "Requested resource not found")


class SNSInternalError(SNSException):
    code = "InternalError"


class SQSInternalError(SQSException):
    code = "InternalError"


@contextmanager
def failing(target: type, method: str, error: Callable[[], Exception], when: Callable[..., bool]) -> Iterator[dict[str, int]]:
    """``target.method`` raises ``error()`` whenever ``when(*args, **kwargs)``; counts how often."""
    original = getattr(target, method)
    raised = {"count": 0}

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            raised["count"] += 1
            raise error()
        return original(self, *args, **kwargs)

    setattr(target, method, wrapper)
    try:
        yield raised
    finally:
        setattr(target, method, original)


def _first(args: tuple[Any, ...], kwargs: dict[str, Any], name: str) -> Any:
    return kwargs.get(name, args[0] if args else None)


def audit_put_fails(code: str, message: str) -> Callable[[dict[str, Any]], Any]:
    """PutItem on the Audit table fails with ``code`` (a throttle is retried by the ASL, the rest caught)."""

    @contextmanager
    def fault(outputs: dict[str, Any]) -> Iterator[dict[str, int]]:
        table = outputs["audit_table_name"]
        with failing(
            DynamoDBBackend, "put_item", lambda: JsonRESTError(code, message), lambda *a, **k: _first(a, k, "table_name") == table
        ) as raised:
            yield raised

    return fault


@contextmanager
def archive_denied(outputs: dict[str, Any]) -> Iterator[dict[str, int]]:
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), outputs["archive_bucket_name"]
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(DENY_WRITES))
    try:
        yield {}
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy)


@contextmanager
def archive_role_unusable(outputs: dict[str, Any]) -> Iterator[dict[str, int]]:
    """The archive role cannot be assumed: the Archive task ends up acting as the wrong account."""
    stepfunctions.unusable_roles.add(outputs["archive_role_arn"])
    try:
        yield {}
    finally:
        stepfunctions.unusable_roles.discard(outputs["archive_role_arn"])


@contextmanager
def topic_unavailable(outputs: dict[str, Any]) -> Iterator[Any]:
    topic = outputs["topic_arn"]
    error = lambda: SNSInternalError("Request could not be processed")  # noqa: E731
    with failing(SNSBackend, "publish", error, lambda *a, **k: k.get("arn", a[1] if len(a) > 1 else None) == topic) as raised:
        yield raised


@contextmanager
def function_raises(outputs: dict[str, Any], function_suffix: str, on_key: str | None = None) -> Iterator[dict[str, int]]:
    """The Decode or Diff function throws (for every record, or only batches holding ``on_key``)."""
    raised = {"count": 0}

    def hook(function_name: str, event: Any) -> None:
        if function_name.endswith(function_suffix) and (on_key is None or on_key in json.dumps(event)):
            raised["count"] += 1
            raise RuntimeError(f"injected failure in {function_name}")

    lambdas.hooks.append(hook)
    try:
        yield raised
    finally:
        lambdas.hooks.remove(hook)


@contextmanager
def start_execution_throttled(outputs: dict[str, Any]) -> Iterator[Any]:
    error = lambda: JsonRESTError("ThrottlingException", "Rate exceeded")  # noqa: E731
    with failing(StepFunctionsParserBackend, "start_execution", error, lambda *a, **k: True) as raised:
        yield raised


@contextmanager
def dead_letter_queue_unavailable(outputs: dict[str, Any]) -> Iterator[Any]:
    queue = outputs["dlq_url"].rsplit("/", 1)[-1]
    error = lambda: SQSInternalError("Service unavailable")  # noqa: E731
    with failing(SQSBackend, "send_message", error, lambda *a, **k: _first(a, k, "queue_name") == queue) as raised:
        yield raised


@contextmanager
def dead_letter_queue_down_while_audit_fails(outputs: dict[str, Any]) -> Iterator[Any]:
    """Two faults at once: failures need a dead letter while the DLQ cannot take one."""
    with dead_letter_queue_unavailable(outputs), audit_put_fails(*AUDIT_UNAVAILABLE)(outputs) as raised:
        yield raised


FAULTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "audit table throttled": audit_put_fails(
        "ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput"
    ),
    "audit table unavailable": audit_put_fails(*AUDIT_UNAVAILABLE),
    "archive bucket denies writes": archive_denied,
    "archive role unusable": archive_role_unusable,
    "topic unavailable": topic_unavailable,
    "decode raises": lambda outputs: function_raises(outputs, "-decode"),
    "diff raises": lambda outputs: function_raises(outputs, "-diff"),
    "start execution throttled": start_execution_throttled,
    "dead-letter queue unavailable": dead_letter_queue_unavailable,
    "DLQ down while audit table fails": dead_letter_queue_down_while_audit_fails,
}
