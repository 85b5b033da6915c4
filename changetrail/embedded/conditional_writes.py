"""Conditional writes as S3 does them, where moto is kinder.

- **A conditional create is atomic.** Of two creates of one key under ``If-None-Match: *`` in flight
  at once (PutObject, CompleteMultipartUpload, CopyObject), one wins; the other is answered
  ``409 ConditionalRequestConflict``, and later ones ``412 PreconditionFailed``. moto checks, then
  writes, unguarded: both could win, and the archive would hold two versions of one object. A 409 on
  CompleteMultipartUpload ends that upload: the writer must start a new one (S3 API reference,
  CompleteMultipartUpload, ``If-None-Match``).
- **No copies into a bucket that enforces conditional writes.** A bucket policy whose statements on
  ``s3:PutObject`` condition on ``s3:if-none-match`` or ``s3:if-match`` refuses CopyObject: without
  the header its own deny answers 403, with it S3 answers ``501 NotImplemented`` (S3 user guide,
  "Enforce conditional writes on Amazon S3 buckets"). Elsewhere CopyObject honours
  ``If-None-Match: *`` (412), which moto checks only on PutObject.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from xml.sax.saxutils import escape

from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response

CONDITIONAL_KEYS = ("s3:if-none-match", "s3:if-match")
_original_put_object = S3Response.put_object
_original_copy_object = S3Response.copy_object
_original_key_post = S3Response._key_response_post
_creating: set[tuple[str, str]] = set()
_lock = threading.Lock()


def s3_error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """An S3 error response as S3 sends it (moto's own errors carry their status from its service model)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message><RequestId>{uuid.uuid4().hex}</RequestId></Error>"
    )
    return status, {"content-type": "application/xml"}, body.encode()


CONFLICT = (
    409,
    "ConditionalRequestConflict",
    "A conflicting conditional operation is currently in progress against this resource.",
)
PRECONDITION = (412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
COPY_NOT_IMPLEMENTED = (501, "NotImplemented", "A header you provided implies functionality that is not implemented")


class Conflict(Exception):
    """Another conditional create of this key is in flight."""


@contextmanager
def creating(bucket: str, key: str) -> Iterator[None]:
    """One conditional create of a key at a time; the others meanwhile conflict."""
    with _lock:
        if (bucket, key) in _creating:
            raise Conflict
        _creating.add((bucket, key))
    try:
        yield
    finally:
        with _lock:
            _creating.discard((bucket, key))


def enforces_conditional_writes(bucket: FakeBucket) -> bool:
    """Whether a statement of the bucket's policy on ``s3:PutObject`` conditions on ``If-None-Match`` or ``If-Match``."""
    statements = json.loads(bucket.policy).get("Statement", []) if bucket.policy else []
    for statement in [statements] if isinstance(statements, dict) else statements:
        actions = statement.get("Action", [])
        if not {"s3:PutObject", "s3:*", "*"} & set([actions] if isinstance(actions, str) else actions):
            continue
        keys = {key.lower() for pairs in (statement.get("Condition") or {}).values() for key in pairs}
        if keys & set(CONDITIONAL_KEYS):
            return True
    return False


def put_object(response: S3Response) -> Any:
    if response.headers.get("If-None-Match") != "*":
        return _original_put_object(response)
    try:
        with creating(response.bucket_name, response.parse_key_name()):
            return _original_put_object(response)
    except Conflict:
        return s3_error(*CONFLICT)


def copy_object(response: S3Response) -> Any:
    conditional = response.headers.get("If-None-Match") or response.headers.get("If-Match")
    if conditional and enforces_conditional_writes(response.backend.get_bucket(response.bucket_name)):
        return s3_error(*COPY_NOT_IMPLEMENTED)
    if response.headers.get("If-None-Match") != "*":
        return _original_copy_object(response)
    key = response.parse_key_name()
    try:
        with creating(response.bucket_name, key):
            if response.backend.get_object(response.bucket_name, key) is not None:
                return s3_error(*PRECONDITION)
            return _original_copy_object(response)
    except Conflict:
        return s3_error(*CONFLICT)


def key_response_post(
    response: S3Response, request: Any, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str
) -> Any:
    """CompleteMultipartUpload under ``If-None-Match: *``: 412 if the key exists (moto), 409 while another create runs."""
    upload_id = (query.get("uploadId") or [None])[0]
    if not upload_id or response.headers.get("If-None-Match") != "*":
        return _original_key_post(response, request, body, bucket_name, query, key_name)
    try:
        with creating(bucket_name, key_name):
            return _original_key_post(response, request, body, bucket_name, query, key_name)
    except Conflict:
        response.backend.get_bucket(bucket_name).multiparts.pop(upload_id, None)
        return s3_error(*CONFLICT)


def install() -> None:
    # The ignores: moto's methods, replaced in place; mypy holds each replacement to moto's own signature.
    S3Response.put_object = put_object  # type: ignore[method-assign,assignment]
    S3Response.copy_object = copy_object  # type: ignore[method-assign,assignment]
    S3Response._key_response_post = key_response_post  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    S3Response.put_object = _original_put_object  # type: ignore[method-assign]
    S3Response.copy_object = _original_copy_object  # type: ignore[method-assign]
    S3Response._key_response_post = _original_key_post  # type: ignore[method-assign]
