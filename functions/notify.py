"""Notify state: the owned changes' notifications, published in batches (``PublishBatch``, 10 a call).

A batch costs one request per 64 KB, not one per message; entries SNS reports as failed are
retried with backoff, and whatever still fails fails the state (into the dead-letter path: a
redrive publishes again, and subscribers drop repeats by ``eventId``).
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

import boto3
from aws_lambda_powertools import Logger

from functions import claims
from functions.contracts import batch_id
from functions.exceptions import NotificationsFailedError

if TYPE_CHECKING:
    from functions.contracts import Notification, Written

logger = Logger(service="changetrail-notify")
BATCH_ENTRIES = 10
BATCH_BYTES = 256 * 1024
"""SNS's limit for one PublishBatch request: the messages and their attributes together."""
_sns: Any = None


def entry_size(notification: Notification) -> int:
    attributes = notification["attributes"]
    return len(notification["message"].encode()) + sum(
        len(name.encode()) + len(value["DataType"].encode()) + len(value["StringValue"].encode())
        for name, value in attributes.items()
    )


def batches(notifications: list[Notification]) -> list[list[tuple[int, Notification]]]:
    """Consecutive groups of at most 10 entries and 256 KB, each entry with its position as batch id."""
    groups: list[list[tuple[int, Notification]]] = []
    size = 0
    for position, notification in enumerate(notifications):
        entry = entry_size(notification)
        if not groups or len(groups[-1]) == BATCH_ENTRIES or size + entry > BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append((position, notification))
        size += entry
    return groups


def publish(sns: Any, topic_arn: str, notifications: list[Notification], attempts: int = 5) -> int:
    """Publish every notification; retries the entries SNS fails; returns how many were published."""
    pending = notifications
    published = 0
    for attempt in range(attempts):
        failed: list[tuple[Notification, dict[str, Any]]] = []
        for group in batches(pending):
            response = sns.publish_batch(
                TopicArn=topic_arn,
                PublishBatchRequestEntries=[
                    {"Id": str(position), "Message": note["message"], "MessageAttributes": note["attributes"]}
                    for position, note in group
                ],
            )
            published += len(response.get("Successful", []))
            by_id = dict(group)
            failed += [(by_id[int(f["Id"])], f) for f in response.get("Failed", [])]
        if not failed:
            return published
        if any(f.get("SenderFault") for _, f in failed):  # SNS says the request itself is wrong: retrying cannot help
            break
        pending = [note for note, _ in failed]
        time.sleep(min(2.0, 0.1 * 2**attempt))
    reasons = sorted({f"{f.get('Code')}: {f.get('Message', '')}" for _, f in failed})
    raise NotificationsFailedError(f"{len(failed)} of {len(notifications)} notifications not published: {'; '.join(reasons)}")


def notifications_of(event: Written) -> list[Notification]:
    if "notifications" in event:
        return event["notifications"]
    return json.loads(claims.get_text(event["notificationsRef"]))


def _client() -> Any:
    global _sns
    _sns = _sns or boto3.client("sns")
    return _sns


@logger.inject_lambda_context(clear_state=True)
def handler(event: Written, context: Any) -> dict[str, int]:
    logger.set_correlation_id(batch_id(event["batch"]))
    notes = notifications_of(event)
    published = publish(_client(), os.environ["TOPIC_ARN"], notes) if notes else 0
    logger.info("notified", extra={"published": published})
    return {"published": published}
