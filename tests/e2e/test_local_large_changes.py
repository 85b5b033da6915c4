"""A change far past every Step Functions limit, through `changetrail local` from another process, as a user sends it.

Both images of a ~350 KB item (~700 KB) travel by claim check, and the archive body is written into the
write-once bucket by the path AWS accepts there: a multipart upload whose one part is copied from the
payload bucket, completed with ``If-None-Match``. Put a copy back and the embedded AWS refuses it (501),
as AWS does: this test then finds the change in the DLQ instead of the archive.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import LocalServer, assumed_client, clean_environment, endpoint_client, wait_for

pytestmark = pytest.mark.e2e
KB = 1024


def test_a_350_kb_item_rewritten_reaches_the_audit_table_and_the_archive_byte_exact(local: LocalServer):
    outputs, url = local.outputs, local.outputs["endpoint_url"]
    ddb, table = endpoint_client(url, "dynamodb"), outputs["source_table_name"]
    first, second = os.urandom(350 * KB), os.urandom(350 * KB)

    ddb.put_item(
        TableName=table, Item={"key": {"S": "LARGE"}, "blob": {"B": first}, "n": {"N": "0.1000000000000000000000000000000000001"}}
    )
    ddb.put_item(
        TableName=table,
        Item={"key": {"S": "LARGE"}, "blob": {"B": second}, "n": {"N": "0.1000000000000000000000000000000000001"}},
    )

    rows = wait_for(lambda: (r := ddb.scan(TableName=outputs["audit_table_name"])["Items"]) and len(r) >= 2 and r, what="rows")
    by_event = {row["eventName"]["S"]: row for row in rows}
    assert sorted(by_event) == ["INSERT", "MODIFY"] and len(rows) == 2
    assert by_event["INSERT"]["newValue"]["M"]["blob"] == {"B": first}, "the row holds the exact bytes"
    assert by_event["INSERT"]["newValue"]["M"]["n"] == {"N": "0.1000000000000000000000000000000000001"}
    assert sorted(by_event["MODIFY"]["valuesInArchive"]["M"]["attributes"]["SS"]) == ["newValue", "oldValue"]

    reader, bucket = assumed_client(url, outputs["archive_reader_role_arn"], "reader", "s3"), outputs["archive_bucket_name"]

    def archived() -> list[dict] | None:
        keys = [
            o["Key"] for o in reader.list_objects_v2(Bucket=bucket, Prefix=f"{outputs['archive_prefix']}/").get("Contents", [])
        ]
        lines = [
            json.loads(line) for key in keys for line in reader.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
        ]
        return lines if len(lines) >= 2 else None

    insert, modify = sorted(wait_for(archived, what="archive lines"), key=lambda line: line["sequenceNumber"])
    assert base64.b64decode(insert["newImage"]["blob"]["B"]) == first
    assert base64.b64decode(modify["oldImage"]["blob"]["B"]) == first
    assert base64.b64decode(modify["newImage"]["blob"]["B"]) == second
    assert modify["changedAttributes"] == ["blob"]

    sqs = endpoint_client(url, "sqs")
    assert not sqs.receive_message(QueueUrl=outputs["dlq_url"]).get("Messages"), "nothing dead-lettered"
    env = {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1"}
    listed = subprocess.run(
        [sys.executable, "-m", "changetrail.cli", "executions", "--outputs", str(local.outputs_file), "--json"],
        capture_output=True, text=True, timeout=120, env={**clean_environment(), **env},
    )  # fmt: skip
    executions = json.loads(listed.stdout)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    assert all("ArchiveByParts" in [step["name"] for step in e["steps"]] for e in executions), "both went by parts"
