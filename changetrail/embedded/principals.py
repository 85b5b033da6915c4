"""Every principal held to IAM's policy evaluation, server-side: each S3 request and each ``AssumeRole``.

moto hands out credentials for any role to anyone and serves any S3 request its account may reach,
so locally a bucket policy or a trust policy held only for the calls the harness itself checked.
Here the checks sit in moto's request handling (``S3Response``, ``STSResponse``), so they hold for
every client: the CLI, tests, a plain boto3 client in this process, a boto3 or ``aws`` client on the
``changetrail local`` endpoint.

Who calls is read from the request's access key, as AWS does: the key of an assumed-role session is
that role (``aws:PrincipalArn`` the role's ARN); the key of an IAM user is that user; any other key
(the default ``testing``/``local`` keys) is the **root user of the pipeline account**, moto's default
account, which an identity policy cannot restrict, but which an explicit ``Deny`` of a resource
policy stops, and which reaches another account only where that account's policy lets it.

Evaluation (IAM user guide, "Policy evaluation logic"): an explicit ``Deny`` in the caller's policies
or in the resource's policy refuses; otherwise, in the resource's own account, an ``Allow`` in either
suffices; across accounts both must allow. The root user of a bucket's owner may always read, put and
delete the bucket's policy (S3: so an owner cannot lock itself out). Policies are read on every
request: a change takes effect on the next call. Not evaluated: permissions boundaries, session
policies, SCPs, managed policies attached to a role (the program attaches none).
"""

from __future__ import annotations

import json
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.models import iam_backends
from moto.s3.exceptions import MethodNotAllowed, S3ClientError
from moto.s3.models import s3_backends
from moto.s3.responses import S3Response
from moto.sts.exceptions import STSClientError
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse as STSResponse

from changetrail.embedded import authorization
from changetrail.embedded.accounts import PIPELINE_ACCOUNT, account_of
from changetrail.embedded.conditions import statement_holds

BUCKET_POLICY_ACTIONS = ("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy")
"""What the root user of a bucket's owner may always do on it, whatever the bucket policy says."""
IAM_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "HeadBucket": "s3:ListBucket",
    "PutObjectLockConfiguration": "s3:PutBucketObjectLockConfiguration",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
    "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "s3:GetBucketPublicAccessBlock",
    "PutBucketEncryption": "s3:PutEncryptionConfiguration",
    "GetBucketEncryption": "s3:GetEncryptionConfiguration",
    "PutBucketLifecycleConfiguration": "s3:PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "s3:GetLifecycleConfiguration",
}
"""S3 operations IAM authorizes under another action's name (the rest: ``authorization.s3_requested``)."""
ADMINISTRATOR = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@dataclass(frozen=True)
class Principal:
    arn: str
    """``aws:PrincipalArn``: the role's ARN for a role session, ``arn:aws:iam::<account>:root`` for the root user."""
    account: str
    caller: str
    """How AWS names the caller in an AccessDenied message (a session: ``arn:aws:sts::<acct>:assumed-role/<role>/<name>``)."""
    kind: str
    """``root``, ``role``, ``user`` or ``service``."""

    @classmethod
    def root(cls, account: str) -> Principal:
        arn = f"arn:aws:iam::{account}:root"
        return cls(arn, account, arn, "root")


def _assumed_role(access_key: str) -> Any:
    for account in list(sts_backends):
        found = sts_backends[account]["global"].get_assumed_role_from_access_key(access_key)
        if found is not None:
            return found
    return None


def principal_of(access_key: str) -> Principal:
    """The principal a request's access key stands for (see the module docstring)."""
    assumed = _assumed_role(access_key)
    if assumed is not None:
        return Principal(assumed.role_arn, account_of(assumed.role_arn), assumed.arn, "role")
    for account in list(iam_backends):
        key = iam_backends[account]["global"].access_keys.get(access_key)
        user = getattr(key, "user_name", None)
        if user:
            arn = f"arn:aws:iam::{account}:user/{user}"
            return Principal(arn, account, arn, "user")
    return Principal.root(PIPELINE_ACCOUNT)


def identity_documents(principal: Principal) -> list[dict[str, Any]] | None:
    """The caller's own policies, read now (None: the root user, whom no identity policy restricts)."""
    if principal.kind == "root":
        return None
    backend = iam_backends[principal.account]["global"]
    name = principal.arn.rsplit("/", 1)[-1]
    try:
        holder = backend.get_role(name) if principal.kind == "role" else backend.get_user(name)
    except Exception:  # noqa: BLE001 -- a deleted role's session keeps no permissions, as on AWS
        return []
    return [json.loads(document) for document in holder.policies.values()]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _evaluate(statements: list[dict[str, Any]], action: str, resource: str) -> PermissionResult:
    if not statements:
        return PermissionResult.NEUTRAL
    document = json.dumps({"Version": "2012-10-17", "Statement": statements})
    return IAMPolicy(document).is_action_permitted(action, resource)


def identity_result(principal: Principal, action: str, resource: str, context: dict[str, str]) -> PermissionResult:
    documents = identity_documents(principal)
    if documents is None:
        return PermissionResult.PERMITTED
    results = [
        _evaluate(
            [{k: v for k, v in s.items() if k != "Condition"} for s in _statements(d) if statement_holds(s, context)],
            action,
            resource,
        )
        for d in documents
    ]
    if PermissionResult.DENIED in results:
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if PermissionResult.PERMITTED in results else PermissionResult.NEUTRAL


def names(principal_block: Any, principal: Principal, directly: bool = False) -> bool:
    """Whether a resource policy's ``Principal`` covers the caller; ``directly``: by its own ARN or ``*``, not its account."""
    if principal_block == "*":
        return True
    if not isinstance(principal_block, dict):
        return False
    values = principal_block.get("AWS", [])
    values = [values] if isinstance(values, str) else values
    own = {"*", principal.arn, principal.caller}
    accounts = {principal.account, f"arn:aws:iam::{principal.account}:root"}
    return any(value in own or (not directly and value in accounts) for value in values)


def resource_result(
    document: dict[str, Any] | None, principal: Principal, action: str, resource: str, context: dict[str, str], directly: bool
) -> PermissionResult:
    """A resource policy's answer for the caller: its Denies naming the caller, then its Allows."""
    if not document:
        return PermissionResult.NEUTRAL
    applicable = [s for s in _statements(document) if statement_holds(s, context)]

    def stripped(statement: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in statement.items() if k not in ("Condition", "Principal")}
        # A trust policy names no Resource: the role it is attached to is the resource.
        return kept if "Resource" in kept or "NotResource" in kept else {**kept, "Resource": resource}

    denies = [stripped(s) for s in applicable if s.get("Effect") == "Deny" and names(s.get("Principal"), principal)]
    if _evaluate(denies, action, resource) == PermissionResult.DENIED:
        return PermissionResult.DENIED
    allows = [stripped(s) for s in applicable if s.get("Effect") == "Allow" and names(s.get("Principal"), principal, directly)]
    granted = _evaluate(allows, action, resource) == PermissionResult.PERMITTED
    return PermissionResult.PERMITTED if granted else PermissionResult.NEUTRAL


def permitted(
    principal: Principal, action: str, resource: str, context: dict[str, str], owner: str, policy: dict[str, Any] | None
) -> bool:
    """IAM's evaluation for one action: explicit Deny wins; same account, either allows; across accounts, both."""
    same_account = principal.account == owner
    # In its own account a resource policy that names the account delegates to IAM; only naming the caller grants.
    by_resource = resource_result(policy, principal, action, resource, context, directly=same_account)
    by_identity = identity_result(principal, action, resource, context)
    if PermissionResult.DENIED in (by_resource, by_identity):
        return False
    if same_account:
        return PermissionResult.PERMITTED in (by_resource, by_identity)
    return by_resource == by_identity == PermissionResult.PERMITTED


def s3_context(principal: Principal, operation: str, params: dict[str, Any]) -> dict[str, str]:
    context = authorization.request_context(principal.arn, "s3", params, operation)
    context["aws:PrincipalAccount"] = principal.account
    return context


def s3_decision(principal: Principal, operation: str, params: dict[str, Any]) -> tuple[str, str] | None:
    """The first (action, resource) the caller may not do for this S3 request, or None when every one is allowed."""
    if not params.get("Bucket") or operation == "CreateBucket":
        return None  # ListBuckets, and a bucket that does not exist yet: moto's own rules
    context = s3_context(principal, operation, params)
    for action, resource in authorization.s3_requested(IAM_ACTIONS.get(operation, f"s3:{operation}"), operation, params):
        if params.get("Key") is None and operation != "DeleteObjects":
            resource = resource.removesuffix("/None")  # a bucket's own subresource: the bucket's ARN
        bucket_name = resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
        owner_entry = s3_backends.bucket_accounts.get(bucket_name)
        if owner_entry is None:
            continue  # NoSuchBucket comes from moto
        partition, owner = owner_entry
        bucket = s3_backends[owner][partition].buckets.get(bucket_name)
        policy = json.loads(bucket.policy) if bucket is not None and bucket.policy else None
        if action in BUCKET_POLICY_ACTIONS and principal == Principal.root(owner):
            continue
        if not permitted(principal, action, resource, context, owner, policy):
            return action, resource
        if action in BUCKET_POLICY_ACTIONS and principal.account != owner:
            raise MethodNotAllowed()  # S3: allowed, but not of the bucket owner's account
    return None


def _refuse_s3(response: S3Response, request: Any) -> None:
    operation = response._get_action_from_request(request)
    if not operation:
        return
    response.parse_parameters(request)
    params = {k: v for k, v in response.params.items() if k != "Body"}
    principal = principal_of(response.get_access_key())
    refused = s3_decision(principal, operation, params)
    if refused is not None:
        action, resource = refused
        authorization.denied.append(f"{principal.arn}: {action} on {resource}")
        raise S3ClientError("AccessDenied", "Access Denied")


def _guarded(original: Any) -> Any:
    def handler(response: S3Response, request: Any, full_url: str) -> Any:
        _refuse_s3(response, request)
        return original(response, request, full_url)

    handler.__wrapped__ = original  # type: ignore[attr-defined]
    return handler


# -- STS -----------------------------------------------------------------------------------------------
def trust_policy(role_arn: str) -> dict[str, Any] | None:
    """The role's trust policy, read now (None: no such role)."""
    try:
        role = iam_backends[account_of(role_arn)]["global"].get_role_by_arn(role_arn)
    except Exception:  # noqa: BLE001 -- moto's NotFoundException; STS answers AccessDenied, not NotFound
        return None
    document = role.assume_role_policy_document
    return json.loads(document) if isinstance(document, str) else document


def may_assume(principal: Principal, role_arn: str, external_id: str | None = None) -> bool:
    """STS's answer: the trust policy (the role's resource policy) and, where it delegates, the caller's own policies."""
    policy = trust_policy(role_arn)
    if policy is None:
        return False
    context = {"aws:PrincipalArn": principal.arn, "aws:PrincipalAccount": principal.account}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    return permitted(principal, "sts:AssumeRole", role_arn, context, account_of(role_arn), policy)


def _assume_role(response: STSResponse) -> Any:
    principal = principal_of(response.get_access_key())
    role_arn = response._get_param("RoleArn")
    if may_assume(principal, role_arn, response._get_param("ExternalId")):
        return _original_assume_role(response)
    authorization.denied.append(f"{principal.arn}: sts:AssumeRole on {role_arn}")
    message = f"User: {principal.caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    with warnings.catch_warnings():  # STS's model has no AccessDenied shape; AWS answers it with HTTP 403
        warnings.simplefilter("ignore")
        _, headers, body = response.serialized(ActionResult(STSClientError("AccessDenied", message)))
    return body, {**headers, "status": 403}


def _services(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    services = principal.get("Service", []) if isinstance(principal, dict) else []
    return [services] if isinstance(services, str) else list(services)


def service_session(role_arn: str, service: str, session_name: str = "changetrail-embedded") -> dict[str, str]:
    """Credentials of a role as an AWS service obtains them for its own use (Step Functions for its state machine's role).

    Refused unless the role's trust policy names the service; the harness is that service here, so no STS request.
    """
    policy = trust_policy(role_arn) or {}
    trusted = any(statement.get("Effect") == "Allow" and service in _services(statement) for statement in _statements(policy))
    if not trusted:
        raise PermissionError(f"{role_arn} does not trust {service}")
    assumed = sts_backends[account_of(role_arn)]["global"].assume_role(
        region_name="us-east-1", role_session_name=session_name, role_arn=role_arn, policy="", duration=3600, external_id=""
    )
    return {
        "aws_access_key_id": assumed.access_key_id,
        "aws_secret_access_key": assumed.secret_access_key,
        "aws_session_token": assumed.session_token,
    }


_service_sessions: dict[str, dict[str, str]] = {}
_sessions_lock = threading.Lock()


def service_credentials(role_arn: str) -> dict[str, str]:
    """A session of a role for the service its trust policy names (once per role), as that service would hold one."""
    with _sessions_lock:
        if role_arn not in _service_sessions:
            services = [
                service
                for statement in _statements(trust_policy(role_arn) or {})
                if statement.get("Effect") == "Allow"
                for service in _services(statement)
            ]
            if not services:
                raise PermissionError(f"{role_arn} trusts no AWS service")
            _service_sessions[role_arn] = service_session(role_arn, services[0])
        return _service_sessions[role_arn]


def ensure_deploy_role(account: str, role_name: str) -> None:
    """The role AWS Organizations creates in a member account: trusts the management (pipeline) account, administers all."""
    backend = iam_backends[account]["global"]
    try:
        backend.get_role(role_name)
        return
    except Exception:  # noqa: BLE001 -- not there yet
        pass
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PIPELINE_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    backend.create_role(role_name, json.dumps(trust), "/", None, "changetrail embedded deploy role", [], None)
    backend.put_role_policy(role_name, "AdministratorAccess", ADMINISTRATOR)


_originals: dict[str, Any] = {}
_original_assume_role = STSResponse.assume_role


def install() -> None:
    """Wrap the S3 handlers as they are now (after the other embedded patches) and STS's AssumeRole."""
    _service_sessions.clear()
    _originals.update(bucket=S3Response._bucket_response, key=S3Response._key_response)
    S3Response._bucket_response = _guarded(_originals["bucket"])  # type: ignore[method-assign]
    S3Response._key_response = _guarded(_originals["key"])  # type: ignore[method-assign]
    STSResponse.assume_role = _assume_role  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    if _originals:
        S3Response._bucket_response = _originals.pop("bucket")  # type: ignore[method-assign]
        S3Response._key_response = _originals.pop("key")  # type: ignore[method-assign]
    STSResponse.assume_role = _original_assume_role  # type: ignore[method-assign]
