"""The README's first command: a scripted run of the real stack on the embedded AWS, in one screen."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, TextIO

from changetrail.archive import json_lines
from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client
from changetrail.executions import execution_name_of
from functions.decode import decode_value


def show(value: dict[str, Any] | None) -> str:
    """A DynamoDB JSON value as compact plain JSON (exact numbers)."""
    if value is None:
        return "-"
    return json.dumps(decode_value(value), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return repr(value)


def _scan(aws: EmbeddedAws) -> list[dict[str, Any]]:
    rows = client("dynamodb").scan(TableName=aws.outputs["audit_table_name"])["Items"]
    return sorted(rows, key=lambda r: r["historySortKey"]["S"])


def _receive(queue_url: str) -> list[dict[str, Any]]:
    sqs = client("sqs")
    received = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return received


def run(stack: str = "dev", out: TextIO | None = None) -> dict[str, int]:
    """Insert, update, delete, then one induced failure; prints what happened, returns counts."""

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    started = time.perf_counter()
    with EmbeddedAws(stack) as aws:
        outputs = aws.outputs
        say(f"changetrail demo - stack '{stack}' deployed from the Pulumi program into the embedded AWS")
        say(
            f"  {len(aws.registry.resources)} resources in {time.perf_counter() - started:.1f}s; "
            f"pipeline account {outputs['pipeline_account_id']}, archive account {outputs['archive_account_id']}"
        )
        sqs, sns, ddb = client("sqs"), client("sns"), client("dynamodb")
        inbox = sqs.create_queue(QueueName="demo-subscriber")["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=outputs["topic_arn"], Protocol="sqs", Endpoint=inbox_arn)
        table = outputs["source_table_name"]

        say(f"\n1. Changes to '{table}'")
        steps = [
            ("put     CACHE_TTL_SEC = 3600", {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}}),
            ("update  CACHE_TTL_SEC = 1800", {"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}}),
            ("put     FEATURE_X = on", {"key": {"S": "FEATURE_X"}, "value": {"S": "on"}, "owner": {"S": "team-a"}}),
        ]
        for label, item in steps:
            say(f"   {label}")
            ddb.put_item(TableName=table, Item=item)
        say("   delete  FEATURE_X")
        ddb.delete_item(TableName=table, Key={"key": {"S": "FEATURE_X"}})
        executions = aws.settle()
        say(f"   -> {len(executions)} Express execution(s): " + ", ".join(e["status"] for e in executions))

        rows = _scan(aws)
        say(f"\n2. Audit rows in '{outputs['audit_table_name']}' ({len(rows)})")
        for row in rows:
            attribute = row.get("updatedAttribute", {}).get("S", "")
            say(
                f"   {row['modificationTime']['S']}  {row['eventName']['S']:<6}  {row['itemKey']['S']:<14} "
                f"{attribute:<6} {show(row.get('oldValue'))} -> {show(row.get('newValue'))}"
            )

        s3 = client("s3", ARCHIVE_ACCOUNT)
        bucket = outputs["archive_bucket_name"]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        say(f"\n3. Archive objects in s3://{bucket} (account {ARCHIVE_ACCOUNT}, written through the assumed role)")
        for key in keys:
            lines = json_lines(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())
            events = ", ".join(json.loads(line)["eventName"] for line in lines)
            say(f"   {key}  ({len(lines)} lines: {events})")

        notes = sorted(_receive(inbox), key=lambda n: json.loads(n["Message"])["sequenceNumber"])
        say(f"\n4. Notifications received by an SQS subscriber of the topic ({len(notes)})")
        for note in notes:
            message = json.loads(note["Message"])
            changed = ",".join(message["changedAttributes"]) or "-"
            say(f"   {message['eventName']:<6} {message['itemKey']:<14} changed={changed:<6} eventId={message['eventId'][:8]}")

        say("\n5. Induced failure: the archive bucket is removed, then one more change arrives")
        for version in s3.list_object_versions(Bucket=bucket).get("Versions", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"], BypassGovernanceRetention=True)
        s3.delete_bucket(Bucket=bucket)
        ddb.put_item(TableName=table, Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "900"}})
        executions = aws.settle()
        failed = [e for e in executions if e["status"] == "FAILED"]
        dead = _receive(outputs["dlq_url"])
        say(f"   -> {len(failed)} execution FAILED; the DLQ holds {len(dead)} message(s):")
        for letter in dead:
            records = letter["input"].get("records", [])
            say(f"   error={letter['error']}  failedState={letter['failedState']}  records={len(records)}")
            say(f"   cause={letter['cause'][:110]}")
            say(f"   execution={execution_name_of(letter['executionArn'])}  (input kept whole, for redrive)")
        say(f"\nDone in {time.perf_counter() - started:.1f}s. Tests: make test. Deploy for real: see README, 'Deploy to AWS'.")
        return {
            "executions": len(executions),
            "audit_rows": len(rows),
            "archive_objects": len(keys),
            "notifications": len(notes),
            "dead_letters": len(dead),
        }
