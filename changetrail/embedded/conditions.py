"""Policy ``Condition`` blocks, evaluated the way IAM does for the request context keys the embedded AWS models.

moto's policy evaluator matches actions and resources; its condition support is meant for trust
policies. Here a statement's conditions are evaluated against a request context first, and the
statement is then handed to moto without them. Only the keys in ``MODELLED`` are evaluated; a
condition on any other key (``kms:ViaService``, encryption context) is treated as met, as before,
because the embedded AWS does not know those values for a request.
"""

from __future__ import annotations

import fnmatch
from typing import Any

MODELLED = frozenset(
    {
        "aws:SecureTransport",
        "aws:PrincipalArn",
        "aws:PrincipalAccount",
        "s3:prefix",
        "s3:if-none-match",
        "s3:if-match",
        "s3:ObjectCreationOperation",
    }
)
"""Context keys whose value a request here is known to have (or known to lack)."""


def _values(expected: Any) -> list[str]:
    return [str(value) for value in (expected if isinstance(expected, list) else [expected])]


def _matches(base: str, actual: str, expected: str) -> bool:
    if base in ("StringEquals", "ArnEquals"):
        return actual == expected
    if base == "StringEqualsIgnoreCase":
        return actual.lower() == expected.lower()
    if base in ("StringLike", "ArnLike"):
        return fnmatch.fnmatchcase(actual, expected)
    if base == "Bool":
        return actual.lower() == expected.lower()
    raise ValueError(f"condition operator {base} is not modelled")


def condition_holds(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    """One operator on one key; ``context`` holds the request's values (a key absent is absent from the request)."""
    if key not in MODELLED:
        return True
    if operator == "Null":
        # Null true: the key is absent from the request; false: it is present.
        return (key not in context) == (str(expected).lower() == "true")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if key not in context:
        return if_exists or base.startswith(("StringNot", "ArnNot"))
    actual = context[key]
    if base.startswith(("StringNot", "ArnNot")):
        positive = base.replace("Not", "", 1)
        return not any(_matches(positive, actual, value) for value in _values(expected))
    return any(_matches(base, actual, value) for value in _values(expected))


def statement_holds(statement: dict[str, Any], context: dict[str, str]) -> bool:
    """Every condition of the statement holds (IAM: operators AND, keys AND, values OR)."""
    conditions = statement.get("Condition") or {}
    return all(
        condition_holds(operator, key, expected, context)
        for operator, pairs in conditions.items()
        for key, expected in pairs.items()
    )


def without_conditions(document: dict[str, Any], context: dict[str, str]) -> dict[str, Any]:
    """The document's statements whose conditions hold for ``context``, conditions removed (for moto's evaluator)."""
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    kept = [{k: v for k, v in s.items() if k != "Condition"} for s in statements if statement_holds(s, context)]
    return {**document, "Statement": kept}
