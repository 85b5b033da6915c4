"""Identity policies, enforced for every call a state machine task makes in the embedded AWS.

moto can enforce IAM (``INITIAL_NO_AUTH_ACTION_COUNT``), but then it matches DynamoDB, SNS and
Lambda requests against resource ``*``, so a statement scoped to an ARN denies everything, and
every call of the harness itself would have to be signed by an IAM user. Instead, each call the
interpreter makes is checked, before it is sent, against the inline policies of the role the task
acts as (the state machine's role, or the role named in ``Credentials``), with moto's own policy
evaluator and the resource ARN the call names. A call the policies do not allow fails with
``AccessDenied``, as on AWS, and is caught and dead-lettered by the state machine.

Covered: the actions the pipeline's tasks call (``lambda:InvokeFunction``, ``dynamodb:PutItem``,
``s3:PutObject``, ``s3:GetObject`` for a copy's source, ``sns:Publish``, ``sqs:SendMessage``) on
their exact resources. Not covered: the Lambda functions' own calls (they run in-process with the
harness's keys), ``Condition`` blocks, resource policies and KMS key use (moto does not call KMS
when it stores encrypted data).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult

from changetrail.embedded.accounts import account_of, client

ERROR_CODES = {"dynamodb": "AccessDeniedException", "lambda": "AccessDeniedException", "sns": "AuthorizationError"}
_policies: dict[str, list[str]] = {}
_lock = threading.Lock()
denied: list[str] = []
"""Every refused call, newest last (``role: action on resource``)."""


def forget() -> None:
    with _lock:
        _policies.clear()
        denied.clear()


def inline_policies(role_arn: str) -> list[str]:
    with _lock:
        if role_arn not in _policies:
            iam, name = client("iam", account_of(role_arn)), role_arn.rsplit("/", 1)[-1]
            _policies[role_arn] = [
                json.dumps(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
                for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
            ]
        return _policies[role_arn]


def requested(service: str, operation: str, params: dict[str, Any], region: str, account: str) -> list[tuple[str, str]]:
    """(action, resource ARN) pairs a call needs, for the services the pipeline's tasks use."""
    if service == "dynamodb":
        return [(f"dynamodb:{operation}", f"arn:aws:dynamodb:{region}:{account}:table/{params.get('TableName')}")]
    if service == "sns":
        return [(f"sns:{operation}", params.get("TopicArn", "*"))]
    if service == "sqs":
        owner, name = params.get("QueueUrl", "").rstrip("/").split("/")[-2:]
        return [(f"sqs:{operation}", f"arn:aws:sqs:{region}:{owner}:{name}")]
    if service == "lambda":
        name = params.get("FunctionName", "")
        arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
        return [("lambda:InvokeFunction" if operation == "Invoke" else f"lambda:{operation}", arn)]
    if service == "s3":
        target = f"arn:aws:s3:::{params.get('Bucket')}/{params.get('Key')}"
        if operation == "CopyObject":
            source = unquote(str(params.get("CopySource", ""))).lstrip("/")
            return [("s3:PutObject", target), ("s3:GetObject", f"arn:aws:s3:::{source}")]
        return [(f"s3:{operation}", target)]
    return [(f"{service}:{operation}", "*")]


def allowed(role_arn: str, action: str, resource: str) -> bool:
    results = [IAMPolicy(document).is_action_permitted(action, resource) for document in inline_policies(role_arn)]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def enforce(client_: Any, role_arn: str, region: str) -> None:
    """Check every call of ``client_`` against ``role_arn``'s policies before it is sent."""
    service = client_.meta.service_model.service_name
    account = account_of(role_arn)

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        for action, resource in requested(service, model.name, params, region, account):
            if not allowed(role_arn, action, resource):
                message = f"User: {role_arn} is not authorized to perform: {action} on resource: {resource}"
                denied.append(f"{role_arn}: {action} on {resource}")
                code = ERROR_CODES.get(service, "AccessDenied")
                raise ClientError(
                    {
                        "Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 403, "RequestId": "embedded-authorization"},
                    },
                    model.name,
                )

    client_.meta.events.register(f"before-parameter-build.{client_.meta.service_model.service_id.hyphenize()}", check)
