"""Errors whose names say what went wrong; Step Functions Catch and the DLQ show these names."""

from __future__ import annotations


class ChangetrailError(Exception):
    """Base class: an error the pipeline raises on purpose, never a crash."""


class MalformedStreamRecordError(ChangetrailError):
    """A stream record lacks a field the pipeline needs, or a field has the wrong shape."""


class WrongStreamViewTypeError(ChangetrailError):
    """The stream does not carry NEW_AND_OLD_IMAGES, so old and new images cannot be diffed."""


class MalformedExecutionInputError(ChangetrailError):
    """The execution input is neither inline records nor a claim-check reference."""


class AuditTableThrottledError(ChangetrailError):
    """The Audit table kept throttling (or left items unprocessed) through the writer's own retries; the state retries."""


class AuditTableError(ChangetrailError):
    """The Audit table refused a write for another reason (its AWS error code leads the message)."""


class NotificationsFailedError(ChangetrailError):
    """SNS kept refusing some notifications through the retries; the audit rows and archive are written."""
