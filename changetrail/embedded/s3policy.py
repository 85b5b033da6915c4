"""Evaluate bucket policies the way S3 does, for the requests the embedded AWS makes.

moto treats a condition operator it does not know (``Bool``) as met and a condition that is not
met as a deny, so the standard TLS-only statement (``Deny`` when ``aws:SecureTransport`` is
``false``) would deny every request. boto3 always calls over TLS; here a statement applies only
when its conditions hold for that request context, and moto's own evaluation does the rest.

Cross-account access: with ``MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false`` moto refuses every other
account, even one the bucket policy grants. Here a bucket is reachable from another account when
its policy allows a principal of that account (the Archive state's copy from the payload bucket);
which actions it allows is not evaluated on that path.

Expected owners: a request with ``x-amz-expected-bucket-owner`` (``ExpectedBucketOwner``) or
``x-amz-source-expected-bucket-owner`` naming another account than the bucket's owner is refused with
403 Access Denied (S3 user guide, "Verifying bucket ownership with bucket owner condition"); moto
ignores both headers, so a wrong account id in the ASL would pass here and fail on AWS.

Conditional writes (atomic creates, copies refused under an enforcing policy) are in ``conditional_writes``.

Object Lock, where moto differs from S3: moto lifts governance retention for any
``x-amz-bypass-governance-retention`` header, even ``false`` (S3: only ``true``); and it refuses
to enable Object Lock on a bucket that holds objects, which S3 allows on any versioned bucket
(what an existing archive bucket needs when it gains the lock); and it asks a CopyObject into a
bucket with default retention for ``Content-MD5`` or a checksum header, which S3 asks only of
requests that carry a body (a copy, such as a multipart upload's part copied from another object, carries none).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.exceptions import AccessDeniedByLock, InvalidBucketState
from moto.s3.models import FakeBucket, S3Backend, s3_backends
from moto.s3.responses import S3Response
from requests.structures import CaseInsensitiveDict

REQUEST_CONTEXT = {"aws:SecureTransport": "true"}
_original = FakeBucket.get_permission
_original_get_bucket = S3Backend.get_bucket
_original_key_put = S3Response._key_response_put
_original_key_response = S3Response._key_response
_original_delete_object = S3Backend.delete_object
_original_put_lock = S3Backend.put_object_lock_configuration


def _holds(operator: str, key: str, expected: Any) -> bool:
    if key not in REQUEST_CONTEXT:
        return operator.endswith("IfExists")
    actual = REQUEST_CONTEXT[key]
    options = [str(v).lower() for v in (expected if isinstance(expected, list) else [expected])]
    base = operator.removesuffix("IfExists")
    if base in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
        return actual.lower() in options
    if base == "StringNotEquals":
        return actual.lower() not in options
    return False


def statement_applies(statement: dict[str, Any]) -> bool:
    conditions = statement.get("Condition") or {}
    return all(_holds(op, key, value) for op, pairs in conditions.items() for key, value in pairs.items())


def get_permission(bucket: FakeBucket, action: str, resource: str) -> PermissionResult:
    if bucket.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(bucket.policy)
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    applicable = [{k: v for k, v in s.items() if k != "Condition"} for s in statements if statement_applies(s)]
    if not applicable:
        return PermissionResult.NEUTRAL
    return IAMPolicy(json.dumps({**document, "Statement": applicable})).is_action_permitted(action, resource)


def grants_account(bucket: FakeBucket, account: str) -> bool:
    """Whether an Allow statement of the bucket's policy names a principal of ``account``."""
    if bucket.policy is None:
        return False
    statements = json.loads(bucket.policy).get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        principals = (statement.get("Principal") or {}).get("AWS", []) if statement.get("Effect") == "Allow" else []
        for principal in [principals] if isinstance(principals, str) else principals:
            if principal == account or str(principal).startswith(f"arn:aws:iam::{account}:"):
                return True
    return False


def get_bucket(backend: S3Backend, bucket_name: str) -> FakeBucket:
    try:
        return _original_get_bucket(backend, bucket_name)
    except AccessDeniedByLock:
        partition, owner = s3_backends.bucket_accounts[bucket_name]
        bucket = s3_backends[owner][partition].buckets[bucket_name]
        if grants_account(bucket, backend.account_id):
            return bucket
        raise


def _owner_of(bucket_name: str) -> str | None:
    owner = s3_backends.bucket_accounts.get(bucket_name)
    return owner[1] if owner else None


def key_response(response: S3Response, request: Any, full_url: str) -> Any:
    """Refuse a request whose expected bucket owner (or expected source bucket owner) is not the owner."""
    headers = request.headers
    expected = headers.get("x-amz-expected-bucket-owner")
    bucket_name = response.parse_bucket_name_from_url(request, full_url)
    source = unquote(headers.get("x-amz-copy-source", "")).lstrip("/").split("/", 1)[0]
    expected_source = headers.get("x-amz-source-expected-bucket-owner")
    checks = [(expected, bucket_name), (expected_source, source)]
    if any(wanted and _owner_of(bucket) not in (None, wanted) for wanted, bucket in checks):
        body = b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'
        return 403, {"content-type": "application/xml"}, body
    return _original_key_response(response, request, full_url)


def key_response_put(response: S3Response, query: dict[str, Any], key_name: str) -> Any:
    headers = response.headers
    integrity = ("Content-MD5", "x-amz-sdk-checksum-algorithm")
    if "x-amz-copy-source" not in headers or any(headers.get(name) for name in integrity):
        return _original_key_put(response, query, key_name)
    # A copy has no body: the lock's integrity header is moot; moto reads it only for that check here.
    response.headers = CaseInsensitiveDict({**dict(headers.items()), "Content-MD5": "copy"})
    try:
        return _original_key_put(response, query, key_name)
    finally:
        response.headers = headers


def delete_object(backend: S3Backend, bucket_name: str, key_name: str, version_id: str | None = None, bypass: Any = False) -> Any:
    # moto hands the header's text on as it is: "false" would lift the lock.
    lifted = bypass is True or str(bypass).lower() == "true"
    return _original_delete_object(backend, bucket_name, key_name, version_id=version_id, bypass=lifted)


def put_object_lock_configuration(
    backend: S3Backend,
    bucket_name: str,
    lock_enabled: bool,
    mode: str | None = None,
    days: int | None = None,
    years: int | None = None,
) -> None:
    bucket = backend.get_bucket(bucket_name)
    if not bucket.is_versioned:
        raise InvalidBucketState("Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
    if lock_enabled:
        bucket.object_lock_enabled = True
    bucket.default_lock_mode, bucket.default_lock_days, bucket.default_lock_years = mode, days, years


def install() -> None:
    # The ignores: moto's methods, replaced in place; mypy holds each replacement to moto's own signature.
    S3Response._key_response_put = key_response_put  # type: ignore[method-assign,assignment]
    S3Response._key_response = key_response  # type: ignore[method-assign,assignment]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign,assignment]
    S3Backend.get_bucket = get_bucket  # type: ignore[method-assign,assignment]
    S3Backend.delete_object = delete_object  # type: ignore[method-assign,assignment]
    S3Backend.put_object_lock_configuration = put_object_lock_configuration  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    S3Response._key_response_put = _original_key_put  # type: ignore[method-assign]
    S3Response._key_response = _original_key_response  # type: ignore[method-assign]
    FakeBucket.get_permission = _original  # type: ignore[method-assign]
    S3Backend.get_bucket = _original_get_bucket  # type: ignore[method-assign]
    S3Backend.delete_object = _original_delete_object  # type: ignore[method-assign]
    S3Backend.put_object_lock_configuration = _original_put_lock  # type: ignore[method-assign]
