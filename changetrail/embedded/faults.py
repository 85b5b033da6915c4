"""Fault injection for the embedded AWS: make one dependency fail for a window.

Each fault is a context manager over the running ``EmbeddedAws``: inside it the dependency fails
the way AWS would (a throttle, a hard error, a denied write, a function that crashes after its
side effects, a duplicate execution), outside it everything works again. What it yields counts
how often it fired (``count``) and names the changes it made poison for good (``poisoned``: their
``value``). The pipeline code is untouched; faults act on moto's backends, the in-process Lambda
runtime, or the credentials the state machine's tasks get.

``FAULTS[name](aws, table)``: with a ``table``, the fault hits only that source's changes (its
trigger, its executions, its audit rows, archive objects and notifications), so a stack of several
sources shows what the others see meanwhile; ``None`` hits every source.
"""

from __future__ import annotations

import contextlib
import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.s3.exceptions import S3ClientError
from moto.s3.models import S3Backend
from moto.sns.exceptions import SNSException
from moto.sns.models import SNSBackend
from moto.sqs.exceptions import SQSException
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from changetrail.embedded import conditional_writes, lambdas, stepfunctions
from changetrail.embedded.accounts import ARCHIVE_ACCOUNT, client

if TYPE_CHECKING:
    from changetrail.embedded import EmbeddedAws

DENY_WRITES: dict[str, Any] = {
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


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], name: str, position: int) -> Any:
    return kwargs.get(name, args[position] if len(args) > position else None)


def of_table(text: Any, table: str | None) -> bool:
    """Whether a request (an execution input, a Lambda event) is of ``table``'s changes: it names the table's stream."""
    return table is None or f"table/{table}/" in (text if isinstance(text, str) else json.dumps(text, default=str))


def archive_prefix_of(outputs: dict[str, Any], table: str) -> str:
    """Where ``table``'s archive objects are (``functions.diff.archive_key``)."""
    return "/".join(part for part in (outputs.get("archive_prefix", ""), table) if part) + "/"


def trigger_of(outputs: dict[str, Any], table: str | None) -> str:
    if table is None:
        return outputs["trigger_function_name"]
    (source,) = [source for source in outputs["sources"] if source["table_name"] == table]
    return source["trigger_function_name"]


def audit_put_fails(code: str, message: str) -> Callable[..., Any]:
    """PutItem on the Audit table fails with ``code`` (a throttle is retried by the ASL, the rest caught)."""

    @contextmanager
    def fault(outputs: dict[str, Any], table: str | None = None) -> Iterator[dict[str, int]]:
        audit = outputs["audit_table_name"]

        def when(*a: Any, **k: Any) -> bool:
            row = _arg(a, k, "item_attrs", 1) or {}
            return _first(a, k, "table_name") == audit and (table is None or row.get("table", {}).get("S") == table)

        with failing(DynamoDBBackend, "put_item", lambda: JsonRESTError(code, message), when) as raised:
            yield raised

    return fault


@contextmanager
def archive_denied(outputs: dict[str, Any], table: str | None = None) -> Iterator[dict[str, int]]:
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), outputs["archive_bucket_name"]
    policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    deny = DENY_WRITES
    if table is not None:
        (statement,) = DENY_WRITES["Statement"]
        resource = f"arn:aws:s3:::{bucket}/{archive_prefix_of(outputs, table)}*"
        deny = {**DENY_WRITES, "Statement": [{**statement, "Resource": resource}]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(deny))
    try:
        yield {}
    finally:
        s3.put_bucket_policy(Bucket=bucket, Policy=policy)


@contextmanager
def archive_role_unusable(outputs: dict[str, Any], table: str | None = None) -> Iterator[dict[str, int]]:
    """The archive role cannot be assumed: the Archive task ends up acting as the wrong account (for ``table``'s objects)."""
    prefix = archive_prefix_of(outputs, table) if table is not None else ""
    stepfunctions.unusable_roles[outputs["archive_role_arn"]] = lambda _action, params: str(params.get("Key", "")).startswith(
        prefix
    )
    try:
        yield {}
    finally:
        stepfunctions.unusable_roles.pop(outputs["archive_role_arn"], None)


@contextmanager
def topic_unavailable(outputs: dict[str, Any], table: str | None = None) -> Iterator[Any]:
    topic = outputs["topic_arn"]
    error = lambda: SNSInternalError("Request could not be processed")  # noqa: E731

    def when(*a: Any, **k: Any) -> bool:
        named = ((_arg(a, k, "message_attributes", 4) or {}).get("table") or {}) if table is not None else {}
        return _arg(a, k, "arn", 1) == topic and (table is None or table in (named.get("StringValue"), named.get("Value")))

    with failing(SNSBackend, "publish", error, when) as raised:
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
def start_execution_throttled(outputs: dict[str, Any], table: str | None = None) -> Iterator[Any]:
    error = lambda: JsonRESTError("ThrottlingException", "Rate exceeded")  # noqa: E731
    with failing(
        StepFunctionsParserBackend, "start_execution", error, lambda *a, **k: of_table(_arg(a, k, "execution_input", 2), table)
    ) as raised:
        yield raised


@contextmanager
def dead_letter_queue_unavailable(outputs: dict[str, Any], table: str | None = None) -> Iterator[Any]:
    queue = outputs["dlq_url"].rsplit("/", 1)[-1]
    error = lambda: SQSInternalError("Service unavailable")  # noqa: E731

    def when(*a: Any, **k: Any) -> bool:
        if _first(a, k, "queue_name") != queue:
            return False
        try:
            letter = json.loads(_arg(a, k, "message_body", 1) or "{}")
        except ValueError:
            letter = {}
        return table is None or letter.get("table") == table

    with failing(SQSBackend, "send_message", error, when) as raised:
        yield raised


@contextmanager
def dead_letter_queue_down_while_audit_fails(outputs: dict[str, Any], table: str | None = None) -> Iterator[Any]:
    """Two faults at once: failures need a dead letter while the DLQ cannot take one."""
    with dead_letter_queue_unavailable(outputs, table), audit_put_fails(*AUDIT_UNAVAILABLE)(outputs, table) as raised:
        yield raised


class TriggerCrashedAfterStarting(RuntimeError):
    """The trigger started its executions, then died before answering (a timeout, say)."""


@contextmanager
def trigger_crashes_after_start(aws: EmbeddedAws, every_time: bool = False, table: str | None = None) -> Iterator[dict[str, int]]:
    """The trigger starts its executions, then crashes: the stream retries the batch (bisected).

    Once per record (the first delivery crashes, the retries succeed), or every time (the retries
    run out and the stream writes its on-failure message).
    """
    trigger, crashed = trigger_of(aws.outputs, table), {"count": 0}
    seen: set[str] = set()

    def crash(function_name: str, event: Any, result: Any) -> None:
        ids = {record.get("eventID", "") for record in event.get("Records", [])}
        if function_name == trigger and (every_time or not ids <= seen):
            seen.update(ids)
            crashed["count"] += 1
            raise TriggerCrashedAfterStarting(f"{function_name} timed out after starting its executions")

    lambdas.completion_hooks.append(crash)
    try:
        yield crashed
    finally:
        lambdas.completion_hooks.remove(crash)


@contextmanager
def stream_records_dropped(aws: EmbeddedAws) -> Iterator[dict[str, int]]:
    """Stream delivery pauses, and what is written meanwhile never reaches the trigger (lost past the stream's 24 h).

    On exit every poller's checkpoint moves past the records written inside, undelivered.
    """
    aws.pump()  # what was written before the pause is delivered as usual
    dropped = {"count": 0}
    try:
        yield dropped
    finally:
        for poller in aws.pollers:
            dropped["count"] += poller.skip_to_latest()


POISON_EVERY = 25
"""One change in this many is poison: its new image holds a number DynamoDB would never stream."""


@contextmanager
def poison_changes(aws: EmbeddedAws, table: str | None = None) -> Iterator[dict[str, Any]]:
    """Some records reach the trigger broken for good (a value Decode refuses), among ordinary ones."""
    trigger = trigger_of(aws.outputs, table)
    fired: dict[str, Any] = {"count": 0, "poisoned": set()}

    def poison(function_name: str, event: Any) -> None:
        if function_name != trigger:
            return
        for record in event.get("Records", []):
            value = ((record.get("dynamodb") or {}).get("NewImage") or {}).get("value", {}).get("N")
            if value is not None and value.isdigit() and int(value) % POISON_EVERY == 7:
                record["dynamodb"]["NewImage"]["poison"] = {"N": "not a number"}
                fired["count"] += 1
                fired["poisoned"].add(int(value))

    lambdas.hooks.append(poison)
    try:
        yield fired
    finally:
        lambdas.hooks.remove(poison)


@contextmanager
def duplicate_executions(aws: EmbeddedAws, table: str | None = None) -> Iterator[dict[str, int]]:
    """Every execution of the pipeline starts twice, at once, with the same name and input (Express is at-least-once)."""
    machine, started = aws.outputs["state_machine_arn"], {"count": 0}
    original = StepFunctionsParserBackend.start_execution

    def twice(self: Any, state_machine_arn: str, *args: Any, **kwargs: Any) -> Any:
        first = original(self, state_machine_arn, *args, **kwargs)
        if state_machine_arn == machine and of_table(_arg(args, kwargs, "execution_input", 1), table):
            started["count"] += 1
            original(self, state_machine_arn, *args, **kwargs)
        return first

    StepFunctionsParserBackend.start_execution = twice  # type: ignore[method-assign]
    try:
        yield started
    finally:
        StepFunctionsParserBackend.start_execution = original  # type: ignore[method-assign]


def _upload_key(backend: S3Backend, *args: Any, **kwargs: Any) -> str:
    """The key of the upload a multipart step names (moto passes the bucket and upload id first, or by name)."""
    names = ("dest_bucket_name", "multipart_id") if "dest_bucket_name" in kwargs else ("bucket_name", "multipart_id")
    bucket_name, multipart_id = [*args, *(kwargs[name] for name in names if name in kwargs)][:2]
    return backend.get_bucket(bucket_name).multiparts[multipart_id].key_name


UPLOAD_STEPS = ("upload_part_copy", "complete_multipart_upload")


@contextmanager
def archive_upload_crashes(aws: EmbeddedAws, table: str | None = None) -> Iterator[dict[str, int]]:
    """Each large archive upload dies once, at one of the two worst moments, as an expired session would end it.

    Half the keys after the part was copied, before the answer arrived (the task's retry copies the part into
    the same upload again); the other half after the completion made the object, before the answer arrived:
    the change is dead-lettered, and its redrive must find the object (412), not write it again. That
    redrive's own upload is left incomplete, blocking nothing, until the lifecycle aborts it.
    Only ``table``'s objects, when given.
    """
    raised, seen = {"count": 0}, set()
    prefix = archive_prefix_of(aws.outputs, table) if table is not None else ""
    originals = {step: getattr(S3Backend, step) for step in UPLOAD_STEPS}

    def crashing(step: str) -> Callable[..., Any]:
        def crash_after(self: S3Backend, *args: Any, **kwargs: Any) -> Any:
            key = _upload_key(self, *args, **kwargs)  # read first: a completion ends the upload
            result = originals[step](self, *args, **kwargs)
            if key not in seen and key.startswith(prefix) and UPLOAD_STEPS[zlib.crc32(key.encode()) % 2] == step:
                seen.add(key)
                raised["count"] += 1
                raise S3ClientError("ExpiredToken", "The provided token has expired.")
            return result

        return crash_after

    for step in UPLOAD_STEPS:
        setattr(S3Backend, step, crashing(step))
    try:
        yield raised
    finally:
        for step, original in originals.items():
            setattr(S3Backend, step, original)


@contextmanager
def archive_create_conflicts(aws: EmbeddedAws, table: str | None = None) -> Iterator[dict[str, int]]:
    """Each large archive object is created by another writer while this one completes its upload: S3 answers 409.

    The object is there (the other create won); S3 asks the loser to start a new upload, which then finds it (412).
    """
    raised, seen, original = {"count": 0}, set(), S3Backend.complete_multipart_upload
    prefix = archive_prefix_of(aws.outputs, table) if table is not None else ""

    def conflicting(self: S3Backend, bucket_name: str, multipart_id: str, body: Any) -> Any:
        key = _upload_key(self, bucket_name, multipart_id)
        if key in seen or not key.startswith(prefix):
            return original(self, bucket_name, multipart_id, body)
        seen.add(key)
        raised["count"] += 1
        original(self, bucket_name, multipart_id, body)  # the other writer's create, with the same bytes
        raise conditional_writes.Conflict  # answered 409 ConditionalRequestConflict

    S3Backend.complete_multipart_upload = conflicting  # type: ignore[method-assign]
    try:
        yield raised
    finally:
        S3Backend.complete_multipart_upload = original  # type: ignore[method-assign]


FAILING_LANE = 0


@contextmanager
def one_lane_fails(aws: EmbeddedAws, table: str | None = None) -> Iterator[dict[str, int]]:
    """With several lanes per shard, the trigger fails every batch of one lane: only that lane gives up."""
    stream = aws.outputs["source_stream_arn"]
    if table is not None:
        (stream,) = [source["stream_arn"] for source in aws.outputs["sources"] if source["table_name"] == table]
    (poller,) = [poller for poller in aws.pollers if poller.mapping.stream_arn == stream]
    trigger, fired = trigger_of(aws.outputs, table), {"count": 0}

    def fail(function_name: str, event: Any) -> None:
        records = event.get("Records", [])
        if function_name == trigger and records and poller.mapping.lane_of(records[0]) == FAILING_LANE:
            fired["count"] += 1
            raise RuntimeError("injected failure in the trigger for one lane")

    lambdas.hooks.append(fail)
    try:
        yield fired
    finally:
        lambdas.hooks.remove(fail)


Fault = Callable[["EmbeddedAws", str | None], Any]
"""``fault(aws, table)``: a context manager that makes something fail for ``table``'s changes (every source's: None)."""


def on_outputs(fault: Callable[[dict[str, Any], str | None], Any]) -> Fault:
    return lambda aws, table: fault(aws.outputs, table)


FAULTS: dict[str, Fault] = {
    "audit table throttled": on_outputs(
        audit_put_fails("ProvisionedThroughputExceededException", "Rate of requests exceeds the allowed throughput")
    ),
    "audit table unavailable": on_outputs(audit_put_fails(*AUDIT_UNAVAILABLE)),
    "archive bucket denies writes": on_outputs(archive_denied),
    "archive role unusable": on_outputs(archive_role_unusable),
    "topic unavailable": on_outputs(topic_unavailable),
    "decode raises": on_outputs(lambda outputs, table: function_raises(outputs, "-decode", table and f"table/{table}/")),
    "diff raises": on_outputs(lambda outputs, table: function_raises(outputs, "-diff", table and f"table/{table}/")),
    "start execution throttled": on_outputs(start_execution_throttled),
    "dead-letter queue unavailable": on_outputs(dead_letter_queue_unavailable),
    "DLQ down while audit table fails": on_outputs(dead_letter_queue_down_while_audit_fails),
    "trigger crash after start": lambda aws, table: trigger_crashes_after_start(aws, table=table),
    "trigger crash after start, retries exhausted": lambda aws, table: trigger_crashes_after_start(aws, True, table),
    "poison change among ordinary ones": poison_changes,
    "duplicate concurrent executions": duplicate_executions,
    "parallelization 4, one lane failing": one_lane_fails,
    "composite keys, separator in values": lambda aws, table: contextlib.nullcontext({}),
    "large changes: archive upload crashes between steps": archive_upload_crashes,
    "large changes: duplicate concurrent executions": duplicate_executions,
    "large changes: concurrent create of the same key": archive_create_conflicts,
}
