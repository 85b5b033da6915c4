"""Evaluate bucket-policy conditions the way S3 does, for the requests the embedded AWS makes.

moto treats a condition operator it does not know (``Bool``) as met and a condition that is not
met as a deny, so the standard TLS-only statement (``Deny`` when ``aws:SecureTransport`` is
``false``) would deny every request. boto3 always calls over TLS; here a statement applies only
when its conditions hold for that request context, and moto's own evaluation does the rest.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.s3.models import FakeBucket

REQUEST_CONTEXT = {"aws:SecureTransport": "true"}
_original = FakeBucket.get_permission


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


def install() -> None:
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


def uninstall() -> None:
    FakeBucket.get_permission = _original  # type: ignore[method-assign]
