"""Dead-letter queues: encrypted with the stack key, TLS only, 1 MiB messages (SQS's default is still 256 KiB)."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.iam import deny_insecure_transport, policy_document

MAX_MESSAGE_BYTES = 1_048_576
# SQS reuses a data key this long: fewer KMS calls (cost) for a bounded reuse window.
DATA_KEY_REUSE_SECONDS = 3600


def dead_letter_queue(
    name: str, queue_name: str, retention_days: int, kms_key_arn: pulumi.Input[str], parent: pulumi.Resource
) -> aws.sqs.Queue:
    child = pulumi.ResourceOptions(parent=parent)
    queue = aws.sqs.Queue(
        name,
        name=queue_name,
        message_retention_seconds=retention_days * 86400,
        max_message_size=MAX_MESSAGE_BYTES,
        kms_master_key_id=kms_key_arn,
        kms_data_key_reuse_period_seconds=DATA_KEY_REUSE_SECONDS,
        opts=child,
    )
    aws.sqs.QueuePolicy(
        f"{name}-policy",
        queue_url=queue.url,
        policy=policy_document([deny_insecure_transport([queue.arn], principal={"AWS": "*"}, action="sqs:*")]),
        opts=child,
    )
    return queue
