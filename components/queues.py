"""Dead-letter queues: encrypted, TLS only, 1 MiB messages (SQS's default is still 256 KiB)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.iam import deny_insecure_transport, policy_document

MAX_MESSAGE_BYTES = 1_048_576


def dead_letter_queue(name: str, queue_name: str, retention_days: int, parent: pulumi.Resource) -> aws.sqs.Queue:
    child = pulumi.ResourceOptions(parent=parent)
    queue = aws.sqs.Queue(
        name,
        name=queue_name,
        message_retention_seconds=retention_days * 86400,
        max_message_size=MAX_MESSAGE_BYTES,
        sqs_managed_sse_enabled=True,
        opts=child,
    )
    aws.sqs.QueuePolicy(
        f"{name}-policy",
        queue_url=queue.url,
        policy=policy_document([deny_insecure_transport([queue.arn], principal={"AWS": "*"}, action="sqs:*")]),
        opts=child,
    )
    return queue
