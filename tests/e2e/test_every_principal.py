"""Every principal is held to the policies, whoever makes the call: plain boto3 clients, not the task's path.

GIVEN the dev stack on the embedded AWS, WHEN a plain boto3 client (in this process, or on the
`changetrail local` endpoint) assumes a role or calls S3, THEN the trust policy, the caller's own
policies, the bucket policy and Object Lock decide, as on AWS, and a policy changed after first use
holds on the next call.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from changetrail.embedded import ARCHIVE_ACCOUNT, client, principals, stepfunctions
from tests.e2e.conftest import LocalServer, archive_objects, archive_versions, assumed_client, endpoint_client
from tests.e2e.test_archive_tamper import code_of, s3_versions, some_changes

pytestmark = pytest.mark.e2e
CONFIG = Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 1})


def plain(service: str, credentials: dict[str, str] | None = None):
    """A boto3 client as any user makes one: default keys (the pipeline account's root) unless given a session's."""
    return boto3.client(service, region_name="us-east-1", config=CONFIG, **(credentials or {}))


def assumed(role_arn: str, caller: dict[str, str] | None = None) -> dict[str, str]:
    found = plain("sts", caller).assume_role(RoleArn=role_arn, RoleSessionName="plain")["Credentials"]
    return {
        "aws_access_key_id": found["AccessKeyId"],
        "aws_secret_access_key": found["SecretAccessKey"],
        "aws_session_token": found["SessionToken"],
    }


def test_the_trust_policy_refuses_a_plain_caller_it_does_not_name(aws):
    writer = aws.outputs["archive_role_arn"]
    with pytest.raises(ClientError) as as_root:
        assumed(writer)  # the pipeline account's root: the trust names the account, but only for the state machine role
    assert code_of(as_root) == "AccessDenied"
    assert as_root.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "is not authorized to perform: sts:AssumeRole on resource: " + writer in as_root.value.response["Error"]["Message"]
    trigger_role = next(r["Arn"] for r in client("iam").list_roles()["Roles"] if "trigger" in r["RoleName"])
    with pytest.raises(ClientError) as as_trigger:
        assumed(writer, principals.service_credentials(trigger_role))
    assert code_of(as_trigger) == "AccessDenied"
    with pytest.raises(ClientError) as missing:
        assumed(f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/no-such-role")
    assert code_of(missing) == "AccessDenied"  # STS answers AccessDenied, not NoSuchEntity
    # The state machine's role, as Step Functions holds it, is the one caller the trust names.
    assumed(writer, principals.service_credentials(stepfunctions.execution_role_arn))


def test_a_plain_client_as_the_writer_role_can_neither_overwrite_delete_bypass_nor_rewrite_the_policy(aws):
    some_changes(aws)
    objects, versions = archive_objects(aws), archive_versions(aws)
    key = next(iter(objects))
    bucket = aws.outputs["archive_bucket_name"]
    s3 = plain("s3", assumed(aws.outputs["archive_role_arn"], principals.service_credentials(stepfunctions.execution_role_arn)))
    version = s3_versions(aws, key)[0]
    attempts = {
        "overwrite without If-None-Match": lambda: s3.put_object(
            Bucket=bucket, Key=key, Body=b"forged\n", ChecksumAlgorithm="CRC32"
        ),
        "delete": lambda: s3.delete_object(Bucket=bucket, Key=key),
        "delete a version": lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version),
        "delete a locked version with bypass": lambda: s3.delete_object(
            Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True
        ),
        "delete several with bypass": lambda: s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]}, BypassGovernanceRetention=True
        ),
        "put a bucket policy": lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": []})),
        "delete the bucket policy": lambda: s3.delete_bucket_policy(Bucket=bucket),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as refused:
            attempt()
        assert code_of(refused) == "AccessDenied", what
    with pytest.raises(ClientError) as create:
        s3.put_object(Bucket=bucket, Key=key, Body=b"forged\n", IfNoneMatch="*", ChecksumAlgorithm="CRC32")
    assert code_of(create) == "PreconditionFailed"  # a conditional create is allowed; S3 refuses it: the key exists
    assert archive_objects(aws) == objects and archive_versions(aws) == versions


def test_the_pipeline_account_root_can_neither_read_nor_remove_the_archive(aws):
    some_changes(aws)
    key = next(iter(archive_objects(aws)))
    bucket, s3 = aws.outputs["archive_bucket_name"], plain("s3")
    version = s3_versions(aws, key)[0]
    for attempt in (
        lambda: s3.get_object(Bucket=bucket, Key=key),
        lambda: s3.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True),
        lambda: s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": []})),
    ):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert code_of(refused) == "AccessDenied"
    assert key in archive_objects(aws)


def test_an_inline_deny_added_after_first_use_holds_on_the_next_call(aws):
    some_changes(aws)
    key = next(iter(archive_objects(aws)))
    bucket, reader = aws.outputs["archive_bucket_name"], aws.outputs["archive_reader_role_arn"]
    s3 = plain("s3", assumed(reader))
    s3.get_object(Bucket=bucket, Key=key)  # first use: allowed
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"}]}
    iam = client("iam", ARCHIVE_ACCOUNT)
    iam.put_role_policy(RoleName=reader.rsplit("/", 1)[-1], PolicyName="later-deny", PolicyDocument=json.dumps(deny))
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key=key)  # the same session, no cache to clear
    assert code_of(refused) == "AccessDenied"
    iam.delete_role_policy(RoleName=reader.rsplit("/", 1)[-1], PolicyName="later-deny")
    s3.get_object(Bucket=bucket, Key=key)


def test_the_archive_accounts_administrator_may_lift_governance_and_change_the_policy(aws):
    some_changes(aws)
    key = next(iter(archive_objects(aws)))
    bucket = aws.outputs["archive_bucket_name"]
    admin = plain("s3", assumed(f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/OrganizationAccountAccessRole"))
    policy = admin.get_bucket_policy(Bucket=bucket)["Policy"]
    admin.put_bucket_policy(Bucket=bucket, Policy=policy)
    admin.delete_object(Bucket=bucket, Key=key, VersionId=s3_versions(aws, key)[0], BypassGovernanceRetention=True)
    assert key not in archive_objects(aws)


def test_the_bucket_owners_root_may_always_change_the_bucket_policy_others_only_as_it_allows(aws):
    bucket = aws.outputs["archive_bucket_name"]
    deny_all = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}"]}
    admin = plain("s3", assumed(f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/OrganizationAccountAccessRole"))
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [deny_all]}))
    with pytest.raises(ClientError) as locked_out:
        admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": []}))
    assert code_of(locked_out) == "AccessDenied"
    root = principals.Principal.root(ARCHIVE_ACCOUNT)
    assert principals.s3_decision(root, "PutBucketPolicy", {"Bucket": bucket, "Policy": "{}"}) is None
    assert principals.s3_decision(root, "GetBucketVersioning", {"Bucket": bucket}) == (
        "s3:GetBucketVersioning",
        f"arn:aws:s3:::{bucket}",
    )


# -- the same on the `changetrail local` endpoint (one server for the module; kept to one test: it is slow) ----
def test_on_the_local_endpoint_trust_and_the_readers_policy_hold_for_a_plain_client(local: LocalServer):
    url, outputs = local.outputs["endpoint_url"], local.outputs
    with pytest.raises(ClientError) as refused:
        endpoint_client(url, "sts").assume_role(RoleArn=outputs["archive_role_arn"], RoleSessionName="attacker")
    assert code_of(refused) == "AccessDenied"
    reader = assumed_client(url, outputs["archive_reader_role_arn"], "reader", "s3")
    bucket = outputs["archive_bucket_name"]
    reader.list_objects_v2(Bucket=bucket, Prefix=f"{outputs['archive_prefix']}/")
    for attempt in (
        lambda: reader.list_objects_v2(Bucket=bucket),
        lambda: reader.put_object(Bucket=bucket, Key=f"{outputs['archive_prefix']}/x.jsonl", Body=b"x"),
        lambda: reader.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": []})),
    ):
        with pytest.raises(ClientError) as denied:
            attempt()
        assert code_of(denied) == "AccessDenied"
