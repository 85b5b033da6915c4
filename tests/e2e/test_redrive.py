"""Redrive on the embedded AWS: every failed change gets through exactly once, however often it runs."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from changetrail.embedded import ARCHIVE_ACCOUNT, client, lambdas
from changetrail.executions import InterpreterHistory
from changetrail.redrive import SERVICES, Redriver, RedriveSettings
from tests.e2e.conftest import archive_objects, audit_rows, drain

pytestmark = pytest.mark.e2e
DENY_WRITES = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Broken", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject", "Resource": "*"}],
}


def redriver(aws) -> Redriver:
    clients = {name: client(name) for name in SERVICES}
    return Redriver(aws.outputs, clients, InterpreterHistory(clients["stepfunctions"], aws.outputs["state_machine_arn"]))


def break_archive(aws) -> str:
    """A misconfigured bucket policy in the archive account; returns the policy to restore."""
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), aws.outputs["archive_bucket_name"]
    original = s3.get_bucket_policy(Bucket=bucket)["Policy"]
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(DENY_WRITES))
    return original


def fix_archive(aws, policy: str) -> None:
    client("s3", ARCHIVE_ACCOUNT).put_bucket_policy(Bucket=aws.outputs["archive_bucket_name"], Policy=policy)


def change_items(start: int, count: int) -> list[str]:
    """``count`` changes over 50 items (insert, then updates), as event ids appear in the stream."""
    ddb = client("dynamodb")
    for n in range(start, start + count):
        ddb.put_item(TableName="Configuration", Item={"key": {"S": f"ITEM-{n % 50:02d}"}, "value": {"N": str(n)}})
    return []


def dlq_depth(aws) -> int:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=aws.outputs["dlq_url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def assert_each_change_exactly_once(aws, changes: int) -> None:
    rows = audit_rows(aws)
    assert len(rows) == changes, "one audit row per change (an insert, or one changed attribute)"
    assert len({row["id"]["S"] for row in rows}) == changes
    lines = [line for body in archive_objects(aws).values() for line in body]
    per_event = Counter(line["eventId"] for line in lines)
    assert len(per_event) == changes and set(per_event.values()) == {1}, "each change archived exactly once"
    assert {row["eventId"]["S"] for row in rows} == set(per_event)


def test_half_the_changes_fail_then_redrive_gets_every_one_through_exactly_once(deploy, monkeypatch):
    aws = deploy({"changetrail:trigger": {"batchSize": 10}})
    # GIVEN 100 changes archived normally, then 100 while the archive target is broken
    change_items(0, 100)
    aws.settle()
    policy = break_archive(aws)
    change_items(100, 100)
    executions = aws.settle()
    failed = [e for e in executions if e["status"] == "FAILED"]
    assert len(failed) == 10

    # THEN the DLQ holds exactly the failed changes
    sqs = client("sqs")
    peek = [json.loads(m["Body"]) for m in _peek_all(sqs, aws.outputs["dlq_url"])]
    dead_values = sorted(int(r["dynamodb"]["NewImage"]["value"]["N"]) for body in peek for r in body["input"]["records"])
    assert dead_values == list(range(100, 200))

    # WHEN a dry run looks: nothing is started or deleted, failures are grouped
    summary = redriver(aws).run(RedriveSettings(dry_run=True, visibility_timeout=1))
    assert summary.totals["would_redrive"] == 10 and len(summary.groups()) == 1
    assert next(iter(summary.groups())).endswith(" in Archive")
    time.sleep(1.1)
    assert dlq_depth(aws) == 10

    # AND the target is fixed, and a first redrive is interrupted after starting its third execution
    fix_archive(aws, policy)
    calls = {"n": 0}
    original_delete = Redriver._delete

    def crash_on_third(self, letter):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        original_delete(self, letter)

    monkeypatch.setattr(Redriver, "_delete", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        redriver(aws).run(RedriveSettings(visibility_timeout=1))
    monkeypatch.setattr(Redriver, "_delete", original_delete)
    aws.wait_for_executions()
    time.sleep(1.1)  # the interrupted message reappears

    # THEN running it again finishes the job: nothing lost, nothing duplicated, the DLQ empty
    summary = redriver(aws).run(RedriveSettings(wait=True, visibility_timeout=5))
    assert summary.totals == {
        "redriven": 8, "succeeded": 8, "failed_again": 0, "left": 0, "would_redrive": 0, "in_flight": 0, "other_tables": 0
    }  # fmt: skip
    assert dlq_depth(aws) == 0
    assert_each_change_exactly_once(aws, 200)


def _peek_all(sqs, url):
    messages, seen = [], set()
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update(m["MessageId"] for m in fresh)
        messages.extend(fresh)
    for message in messages:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return messages


def test_a_message_that_fails_again_returns_with_its_attempt_count_and_poison_stops(aws):
    policy = break_archive(aws)
    change_items(0, 3)
    aws.settle()

    first = redriver(aws).run(RedriveSettings(wait=True, visibility_timeout=1))
    assert first.totals["failed_again"] == 1
    (again,) = _peek_all(client("sqs"), aws.outputs["dlq_url"])
    assert json.loads(again["Body"])["input"]["redrive"]["attempt"] == 1

    poison = redriver(aws).run(RedriveSettings(max_attempts=1, visibility_timeout=1))
    assert [o.action for o in poison.outcomes] == ["poison"]
    time.sleep(1.1)
    assert dlq_depth(aws) == 1, "a poison message is left in the DLQ, never looped"

    fix_archive(aws, policy)
    final = redriver(aws).run(RedriveSettings(wait=True, visibility_timeout=1))
    assert final.totals["succeeded"] == 1 and dlq_depth(aws) == 0
    assert_each_change_exactly_once(aws, 3)


def test_error_filter_and_max_leave_other_messages_alone(aws):
    policy = break_archive(aws)
    for n in range(3):
        change_items(n, 1)
        aws.settle()
    fix_archive(aws, policy)

    assert redriver(aws).run(RedriveSettings(error="NoSuchError", visibility_timeout=1)).totals["left"] == 3
    time.sleep(1.1)
    limited = redriver(aws).run(RedriveSettings(max_messages=2, wait=True, visibility_timeout=1))
    assert limited.totals["succeeded"] == 2
    time.sleep(1.1)
    assert dlq_depth(aws) == 1


def test_an_event_source_mapping_failure_is_redriven_from_the_stream(deploy):
    aws = deploy({"changetrail:trigger": {"maximumRetryAttempts": 1}})

    def trigger_down(function_name, event):
        if function_name == aws.outputs["trigger_function_name"]:
            raise RuntimeError("trigger unavailable")

    lambdas.hooks.append(trigger_down)
    try:
        change_items(0, 5)
        aws.pump()
    finally:
        lambdas.hooks.remove(trigger_down)
    assert audit_rows(aws) == []

    (poller,) = aws.pollers
    assert poller.stats.given_up == 5

    summary = redriver(aws).run(RedriveSettings(wait=True, visibility_timeout=1))

    # bisection split the failing batch: one on-failure message per half, each redriven
    assert summary.totals["succeeded"] == len(summary.outcomes) == 2
    assert_each_change_exactly_once(aws, 5)
    assert drain(aws.outputs["stream_failures_queue_url"]) == []


def test_records_past_the_streams_retention_are_named_and_left(aws):
    message = {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "responseContext": {"functionError": "Unhandled"},
        "DDBStreamBatchInfo": {
            "shardId": "shardId-00000001541626099285-f35f62ef",
            "startSequenceNumber": "1000",
            "endSequenceNumber": "1009",
            "batchSize": 10,
            "streamArn": aws.outputs["source_stream_arn"],
        },
    }
    client("sqs").send_message(QueueUrl=aws.outputs["stream_failures_queue_url"], MessageBody=json.dumps(message))

    (outcome,) = redriver(aws).run(RedriveSettings(visibility_timeout=1)).outcomes

    assert outcome.action == "lost-to-retention"
    assert "records 1000..1009 of shardId-00000001541626099285-f35f62ef are past the stream's retention" in outcome.detail
    assert "archive" in outcome.detail


def test_letters_an_interrupted_run_still_hides_are_reported_in_flight_with_when_they_return(aws):
    policy = break_archive(aws)
    change_items(0, 2)
    aws.settle()
    fix_archive(aws, policy)
    sqs = client("sqs")
    # An earlier run received the letter and died: it stays hidden for that run's visibility timeout.
    (taken,) = sqs.receive_message(QueueUrl=aws.outputs["dlq_url"], VisibilityTimeout=600)["Messages"]

    summary = redriver(aws).run(RedriveSettings(visibility_timeout=45))

    assert summary.totals["redriven"] == 0 and summary.in_flight == 1
    assert "in flight 1" in summary.render() and "(45 s if a redrive took them)" in summary.render()
    sqs.change_message_visibility(QueueUrl=aws.outputs["dlq_url"], ReceiptHandle=taken["ReceiptHandle"], VisibilityTimeout=0)
    assert redriver(aws).run(RedriveSettings(wait=True)).totals["succeeded"] == 1


def test_a_stream_failures_redrive_runs_no_modify_the_attribute_rules_ignore(deploy):
    aws = deploy({"changetrail:source": {"ignoreAttributes": ["seen"]}, "changetrail:trigger": {"maximumRetryAttempts": 1}})
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "K"}, "value": {"N": "1"}, "seen": {"S": "t1"}})
    aws.settle()
    before = {e["executionArn"] for e in aws.executions()}

    def trigger_down(function_name, event):
        if function_name == aws.outputs["trigger_function_name"]:
            raise RuntimeError("trigger unavailable")

    # GIVEN the trigger gives up on a MODIFY of only the ignored attribute, and on an insert
    lambdas.hooks.append(trigger_down)
    try:
        ddb.put_item(TableName="Configuration", Item={"key": {"S": "K"}, "value": {"N": "1"}, "seen": {"S": "t2"}})
        ddb.put_item(TableName="Configuration", Item={"key": {"S": "J"}, "value": {"N": "5"}})
        aws.pump()
    finally:
        lambdas.hooks.remove(trigger_down)
    assert len(audit_rows(aws)) == 1

    # WHEN the stream-failures queue is redriven
    summary = redriver(aws).run(RedriveSettings(wait=True, visibility_timeout=1))

    # THEN only the insert runs again; the ignored MODIFY stays ignored, and its letter is done with
    sfn = client("stepfunctions")
    started = [e for e in aws.executions() if e["executionArn"] not in before]
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in started]
    assert [record["dynamodb"]["Keys"]["key"]["S"] for i in inputs for record in i["records"]] == ["J"]
    assert any("1 with nothing to audit" in o.detail for o in summary.outcomes), [o.detail for o in summary.outcomes]
    assert drain(aws.outputs["stream_failures_queue_url"]) == []
    assert sorted(row["itemKey"]["S"] for row in audit_rows(aws)) == ["J", "K"]
