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


class PayloadTooLargeError(ChangetrailError):
    """A state's output would pass Step Functions' 256 KB limit."""
