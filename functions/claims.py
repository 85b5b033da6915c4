"""Claim checks: state data too big for Step Functions (256 KB) travels through the payload bucket.

Everything lives under ``payloads/`` (one lifecycle rule expires it after the DLQ's retention):
archive bodies under ``payloads/archive/``, the only prefix the archive account's role may read,
and dead letters the DLQ could not take under ``payloads/dead-letters/``, where redrive reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3

from functions.contracts import S3Location

PREFIX = "payloads/"
ARCHIVE_BODY_PREFIX = f"{PREFIX}archive/"
DEAD_LETTER_PREFIX = f"{PREFIX}dead-letters/"
_s3: Any = None


def _client() -> Any:
    global _s3
    _s3 = _s3 or boto3.client("s3")
    return _s3


def records_store(s3: Any, bucket: str) -> Callable[[str, dict[str, Any]], S3Location]:
    """``store(name, body)``: puts an execution's records at ``payloads/<name>.json`` with this client."""

    def store(name: str, body: dict[str, Any]) -> S3Location:
        key = f"{PREFIX}{name}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())
        return {"bucket": bucket, "key": key}

    return store


def put(bucket: str, key: str, body: str) -> S3Location:
    _client().put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"bucket": bucket, "key": key}


def put_json(bucket: str, key: str, document: Any) -> S3Location:
    return put(bucket, key, json.dumps(document, separators=(",", ":"), ensure_ascii=False))


def get_json(ref: S3Location) -> Any:
    return json.loads(_client().get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read())
