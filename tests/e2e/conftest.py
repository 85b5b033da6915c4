"""End-to-end fixtures: the real stack, deployed by the Pulumi program into moto, per test."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client


@pytest.fixture
def deploy() -> Iterator[Callable[..., EmbeddedAws]]:
    """Factory: ``deploy(overrides)`` starts the embedded AWS with stack-config overrides."""
    started: list[EmbeddedAws] = []

    def start(overrides: dict[str, Any] | None = None) -> EmbeddedAws:
        aws = EmbeddedAws("dev", overrides)
        aws.start()
        started.append(aws)
        return aws

    yield start
    for aws in started:
        aws.stop()


@pytest.fixture
def aws(deploy: Callable[..., EmbeddedAws]) -> EmbeddedAws:
    return deploy()


def audit_rows(aws: EmbeddedAws) -> list[dict[str, Any]]:
    ddb = client("dynamodb")
    pages = ddb.get_paginator("scan").paginate(TableName=aws.outputs["audit_table_name"])
    return [item for page in pages for item in page["Items"]]


def archive_objects(aws: EmbeddedAws) -> dict[str, list[dict[str, Any]]]:
    """Archive key -> its JSON lines, read as the archive account (where the bucket lives)."""
    s3 = client("s3", ARCHIVE_ACCOUNT)
    bucket = aws.outputs["archive_bucket_name"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {
        key: [json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()]
        for key in keys
    }


def archive_versions(aws: EmbeddedAws) -> int:
    s3 = client("s3", ARCHIVE_ACCOUNT)
    return len(s3.list_object_versions(Bucket=aws.outputs["archive_bucket_name"]).get("Versions", []))


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message now in the queue (bodies parsed), deleted as read."""
    sqs = client("sqs")
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
        "Messages", []
    ):
        for message in batch:
            messages.append({**message, "Body": json.loads(message["Body"])})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return messages


def subscribe_queue(aws: EmbeddedAws, name: str, filter_policy: dict[str, Any] | None = None) -> str:
    """An SQS subscriber on the change topic (raw delivery off: SNS envelope kept)."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    client("sns").subscribe(TopicArn=aws.outputs["topic_arn"], Protocol="sqs", Endpoint=arn, Attributes=attributes)
    return url


def statuses(executions: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for execution in executions:
        counts[execution["status"]] = counts.get(execution["status"], 0) + 1
    return counts
