"""SNS ``PublishBatch`` as SNS answers it, where moto is kinder.

- An entry SNS could not publish is reported in ``Failed`` (``SenderFault: false`` for SNS's own
  trouble), so the caller can retry it. moto reports only invalid parameters there and drops any
  other entry silently: neither successful nor failed, a notification lost while the call succeeds.
- Sizes in bytes, attributes included (SNS developer guide, "Amazon SNS message size"; PublishBatch
  API reference): a message of more than 262,144 bytes is refused, and so is a batch whose entries
  together pass 262,144 bytes (``BatchRequestTooLong``). moto counts a message's characters only and
  no batch total.
"""

from __future__ import annotations

from typing import Any

from moto.sns.exceptions import BatchEntryIdsNotDistinct, SNSException, TooManyEntriesInBatchRequest
from moto.sns.models import SNSBackend

MAX_PAYLOAD_BYTES = 262_144
_original = SNSBackend.publish_batch


class BatchRequestTooLong(SNSException):
    code = "BatchRequestTooLong"


def entry_bytes(entry: dict[str, Any]) -> int:
    """A message and its attributes (names, types and values), as SNS sizes them."""
    size = len(str(entry.get("Message", "")).encode())
    for name, attribute in (entry.get("MessageAttributes") or {}).items():
        # moto's parser renames DataType to Type and StringValue/BinaryValue to Value before the backend sees them
        value = attribute.get("Value") or attribute.get("StringValue") or attribute.get("BinaryValue") or ""
        data_type = attribute.get("Type") or attribute.get("DataType") or ""
        size += len(name.encode()) + len(str(data_type).encode())
        size += len(value) if isinstance(value, bytes) else len(str(value).encode())
    return size


def publish_batch(
    backend: SNSBackend, topic_arn: str, publish_batch_request_entries: list[dict[str, Any]]
) -> tuple[list[Any], list[Any]]:
    entries = publish_batch_request_entries
    if len(entries) > 10:
        raise TooManyEntriesInBatchRequest
    if len({entry["Id"] for entry in entries}) != len(entries):
        raise BatchEntryIdsNotDistinct
    sizes = [entry_bytes(entry) for entry in entries]
    if sum(sizes) > MAX_PAYLOAD_BYTES:
        raise BatchRequestTooLong(f"The length of all the messages put together is more than the limit: {sum(sizes)} bytes")
    successful: list[Any] = []
    failed: list[Any] = []
    for entry, size in zip(entries, sizes, strict=True):
        if size > MAX_PAYLOAD_BYTES:
            failed.append({"Id": entry["Id"], "Code": "InvalidParameter", "Message": "Message too long", "SenderFault": True})
            continue
        done, refused = _original(backend, topic_arn, [entry])
        if not done and not refused:  # moto swallowed what failed: SNS reports it
            refused = [{"Id": entry["Id"], "Code": "InternalError", "Message": "not published", "SenderFault": False}]
        successful += done
        failed += refused
    return successful, failed


def install() -> None:
    SNSBackend.publish_batch = publish_batch  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    SNSBackend.publish_batch = _original  # type: ignore[method-assign]
