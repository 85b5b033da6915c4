"""Encryption at rest: one customer managed key per stack (and one in the archive account), used everywhere."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from components.encryption import ADMINISTER_ACTIONS, LOGS_ACTIONS, USE_ACTIONS
from tests.infra.conftest import ARCHIVE_ACCOUNT, PIPELINE_ACCOUNT, REGION, Run

TARGET = {"changetrail:deployment": "archive-target", "changetrail:pipeline": {"accountId": "333333333333", "stack": "prod"}}
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


@pytest.fixture(scope="module")
def target(deploy) -> Run:
    return deploy(TARGET)


def key_arn(program: Run, name: str) -> str:
    return program.named(name).outputs["arn"]


def key_statements(program: Run, name: str) -> dict[str, dict[str, Any]]:
    document = json.loads(program.named(name).inputs["policy"])
    return {statement["Sid"]: statement for statement in document["Statement"]}


@pytest.mark.parametrize(
    ("key", "alias", "account"),
    [
        ("encryption-key", "alias/changetrail-dev", PIPELINE_ACCOUNT),
        ("archive-encryption-key", "alias/changetrail-dev-archive", ARCHIVE_ACCOUNT),
    ],
)
def test_each_key_rotates_has_a_deletion_window_an_alias_and_lives_in_its_account(dev, key, alias, account):
    recorded = dev.named(key)
    assert recorded.inputs["enableKeyRotation"] is True
    assert recorded.inputs["deletionWindowInDays"] == 30
    assert f":{account}:" in recorded.outputs["arn"]
    (found,) = [a for a in dev.of_type("aws:kms/alias:Alias") if a.inputs["name"] == alias]
    assert found.inputs["targetKeyId"] == recorded.outputs["keyId"]


def test_the_stack_key_policy_delegates_to_this_account_and_lets_logs_encrypt_only_this_stacks_groups(dev):
    statements = key_statements(dev, "encryption-key")
    assert set(statements) == {
        "AccountAdministersKey",
        "IamPoliciesGrantUse",
        "CloudWatchLogsEncryptsStackLogGroups",
        "ArchiveWriterDecryptsArchiveBodies",
    }
    root = {"AWS": f"arn:aws:iam::{PIPELINE_ACCOUNT}:root"}
    assert statements["AccountAdministersKey"]["Principal"] == root
    assert statements["AccountAdministersKey"]["Action"] == ADMINISTER_ACTIONS
    assert statements["IamPoliciesGrantUse"]["Principal"] == root
    assert statements["IamPoliciesGrantUse"]["Action"] == USE_ACTIONS
    logs = statements["CloudWatchLogsEncryptsStackLogGroups"]
    assert logs["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs["Action"] == LOGS_ACTIONS
    allowed = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert all(arn.startswith(f"arn:aws:logs:{REGION}:{PIPELINE_ACCOUNT}:log-group:") for arn in allowed)
    for group in dev.of_type("aws:cloudwatch/logGroup:LogGroup"):
        arn = group.outputs["arn"]
        assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in allowed), group.inputs["name"]
    assert not any(
        fnmatch.fnmatchcase(f"arn:aws:logs:{REGION}:{PIPELINE_ACCOUNT}:log-group:/aws/lambda/other", p) for p in allowed
    )


def test_the_archive_writer_may_only_decrypt_through_s3_from_the_other_account(dev):
    statement = key_statements(dev, "encryption-key")["ArchiveWriterDecryptsArchiveBodies"]
    assert statement["Principal"] == {"AWS": [dev.named("archive-writer-role").outputs["arn"]]}
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}}


def test_no_key_policy_grants_kms_star_or_any_other_account_beyond_the_archive_writer(dev):
    for name in ("encryption-key", "archive-encryption-key", "monitoring-key"):
        account = ARCHIVE_ACCOUNT if name.startswith("archive") else PIPELINE_ACCOUNT
        for sid, statement in key_statements(dev, name).items():
            principal = statement["Principal"]
            if "AWS" in principal and sid != "ArchiveWriterDecryptsArchiveBodies":
                assert principal["AWS"] == f"arn:aws:iam::{account}:root", (name, sid)
            assert "kms:*" not in statement["Action"], (name, sid)


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


@pytest.mark.parametrize("variant", ["dev", "target", "monitoring off", "emails"])
def test_no_key_policy_in_the_stack_names_kms_star(deploy, variant):
    # GIVEN every KMS key a stack declares (whatever its name), THEN each statement names its actions
    overrides = {
        "dev": None,
        "target": TARGET,
        "monitoring off": {"changetrail:monitoring": {"enabled": False}},
        "emails": {"changetrail:monitoring": {"emails": ["oncall@example.com"]}},
    }[variant]
    keys = deploy(overrides).of_type("aws:kms/key:Key")
    assert keys
    for key in keys:
        for statement in json.loads(key.inputs["policy"])["Statement"]:
            assert not [a for a in actions(statement) if a in ("*", "kms:*")], (key.name, statement.get("Sid"))


def test_every_log_group_is_encrypted_with_the_stack_key(dev):
    groups = dev.of_type("aws:cloudwatch/logGroup:LogGroup")
    assert len(groups) == 6  # the state machine's and one per function
    for group in groups:
        assert group.inputs["kmsKeyId"] == key_arn(dev, "encryption-key"), group.inputs["name"]


def test_tables_queues_and_the_change_topic_use_the_stack_key(dev):
    stack_key = key_arn(dev, "encryption-key")
    for table in dev.of_type("aws:dynamodb/table:Table"):
        assert table.inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": stack_key}, table.name
    for queue in dev.of_type("aws:sqs/queue:Queue"):
        assert queue.inputs["kmsMasterKeyId"] == stack_key, queue.name
    assert dev.one("aws:sns/topic:Topic", "notifications-topic").inputs["kmsMasterKeyId"] == stack_key


@pytest.mark.parametrize(
    ("bucket", "key"), [("workflow-payloads-bucket", "encryption-key"), ("archive-archive-bucket", "archive-encryption-key")]
)
def test_buckets_default_to_sse_kms_with_their_accounts_key_and_a_bucket_key(dev, bucket, key):
    (rule,) = dev.attached_to(SSE, dev.named(bucket)).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn(dev, key)}
    assert rule["bucketKeyEnabled"] is True


def test_the_archive_target_stack_deploys_its_own_key(target):
    (key,) = target.of_type("aws:kms/key:Key")
    assert set(key_statements(target, key.name)) == {"AccountAdministersKey", "IamPoliciesGrantUse"}
    (bucket,) = target.of_type("aws:s3/bucket:Bucket")
    (rule,) = target.attached_to(SSE, bucket).inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == key.outputs["arn"]
    assert "archive_kms_key_arn" in target.outputs
