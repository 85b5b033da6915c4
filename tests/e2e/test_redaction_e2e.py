"""Redaction on the running pipeline: the secret reaches neither audit rows, archive, notifications nor execution logs."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import client
from tests.e2e.conftest import archive_objects, audit_rows, drain, subscribe_queue

pytestmark = pytest.mark.e2e


def test_a_redacted_attribute_never_leaves_the_source_table(deploy):
    aws = deploy({"changetrail:redaction": {"attributes": ["password"]}, "changetrail:workflow": {"includeExecutionData": False}})
    inbox = subscribe_queue(aws, "watcher")
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "DB"}, "password": {"S": "hunter2"}, "port": {"N": "5432"}})
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "DB"}, "password": {"S": "s3cr3t"}, "port": {"N": "5432"}})
    aws.settle()

    rows = audit_rows(aws)
    assert sorted(r["eventName"]["S"] for r in rows) == ["INSERT", "MODIFY"]
    modify = next(r for r in rows if r["eventName"]["S"] == "MODIFY")
    assert modify["updatedAttribute"] == {"S": "password"}, "the change itself is still audited"
    logs = client("logs")
    events = logs.filter_log_events(logGroupName=aws.outputs["log_group_name"])["events"]
    assert events, "execution logs were delivered"
    everything = json.dumps(rows) + json.dumps(archive_objects(aws)) + json.dumps(drain(inbox)) + json.dumps(events)
    assert "hunter2" not in everything and "s3cr3t" not in everything
    assert "5432" in everything
