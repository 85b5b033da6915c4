"""Role trust policies, evaluated the way STS does for the AssumeRole calls the embedded AWS makes.

moto's STS hands out credentials for any role to anyone (its own trust check compares principals
literally, knows no ``aws:PrincipalArn`` and skips cross-account roles), so a trust policy would
never be tested here. ``assume_role`` evaluates the target role's trust policy for the calling
role first, and the Archive task's role is assumed *as the state machine's role* through it.

Covered: ``Principal.AWS`` as a role ARN, an account's root ARN, an account id or ``*``;
conditions ``StringEquals``/``StringLike``/``ArnEquals``/``ArnLike`` (and ``...IfExists``) on
``aws:PrincipalArn``, ``aws:PrincipalAccount`` and ``sts:ExternalId``; explicit ``Deny``.
Not covered: the caller's own identity policy (moto's IAM enforcement is off here), session tags,
``NotPrincipal``; an unknown condition operator or key denies.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

from botocore.exceptions import ClientError

from changetrail.embedded import principals
from changetrail.embedded.accounts import account_of, assume, client, role_credentials

OPERATORS = {
    "StringEquals": lambda actual, expected: actual == expected,
    "ArnEquals": lambda actual, expected: actual == expected,
    "StringLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
    "ArnLike": lambda actual, expected: fnmatch.fnmatchcase(actual, expected),
}


class TrustDenied(PermissionError):
    """The role's trust policy does not let this principal assume it (STS: AccessDenied)."""


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_matches(principal: Any, caller_arn: str) -> bool:
    if principal == "*":
        return True
    accounts = as_list((principal or {}).get("AWS", []))
    account = account_of(caller_arn)
    return any(p in ("*", caller_arn, account, f"arn:aws:iam::{account}:root") for p in accounts)


def _conditions_hold(conditions: dict[str, Any], context: dict[str, str]) -> bool:
    for operator, pairs in conditions.items():
        base = operator.removesuffix("IfExists")
        if base not in OPERATORS:
            return False
        for key, expected in pairs.items():
            if key not in context:
                if operator.endswith("IfExists"):
                    continue
                return False
            if not any(OPERATORS[base](context[key], value) for value in as_list(expected)):
                return False
    return True


def may_assume(trust_policy: dict[str, Any], caller_role_arn: str, external_id: str | None = None) -> bool:
    """Whether ``caller_role_arn`` (a role, acting through a session) may assume a role with this trust policy."""
    context = {"aws:PrincipalArn": caller_role_arn, "aws:PrincipalAccount": account_of(caller_role_arn)}
    if external_id is not None:
        context["sts:ExternalId"] = external_id
    allowed = False
    for statement in as_list(trust_policy.get("Statement", [])):
        if "sts:AssumeRole" not in as_list(statement.get("Action", [])) and "sts:*" not in as_list(statement.get("Action")):
            continue
        if not _principal_matches(statement.get("Principal"), caller_role_arn):
            continue
        if not _conditions_hold(statement.get("Condition") or {}, context):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = True
    return allowed


def trust_policy_of(role_arn: str) -> dict[str, Any]:
    iam = client("iam", account_of(role_arn))
    document = iam.get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["AssumeRolePolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


def assume_role(role_arn: str, caller_role_arn: str, session_name: str = "changetrail-embedded") -> dict[str, str]:
    """Credentials of ``role_arn``, assumed by a session of ``caller_role_arn`` — if STS lets it.

    The caller's session is the one its service holds (Step Functions for the state machine's role);
    the AssumeRole request itself is answered by the embedded STS, which evaluates the trust policy
    and the caller's own policies for every caller (``principals.py``). A role that does not exist is
    refused the same way: STS answers AccessDenied, not NotFound.
    """
    try:
        caller = principals.service_credentials(caller_role_arn)
    except PermissionError:
        caller = role_credentials(caller_role_arn)
    try:
        return assume(role_arn, caller, session_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "AccessDenied":
            raise
        raise TrustDenied(error.response["Error"]["Message"]) from error
