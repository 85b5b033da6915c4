"""`changetrail local` as a separate process, driven by plain boto3 using only the outputs file."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest

from tests.e2e.conftest import (
    LocalServer,
    assumed_client,
    clean_environment,
    endpoint_client,
    free_port,
    start_local,
    wait_for,
    wait_until_serving,
)

pytestmark = pytest.mark.e2e


def changetrail(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changetrail.cli", *args],
        capture_output=True, text=True, timeout=120, env={**clean_environment(), **env},
    )  # fmt: skip


def test_a_plain_boto3_client_drives_changes_through_the_whole_pipeline(local: LocalServer):
    port, outputs_file, outputs = local.port, local.outputs_file, local.outputs
    url = outputs["endpoint_url"]
    assert url == f"http://127.0.0.1:{port}"

    def aws(service: str):
        return endpoint_client(url, service)

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

    archive = assumed_client(url, outputs["archive_reader_role_arn"], "reader", "s3")
    bucket, prefix = outputs["archive_bucket_name"], outputs["archive_prefix"]

    def archived_lines():
        keys = [o["Key"] for o in archive.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])]
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

    # An induced failure reaches the DLQ, and `changetrail executions` shows where and why. Only the archive
    # account's own administrator may lift the lock and remove the bucket (the reader and writer may not).
    archive = assumed_client(
        url, f"arn:aws:iam::{outputs['archive_account_id']}:role/OrganizationAccountAccessRole", "admin", "s3"
    )
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


def test_a_second_server_on_the_same_port_fails_with_one_clear_line(local: LocalServer):
    port = local.port
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
    process = start_local(port, outputs_file)
    wait_until_serving(process, outputs_file)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert process.stdout is not None and "stopping" in process.stdout.read()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # the port is free again
