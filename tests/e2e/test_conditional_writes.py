"""The write-once archive under AWS's rules for conditional writes, as the writer role meets them.

S3 (user guide, "Enforce conditional writes on Amazon S3 buckets"; API reference, CompleteMultipartUpload):
a bucket policy that enforces ``If-None-Match`` refuses copies into the bucket (403 without the header,
501 with it); multipart steps take no conditional header and are exempted by ``s3:ObjectCreationOperation``;
CompleteMultipartUpload takes ``If-None-Match`` (412 when the key exists, 409 ConditionalRequestConflict
while another create of the key runs, after which the upload is gone). Two creates of one key at once
make one object.
"""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from moto.s3.models import S3Backend

import statemachine
from changetrail.embedded import ARCHIVE_ACCOUNT, client, stepfunctions
from tests.e2e.conftest import archive_objects, archive_versions, audit_rows, drain, statuses

pytestmark = pytest.mark.e2e
KB = 1024


def writer_s3(aws):
    """An S3 client exactly as the archive tasks get it: the writer role, assumed as the state machine's role."""
    return stepfunctions.boto_client_for("us-east-1", "s3", SimpleNamespace(role_arn=aws.outputs["archive_role_arn"]))


def refused(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["ResponseMetadata"]["HTTPStatusCode"], raised.value.response["Error"]["Code"]


@pytest.fixture
def body(aws) -> str:
    """An archive body waiting in the payload bucket, as WriteAudit leaves one; its copy source."""
    key = "payloads/archive/body-under-test.jsonl"
    client("s3").put_object(Bucket=aws.outputs["payload_bucket_name"], Key=key, Body=b'{"line": 1}\n' * 1000)
    return f"{aws.outputs['payload_bucket_name']}/{key}"


def archive_key(aws, name: str) -> str:
    return f"{aws.outputs['archive_prefix']}/Configuration/2026/01/01/00/{name}.jsonl"


def upload(s3, bucket: str, key: str, source: str) -> tuple[str, str]:
    """A one-part upload of ``source`` into ``key``, not yet completed: (upload id, part ETag)."""
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    part = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, CopySource=source)
    return upload_id, part["CopyPartResult"]["ETag"]


def complete(s3, bucket: str, key: str, upload_id: str, etag: str, **conditional: str) -> dict:
    parts = {"Parts": [{"ETag": etag, "PartNumber": 1}]}
    return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=parts, **conditional)


def test_a_copy_into_the_archive_is_refused_403_without_the_header_and_501_with_it(aws, body):
    s3, bucket, key = writer_s3(aws), aws.outputs["archive_bucket_name"], archive_key(aws, "copied")

    assert refused(lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource=body)) == (403, "AccessDenied")
    assert refused(lambda: s3.copy_object(Bucket=bucket, Key=key, CopySource=body, IfNoneMatch="*")) == (501, "NotImplemented")
    assert archive_versions(aws) == 0


def test_the_writer_creates_by_multipart_upload_only_when_completed_with_if_none_match(aws, body):
    s3, bucket, key = writer_s3(aws), aws.outputs["archive_bucket_name"], archive_key(aws, "by-parts")
    upload_id, etag = upload(s3, bucket, key, body)  # the multipart steps: allowed without a conditional header

    assert refused(lambda: complete(s3, bucket, key, upload_id, etag)) == (403, "AccessDenied")
    complete(s3, bucket, key, upload_id, etag, IfNoneMatch="*")
    again, again_etag = upload(s3, bucket, key, body)
    assert refused(lambda: complete(s3, bucket, key, again, again_etag, IfNoneMatch="*")) == (412, "PreconditionFailed")

    admin = client("s3", ARCHIVE_ACCOUNT)
    assert admin.get_object(Bucket=bucket, Key=key)["Body"].read() == b'{"line": 1}\n' * 1000
    assert archive_versions(aws) == 1


@pytest.fixture
def slow_creates(monkeypatch):
    """Every object creation takes 0.3 s inside S3, so two requests started together overlap."""
    original = S3Backend.put_object

    def slow(self, *args, **kwargs):
        time.sleep(0.3)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", slow)


def at_once(*calls) -> list[tuple[int, str] | None]:
    """Run the calls in threads started together: each result is None (it succeeded) or (status, code)."""
    results: list[tuple[int, str] | None] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int, call) -> None:
        start.wait()
        try:
            call()
        except ClientError as error:
            results[index] = (error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"])

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_conditional_puts_of_one_key_at_once_make_one_object_and_one_conflict(aws, slow_creates):
    s3, bucket, key = writer_s3(aws), aws.outputs["archive_bucket_name"], archive_key(aws, "raced-put")

    results = at_once(
        *[
            lambda n=n: s3.put_object(Bucket=bucket, Key=key, Body=f"{n}\n".encode(), IfNoneMatch="*", ChecksumAlgorithm="CRC32")
            for n in range(2)
        ]
    )

    assert sorted(results, key=str) == [(409, "ConditionalRequestConflict"), None]
    assert archive_versions(aws) == 1


def test_two_completions_of_one_key_at_once_make_one_object_and_the_loser_must_start_again(aws, body, slow_creates):
    s3, bucket, key = writer_s3(aws), aws.outputs["archive_bucket_name"], archive_key(aws, "raced-upload")
    uploads = [upload(s3, bucket, key, body) for _ in range(2)]

    results = at_once(*[lambda u=u: complete(s3, bucket, key, *u, IfNoneMatch="*") for u in uploads])

    assert sorted(results, key=str) == [(409, "ConditionalRequestConflict"), None]
    (lost,) = [u for u, result in zip(uploads, results, strict=True) if result]
    admin = client("s3", ARCHIVE_ACCOUNT)
    assert refused(lambda: admin.list_parts(Bucket=bucket, Key=key, UploadId=lost[0])) == (404, "NoSuchUpload")
    assert archive_versions(aws) == 1


def test_a_large_change_is_archived_by_parts_and_a_copy_task_put_back_is_refused_into_the_dlq(deploy, tmp_path, monkeypatch):
    """The regression guard: the path AWS refuses (CopyObject into the archive) fails here as it would on AWS."""
    definition = json.loads(statemachine.DEFINITION_PATH.read_text())
    states = definition["States"]
    states["ArchiveByParts"] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:s3:copyObject",
        "Credentials": {"RoleArn": "${ArchiveRoleArn}"},
        "Parameters": {
            "Bucket": "${ArchiveBucketName}",
            "Key.$": "$.archive.key",
            "CopySource.$": "States.Format('{}/{}', $.archive.bodyRef.bucket, $.archive.bodyRef.key)",
            "ExpectedBucketOwner": "${ArchiveAccountId}",
            "IfNoneMatch": "*",
        },
        "ResultSelector": {"eTag.$": "$.CopyObjectResult.ETag"},
        "ResultPath": "$.archive",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "AlreadyArchived"}],
        "Next": "Notify",
    }
    copying = tmp_path / "pipeline.asl.json"
    copying.write_text(json.dumps(definition))
    monkeypatch.setattr(statemachine, "DEFINITION_PATH", copying)
    aws = deploy()

    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "HUGE"}, "blob": {"S": "c" * (300 * KB)}})
    executions = aws.settle()

    assert statuses(executions) == {"FAILED": 1}
    (letter,) = drain(aws.outputs["dlq_url"])
    assert letter["Body"]["failedState"] == "Archive" and "Status Code: 501" in letter["Body"]["cause"]
    assert not archive_objects(aws)
    assert len(audit_rows(aws)) == 1, "the rows were written; the change waits in the DLQ for its archive line"
