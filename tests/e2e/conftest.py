"""End-to-end fixtures: the real stack, deployed by the Pulumi program into moto, per test; and
``local``, `changetrail local` in a process of its own (one per test module), as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from changetrail.archive import json_lines
from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": "us-east-1"}


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
        key: [json.loads(line) for line in json_lines(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())]
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


# -- `changetrail local` in its own process ------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment() -> dict[str, str]:
    """This environment without AWS or moto settings: a subprocess finds only what it is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def wait_for(predicate: Callable[[], Any], timeout: float = 120.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def spawn_changetrail(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``changetrail ARGS`` in a process of its own, its output (stdout and stderr) piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "changetrail.cli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env or clean_environment(),
    )  # fmt: skip


def start_local(port: int, outputs_file: Path) -> subprocess.Popen[str]:
    return spawn_changetrail("local", "--port", str(port), "--outputs", str(outputs_file))


def wait_until_serving(process: subprocess.Popen[str], outputs_file: Path) -> None:
    """Until `changetrail local` has written its outputs; fails with its output if it exits first."""
    wait_for(lambda: (outputs_file.exists() and outputs_file.stat().st_size > 0) or process.poll() is not None, 90, "outputs")
    if process.poll() is not None:
        assert process.stdout is not None
        pytest.fail(f"changetrail local exited: {process.stdout.read()}")


def endpoint_client(endpoint_url: str, service: str, **credentials: str) -> Any:
    """A plain boto3 client of the local endpoint (any keys unless ``credentials`` says otherwise)."""
    config = Config(account_id_endpoint_mode="disabled")
    return boto3.client(service, endpoint_url=endpoint_url, config=config, **{**LOCAL_CREDENTIALS, **credentials})


def assumed_client(endpoint_url: str, role_arn: str, session_name: str, service: str) -> Any:
    """A client of the local endpoint acting as ``role_arn`` (credentials from ``sts:AssumeRole``)."""
    found = endpoint_client(endpoint_url, "sts").assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    keys = {"AccessKeyId": "aws_access_key_id", "SecretAccessKey": "aws_secret_access_key", "SessionToken": "aws_session_token"}
    return endpoint_client(endpoint_url, service, **{name: found[field] for field, name in keys.items()})


@dataclass(frozen=True)
class LocalServer:
    port: int
    outputs_file: Path
    process: subprocess.Popen[str]

    @property
    def outputs(self) -> dict[str, Any]:
        return json.loads(self.outputs_file.read_text())


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """`changetrail local` in its own process, as a user runs it, for the tests of one module."""
    port, outputs_file = free_port(), tmp_path_factory.mktemp("local") / "out.json"
    process = start_local(port, outputs_file)
    try:
        wait_until_serving(process, outputs_file)
        yield LocalServer(port, outputs_file, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
