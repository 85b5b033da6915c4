"""Identity policies, enforced for every call the pipeline makes in the embedded AWS.

moto can enforce IAM (``INITIAL_NO_AUTH_ACTION_COUNT``), but then it matches DynamoDB, SNS and
Lambda requests against resource ``*``, so a statement scoped to an ARN denies everything, and
every call of the harness itself would have to be signed by an IAM user. Instead, each call is
checked, before it is sent, against the inline policies of the role it acts as, with moto's own
policy evaluator and the resource ARN the call names:

- a state machine task's call: the state machine's role, or the role named in ``Credentials``;
- a Lambda function's call (functions run in-process): the function's execution role, for as
  long as its handler runs, in its thread and in threads that carry its context.

A call the policies do not allow fails with ``AccessDenied``, as on AWS. Covered: the actions the
pipeline calls (Lambda, DynamoDB, S3, SNS, SQS, Step Functions) on their exact resources. Not
covered: ``Condition`` blocks, resource policies and KMS key use (moto does not call KMS when it
stores encrypted data).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import iam_backends

from changetrail.embedded.accounts import account_of

ERROR_CODES = {
    "dynamodb": "AccessDeniedException",
    "lambda": "AccessDeniedException",
    "sns": "AuthorizationError",
    "stepfunctions": "AccessDeniedException",
}
ACTIONS = {("sns", "PublishBatch"): "sns:Publish", ("lambda", "Invoke"): "lambda:InvokeFunction"}
"""Operations IAM authorizes under another action's name."""
SERVICE_PREFIXES = {"stepfunctions": "states", "dynamodbstreams": "dynamodb"}
function_role: contextvars.ContextVar[str | None] = contextvars.ContextVar("function_role", default=None)
"""The execution role of the in-process Lambda handler running in this context, if any."""
_original_api_call = BaseClient._make_api_call
_policies: dict[str, list[str]] = {}
_lock = threading.Lock()
denied: list[str] = []
"""Every refused call, newest last (``role: action on resource``)."""


def forget() -> None:
    with _lock:
        _policies.clear()
        denied.clear()


def inline_policies(role_arn: str) -> list[str]:
    """The role's inline policy documents, read from moto's IAM store.

    Not through an IAM client: checks run inside in-process handlers and their worker threads,
    and creating a client there would wait for the lock a running handler holds.
    """
    with _lock:
        if role_arn not in _policies:
            role = iam_backends[account_of(role_arn)]["global"].get_role(role_arn.rsplit("/", 1)[-1])
            _policies[role_arn] = list(role.policies.values())
        return _policies[role_arn]


def requested(service: str, operation: str, params: dict[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs a call needs, for the services the pipeline uses."""
    action = ACTIONS.get((service, operation), f"{SERVICE_PREFIXES.get(service, service)}:{operation}")
    if service == "dynamodb":
        tables = list(params.get("RequestItems") or {}) or [params.get("TableName")]
        return [(action, f"arn:aws:dynamodb:{region}:{account}:table/{table}") for table in tables]
    if service == "sns":
        return [(action, params.get("TopicArn", "*"))]
    if service == "sqs":
        owner, name = params.get("QueueUrl", "").rstrip("/").split("/")[-2:]
        return [(action, f"arn:aws:sqs:{region}:{owner}:{name}")]
    if service == "lambda":
        name = params.get("FunctionName", "")
        return [(action, name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}")]
    if service == "stepfunctions":
        return [(action, params.get("stateMachineArn") or params.get("executionArn") or "*")]
    if service == "s3":
        target = f"arn:aws:s3:::{params.get('Bucket')}/{params.get('Key')}"
        if operation == "CopyObject":
            source = unquote(str(params.get("CopySource", ""))).lstrip("/")
            return [("s3:PutObject", target), ("s3:GetObject", f"arn:aws:s3:::{source}")]
        if operation in ("ListObjects", "ListObjectsV2"):
            return [("s3:ListBucket", f"arn:aws:s3:::{params.get('Bucket')}")]
        return [(action, target)]
    return [(action, "*")]


def allowed(role_arn: str, action: str, resource: str) -> bool:
    results = [IAMPolicy(document).is_action_permitted(action, resource) for document in inline_policies(role_arn)]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def check(role_arn: str, service: str, operation: str, params: dict[str, Any], region: str) -> None:
    """Raise AWS's access-denied error unless ``role_arn``'s policies allow the call."""
    for action, resource in requested(service, operation, params, region, account_of(role_arn)):
        if not allowed(role_arn, action, resource):
            message = f"User: {role_arn} is not authorized to perform: {action} on resource: {resource}"
            denied.append(f"{role_arn}: {action} on {resource}")
            code = ERROR_CODES.get(service, "AccessDenied")
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": message},
                    "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "embedded-authorization"},
                },
                operation,
            )


def enforce(client_: Any, role_arn: str, region: str) -> None:
    """Check every call of ``client_`` against ``role_arn``'s policies before it is sent."""
    service = client_.meta.service_model.service_name

    def before(params: dict[str, Any], model: Any, **_: Any) -> None:
        check(role_arn, service, model.name, params, region)

    client_.meta.events.register(f"before-parameter-build.{client_.meta.service_model.service_id.hyphenize()}", before)


@contextmanager
def acting_as(role_arn: str) -> Iterator[None]:
    """Calls made in this context (a Lambda handler's invocation) are checked against ``role_arn``."""
    token = function_role.set(role_arn)
    try:
        yield
    finally:
        function_role.reset(token)


def _checked_api_call(client_: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    role_arn = function_role.get()
    if role_arn is not None:
        model = client_.meta.service_model.operation_model(operation_name)
        check(role_arn, client_.meta.service_model.service_name, model.name, api_params, client_.meta.region_name)
    return _original_api_call(client_, operation_name, api_params)


def install() -> None:
    BaseClient._make_api_call = _checked_api_call


def uninstall() -> None:
    BaseClient._make_api_call = _original_api_call
