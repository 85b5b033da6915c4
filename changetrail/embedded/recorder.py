"""Count every AWS request the embedded AWS serves, by service and operation, with its size and items.

moto intercepts each in-process boto3 call in ``BotocoreStubber.__call__`` with the event name
``before-send.<service>.<Operation>``; wrapping it sees every request of every client (the
handlers', the state machine interpreter's, the operator's) without touching any of them. A
batch request also counts what it carries (rows of a BatchWriteItem, messages of a
PublishBatch), since some services bill by those.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from moto.core.botocore_stubber import BotocoreStubber

Key = tuple[str, str, str]
"""(service, operation, resource): resource is the table, queue, topic or bucket when the request names one."""


def resource_of(request: Any) -> str:
    body = request.body or b""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body if isinstance(body, str) else ""
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = {}
        if isinstance(data.get("RequestItems"), dict) and data["RequestItems"]:
            return next(iter(data["RequestItems"]))
        for name in ("TableName", "QueueUrl", "TopicArn", "stateMachineArn", "FunctionName", "logGroupName"):
            if name in data:
                return str(data[name]).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    for name in ("TopicArn", "QueueUrl"):
        match = re.search(rf"{name}=([^&]+)", text)
        if match:
            return unquote(match.group(1)).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    path = urlsplit(request.url).path.strip("/")
    return unquote(path.split("/", 1)[0]) if path else ""


BATCH_ENTRY = re.compile(r"(?:PublishBatchRequestEntries|SendMessageBatchRequestEntry)\.member\.(\d+)\.Id=|Entries\.(\d+)\.Id=")
SNS_CHUNK_BYTES = 64 * 1024
"""SNS bills a publish request per 64 KB of payload."""


def items_of(operation: str, text: str) -> int:
    """Rows of a BatchWriteItem, messages of a PublishBatch (or SendMessageBatch); 1 for any other request."""
    if operation == "BatchWriteItem" and text.startswith("{"):
        requests = json.loads(text).get("RequestItems", {})
        return sum(len(entries) for entries in requests.values())
    if operation in ("PublishBatch", "SendMessageBatch"):
        if text.startswith("{"):
            return len(json.loads(text).get("Entries", json.loads(text).get("PublishBatchRequestEntries", [])))
        return len({match.group(1) or match.group(2) for match in BATCH_ENTRY.finditer(text)})
    return 1


@dataclass
class RequestLog:
    calls: Counter[Key] = field(default_factory=Counter)
    bytes: Counter[Key] = field(default_factory=Counter)
    items: Counter[Key] = field(default_factory=Counter)
    billed_chunks: Counter[Key] = field(default_factory=Counter)
    """Requests in 64 KB units, as SNS and SQS bill them."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: Key, size: int, items: int = 1) -> None:
        with self._lock:
            self.calls[key] += 1
            self.bytes[key] += size
            self.items[key] += items
            self.billed_chunks[key] += max(1, -(-size // SNS_CHUNK_BYTES))

    def count(self, service: str, operation: str | None = None, resource: str | None = None) -> int:
        return sum(n for key, n in self.calls.items() if _matches(key, service, operation, resource))

    def size(self, service: str, operation: str | None = None, resource: str | None = None) -> int:
        return sum(n for key, n in self.bytes.items() if _matches(key, service, operation, resource))

    def count_items(self, service: str, operation: str | None = None, resource: str | None = None) -> int:
        return sum(n for key, n in self.items.items() if _matches(key, service, operation, resource))

    def count_billed(self, service: str, operation: str | None = None, resource: str | None = None) -> int:
        return sum(n for key, n in self.billed_chunks.items() if _matches(key, service, operation, resource))


def _matches(key: Key, service: str, operation: str | None, resource: str | None) -> bool:
    return key[0] == service and operation in (None, key[1]) and resource in (None, key[2])


@contextmanager
def recording() -> Iterator[RequestLog]:
    log = RequestLog()
    original = BotocoreStubber.__call__

    def counted(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        _, service, operation = [*event_name.split("."), "", ""][:3]
        body = request.body or b""
        text = body.decode(errors="replace") if isinstance(body, bytes) else body if isinstance(body, str) else ""
        size = len(body) if isinstance(body, (bytes, str)) else 0
        log.add((service, operation, resource_of(request)), size, items_of(operation, unquote(text)))
        return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = counted  # type: ignore[method-assign]
    try:
        yield log
    finally:
        BotocoreStubber.__call__ = original  # type: ignore[method-assign]
