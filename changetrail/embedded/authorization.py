"""Identity policies, enforced for every call the pipeline makes in the embedded AWS.

moto can enforce IAM (``INITIAL_NO_AUTH_ACTION_COUNT``), but then it matches DynamoDB, SNS and
Lambda requests against resource ``*``, so a statement scoped to an ARN denies everything, and
every call of the harness itself would have to be signed by an IAM user. Instead, each call is
checked, before it is sent, against the inline policies of the role it acts as, with moto's own
policy evaluator and the resource ARN the call names:

- a state machine task's call: the state machine's role, or the role named in ``Credentials``;
- a Lambda function's call (functions run in-process): the function's execution role, for as
  long as its handler runs, in its thread and in threads that carry its context.

- an operator's call made with the credentials of an assumed role in ``operator_roles`` (the
  archive reader: ``replay``, ``restore``, ``verify``, the console), in this process.

A call the policies do not allow fails with ``AccessDenied``, as on AWS. Covered: the actions the
pipeline calls (Lambda, DynamoDB, S3, SNS, SQS, Step Functions) on their exact resources;
``Condition`` blocks on the keys ``conditions.MODELLED`` lists (``s3:if-none-match``, ``s3:prefix``,
``s3:ObjectCreationOperation``, ``aws:PrincipalArn``...); and, for S3, an explicit ``Deny`` of the bucket's policy that names the
caller. Not covered: conditions on other keys (treated as met), other resource policies and KMS
key use (moto does not call KMS when it stores encrypted data).
"""

from __future__ import annotations

import contextvars
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import iam_backends
from moto.s3.models import s3_backends
from moto.sts.models import sts_backends

from changetrail.embedded.accounts import account_of
from changetrail.embedded.conditions import statement_holds, without_conditions

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
_lock = threading.Lock()
denied: list[str] = []
"""Every refused call, newest last (``role: action on resource``)."""
operator_roles: set[str] = set()
"""Roles whose assumed sessions, used by operator tools in this process, are checked like task roles."""
_sessions: dict[str, str | None] = {}


def forget() -> None:
    with _lock:
        denied.clear()
        _sessions.clear()


def inline_policies(role_arn: str) -> list[str]:
    """The role's inline policy documents, read from moto's IAM store on every check: a change holds at once.

    Not through an IAM client: checks run inside in-process handlers and their worker threads,
    and creating a client there would wait for the lock a running handler holds.
    """
    role = iam_backends[account_of(role_arn)]["global"].get_role(role_arn.rsplit("/", 1)[-1])
    return list(role.policies.values())


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
        return s3_requested(action, operation, params)
    return [(action, "*")]


OBJECT_CREATION = {"PutObject": "true", "CopyObject": "true", "CompleteMultipartUpload": "true"} | dict.fromkeys(
    ("CreateMultipartUpload", "UploadPart", "UploadPartCopy"), "false"
)
"""``s3:ObjectCreationOperation`` of the requests IAM authorizes as ``s3:PutObject``: true where the request
creates the object, false for the multipart steps before it (S3 user guide, "Enforce conditional writes")."""
LISTED_AS = {"ListParts": "s3:ListMultipartUploadParts", "ListMultipartUploads": "s3:ListBucketMultipartUploads"}


def s3_requested(action: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    bucket = f"arn:aws:s3:::{params.get('Bucket')}"
    target = f"{bucket}/{params.get('Key')}"
    bypass = [("s3:BypassGovernanceRetention", target)] if params.get("BypassGovernanceRetention") else []
    if operation in ("CopyObject", "UploadPartCopy"):
        source = unquote(str(params.get("CopySource", ""))).lstrip("/")
        return [("s3:PutObject", target), ("s3:GetObject", f"arn:aws:s3:::{source}")]
    if operation in OBJECT_CREATION:
        return [("s3:PutObject", target)]
    if operation in LISTED_AS:
        return [(LISTED_AS[operation], bucket if operation == "ListMultipartUploads" else target)]
    if operation in ("ListObjects", "ListObjectsV2"):
        return [("s3:ListBucket", bucket)]
    if operation == "ListObjectVersions":
        return [("s3:ListBucketVersions", bucket)]
    if operation == "DeleteObject":
        return [("s3:DeleteObjectVersion" if params.get("VersionId") else "s3:DeleteObject", target), *bypass]
    if operation == "DeleteObjects":
        keys = (params.get("Delete") or {}).get("Objects", [])
        return [
            ("s3:DeleteObjectVersion" if key.get("VersionId") else "s3:DeleteObject", f"{bucket}/{key.get('Key')}")
            for key in keys
        ] + ([("s3:BypassGovernanceRetention", f"{bucket}/*")] if params.get("BypassGovernanceRetention") else [])
    if operation in ("GetObject", "HeadObject") and params.get("VersionId"):
        return [("s3:GetObjectVersion", target)]
    return [(action, target)]


def request_context(role_arn: str, service: str, params: dict[str, Any], operation: str = "") -> dict[str, str]:
    """The condition keys a request carries (see ``conditions.MODELLED``); boto3 always calls over TLS."""
    context = {"aws:SecureTransport": "true", "aws:PrincipalArn": role_arn, "aws:PrincipalAccount": account_of(role_arn)}
    if service == "s3":
        for key, param in (("s3:prefix", "Prefix"), ("s3:if-none-match", "IfNoneMatch"), ("s3:if-match", "IfMatch")):
            if params.get(param) is not None:
                context[key] = str(params[param])
        if operation in OBJECT_CREATION:
            context["s3:ObjectCreationOperation"] = OBJECT_CREATION[operation]
    return context


def allowed(role_arn: str, action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    context = context if context is not None else request_context(role_arn, "", {})
    documents = [without_conditions(json.loads(document), context) for document in inline_policies(role_arn)]
    results = [IAMPolicy(json.dumps(document)).is_action_permitted(action, resource) for document in documents]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def _names(principal: Any, role_arn: str) -> bool:
    """Whether a resource policy's ``Principal`` covers the role (``*``, the role, or its account)."""
    if principal == "*":
        return True
    values = (principal or {}).get("AWS", []) if isinstance(principal, dict) else []
    account = account_of(role_arn)
    return any(
        value in ("*", role_arn, account, f"arn:aws:iam::{account}:root")
        for value in ([values] if isinstance(values, str) else values)
    )


def bucket_denies(role_arn: str, action: str, resource: str, context: dict[str, str]) -> bool:
    """An explicit Deny of the bucket's own policy for this call: it wins over any grant, as in S3."""
    bucket_name = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        return False
    partition, account = owner
    bucket = s3_backends[account][partition].buckets.get(bucket_name)
    if bucket is None or not bucket.policy:
        return False
    statements = json.loads(bucket.policy).get("Statement", [])
    denies = [
        {k: v for k, v in statement.items() if k not in ("Condition", "Principal")}
        for statement in ([statements] if isinstance(statements, dict) else statements)
        if statement.get("Effect") == "Deny"
        and _names(statement.get("Principal"), role_arn)
        and statement_holds(statement, context)
    ]
    if not denies:
        return False
    document = json.dumps({"Version": "2012-10-17", "Statement": denies})
    return IAMPolicy(document).is_action_permitted(action, resource) == PermissionResult.DENIED


def check(role_arn: str, service: str, operation: str, params: dict[str, Any], region: str) -> None:
    """Raise AWS's access-denied error unless ``role_arn``'s policies allow the call."""
    context = request_context(role_arn, service, params, operation)
    for action, resource in requested(service, operation, params, region, account_of(role_arn)):
        refused_by_bucket = service == "s3" and bucket_denies(role_arn, action, resource, context)
        if refused_by_bucket or not allowed(role_arn, action, resource, context):
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


def session_role(client_: BaseClient) -> str | None:
    """The operator role whose assumed credentials the client signs with, if it is one of ``operator_roles``."""
    if not operator_roles:
        return None
    credentials = getattr(client_._request_signer, "_credentials", None)
    access_key = getattr(credentials, "access_key", None)
    if not access_key:
        return None
    with _lock:
        if access_key not in _sessions:
            found = None
            for account in list(sts_backends):
                for assumed in sts_backends[account]["global"].assumed_roles:
                    if assumed.access_key_id == access_key:
                        found = assumed.role_arn
            # Only a session of a role the harness registered is checked: its own calls stay unchecked.
            _sessions[access_key] = found if found in operator_roles else None
        return _sessions[access_key]


def _checked_api_call(client_: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
    role_arn = function_role.get() or session_role(client_)
    if role_arn is not None:
        model = client_.meta.service_model.operation_model(operation_name)
        check(role_arn, client_.meta.service_model.service_name, model.name, api_params, client_.meta.region_name)
    return _original_api_call(client_, operation_name, api_params)


def install() -> None:
    BaseClient._make_api_call = _checked_api_call


def uninstall() -> None:
    BaseClient._make_api_call = _original_api_call
