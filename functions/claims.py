"""Claim checks: state data too big for Step Functions (256 KB) travels through the payload bucket.

Everything lives under ``payloads/`` (one lifecycle rule expires it after the DLQ's retention):
archive bodies under ``payloads/archive/``, the only prefix the archive account's role may read,
and dead letters the DLQ could not take under ``payloads/dead-letters/``, where redrive reads them.
Stage outputs are stored under their content's hash, so two executions of one chunk (a retry, a
redrive of some of its changes) never overwrite each other's claim checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import boto3

from functions.contracts import S3Location

PREFIX = "payloads/"
ARCHIVE_BODY_PREFIX = f"{PREFIX}archive/"
DEAD_LETTER_PREFIX = f"{PREFIX}dead-letters/"
STAGE_PREFIX = f"{PREFIX}stages/"
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)
_s3: Any = None


def _client() -> Any:
    global _s3
    _s3 = _s3 or boto3.client("s3")
    return _s3


def compact_json(value: Any) -> str:
    return _COMPACT_JSON.encode(value)


def json_size(value: Any) -> int:
    """Bytes of ``value`` as Step Functions measures state data (UTF-8 JSON)."""
    return len(compact_json(value).encode())


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


def content_key(prefix: str, text: str, suffix: str = ".json") -> str:
    """``<prefix><sha256 of text>``: the same content always gets the same key, different content never does."""
    return f"{prefix}{hashlib.sha256(text.encode()).hexdigest()[:40]}{suffix}"


def put_stage(bucket: str, document: Any) -> S3Location:
    """A stage's output, too large for the state, under its content's hash."""
    text = compact_json(document)
    return put(bucket, content_key(STAGE_PREFIX, text), text)


def get_json(ref: S3Location) -> Any:
    return json.loads(get_text(ref))


def get_text(ref: S3Location) -> str:
    return _client().get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read().decode()
