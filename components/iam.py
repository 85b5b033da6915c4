"""Policy documents as data: built with ``Output.json_dumps``, never with string formatting."""

from __future__ import annotations

from typing import Any

import pulumi


def policy_document(statements: list[dict[str, Any]]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def allow(sid: str, actions: list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def service_trust(service: str, conditions: dict[str, Any] | None = None) -> pulumi.Output[str]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if conditions:
        statement["Condition"] = conditions
    return policy_document([statement])


def deny_insecure_transport(resources: list[Any], principal: Any = "*", action: str = "*") -> dict[str, Any]:
    """The TLS-only statement for resource policies (buckets, topics, queues)."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": principal,
        "Action": action,
        "Resource": resources,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
