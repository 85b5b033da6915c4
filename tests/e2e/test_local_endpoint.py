"""`changetrail local` as a separate process, driven by plain boto3 using only the outputs file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

pytestmark = pytest.mark.e2e
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    return {**env, "PYTHONUNBUFFERED": "1"}


def changetrail(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changetrail.cli", *args],
        capture_output=True, text=True, timeout=120, env={**clean_environment(), **env},
    )  # fmt: skip


def wait_for(predicate, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    port, outputs_file = free_port(), tmp_path_factory.mktemp("local") / "out.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "changetrail.cli", "local", "--port", str(port), "--outputs", str(outputs_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_environment(),
    )  # fmt: skip
    try:
        wait_for(lambda: (outputs_file.exists() and outputs_file.stat().st_size > 0) or process.poll() is not None, 90, "outputs")
        if process.poll() is not None:
            pytest.fail(f"changetrail local exited: {process.stdout.read()}")
        yield port, outputs_file, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def test_a_plain_boto3_client_drives_changes_through_the_whole_pipeline(endpoint):
    port, outputs_file, _ = endpoint
    outputs = json.loads(Path(outputs_file).read_text())
    url = outputs["endpoint_url"]
    assert url == f"http://127.0.0.1:{port}"

    def aws(service: str, **credentials):
        config = Config(account_id_endpoint_mode="disabled")
        return boto3.client(service, endpoint_url=url, config=config, **{**CREDENTIALS, **credentials})

    sqs = aws("sqs")
    inbox = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws("sns").subscribe(TopicArn=outputs["topic_arn"], Protocol="sqs", Endpoint=inbox_arn)
    ddb, table = aws("dynamodb"), outputs["source_table_name"]

    ddb.put_item(TableName=table, Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}})
    ddb.put_item(TableName=table, Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}})
    ddb.delete_item(TableName=table, Key={"key": {"S": "CACHE_TTL_SEC"}})

    rows = wait_for(
        lambda: (r := ddb.scan(TableName=outputs["audit_table_name"])["Items"]) and len(r) >= 3 and r, what="audit rows"
    )
    assert sorted(r["eventName"]["S"] for r in rows) == ["INSERT", "MODIFY", "REMOVE"]

    assumed = aws("sts").assume_role(RoleArn=outputs["archive_role_arn"], RoleSessionName="reader")["Credentials"]
    archive = aws(
        "s3",
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    )
    bucket = outputs["archive_bucket_name"]

    def archived_lines():
        keys = [o["Key"] for o in archive.list_objects_v2(Bucket=bucket).get("Contents", [])]
        lines = [
            json.loads(line) for key in keys for line in archive.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
        ]
        return lines if len(lines) >= 3 else None

    lines = wait_for(archived_lines, what="archive lines")
    assert sorted(line["eventName"] for line in lines) == ["INSERT", "MODIFY", "REMOVE"]

    received: list[dict] = []

    def notifications():
        # A receive hides what it returns, so collect across polls until all three have arrived.
        received.extend(sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", []))
        return received if len(received) >= 3 else None

    wait_for(notifications, what="notifications")
    assert {json.loads(json.loads(m["Body"])["Message"])["eventName"] for m in received} == {"INSERT", "MODIFY", "REMOVE"}

    # An induced failure reaches the DLQ, and `changetrail executions` shows where and why.
    for version in archive.list_object_versions(Bucket=bucket).get("Versions", []):
        archive.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True)
    archive.delete_bucket(Bucket=bucket)
    ddb.put_item(TableName=table, Item={"key": {"S": "AFTER"}, "value": {"N": "1"}})
    dead = wait_for(lambda: sqs.receive_message(QueueUrl=outputs["dlq_url"]).get("Messages"), what="dead letter")
    assert json.loads(dead[0]["Body"])["failedState"] == "Archive"

    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1"}
    listed = changetrail("executions", "--outputs", str(outputs_file), "--json", **env)
    assert listed.returncode == 0, listed.stderr
    failed = [e for e in json.loads(listed.stdout) if e["status"] == "FAILED"]
    assert len(failed) == 1 and failed[0]["failed_state"] == "Archive"
    shown = changetrail("executions", failed[0]["name"], "--outputs", str(outputs_file), **env)
    assert "failed in Archive" in shown.stdout and "bucket does not exist" in shown.stdout
    from_logs = changetrail("executions", "--source", "logs", "--outputs", str(outputs_file), "--json", **env)
    assert [e["failed_state"] for e in json.loads(from_logs.stdout) if e["status"] == "FAILED"] == ["Archive"]


def test_a_second_server_on_the_same_port_fails_with_one_clear_line(endpoint):
    port, _, _ = endpoint
    result = changetrail("local", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip() == f"changetrail: port {port} on 127.0.0.1 is in use; choose another with --port"


def test_user_errors_are_one_line_not_a_traceback(tmp_path):
    missing = changetrail("executions", "--outputs", str(tmp_path / "none.json"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "changetrail local --outputs" in missing.stderr
    bad_stack = changetrail("local", "--stack", "nope", "--port", str(free_port()))
    assert bad_stack.returncode == 2 and "no stack config Pulumi.nope.yaml; known stacks: dev" in bad_stack.stderr
    assert "Traceback" not in missing.stderr + bad_stack.stderr


def test_sigterm_stops_the_server_cleanly(tmp_path):
    port, outputs_file = free_port(), tmp_path / "out.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "changetrail.cli", "local", "--port", str(port), "--outputs", str(outputs_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=clean_environment(),
    )  # fmt: skip
    wait_for(lambda: outputs_file.exists() or process.poll() is not None, 90, "outputs")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "stopping" in process.stdout.read()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again
