"""What the program declares and how it is wired, under in-memory Pulumi mocks (no AWS, no moto)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime.mocks import MockMonitor

from components.config import ConfigError
from tests.infra.conftest import (
    ARCHIVE_ACCOUNT,
    DEV_CONFIG,
    PIPELINE_ACCOUNT,
    REGION,
    REMOVE,
    Recorded,
    RecordingMocks,
    Run,
    run,
)

FILTERS = ['{"eventName": ["INSERT", "MODIFY"]}', '{"dynamodb": {"Keys": {"key": {"S": [{"prefix": "feature/"}]}}}}']
EMAILS = ["alice@example.com", "bob@example.com"]
TUNED = {
    "changetrail:trigger": {
        "batchSize": 250,
        "batchingWindowSeconds": 5,
        "parallelizationFactor": 4,
        "maximumRetryAttempts": 3,
        "maximumRecordAgeSeconds": 3600,
        "filterPatterns": FILTERS,
    },
    "changetrail:notifications": {"emails": EMAILS},
    "changetrail:archive": {"prefix": "changes/v1", "transitionToIaDays": 45, "transitionToGlacierDays": 120},
}
EXTERNAL_ARCHIVE = {
    "changetrail:archive": {
        "create": False,
        "deployRoleArn": REMOVE,
        "bucketName": "acme-audit-archive",
        "roleName": "acme-archive-writer",
        "readerRoleName": "acme-archive-reader",
    }
}
PROVISIONED = {
    "changetrail:audit": {"capacityMode": "provisioned", "minWriteCapacity": 10, "maxWriteCapacity": 500, "targetUtilization": 60}
}
SCALING_TARGET, SCALING_POLICY = "aws:appautoscaling/target:Target", "aws:appautoscaling/policy:Policy"
TARGET = {"changetrail:deployment": "archive-target", "changetrail:pipeline": {"accountId": "333333333333", "stack": "prod"}}
REFERENCE_KEYS = ("FunctionName", "TableName", "RoleArn", "Bucket", "ExpectedBucketOwner", "TopicArn", "QueueUrl")
"""ASL parameters that must hold a rendered ARN, name or URL."""
OUTPUT_KEYS = {
    "stack", "region", "pipeline_account_id",
    "source_table_name", "source_table_arn", "source_stream_arn",
    "audit_table_name", "audit_table_arn", "audit_history_index",
    "trigger_function_name", "trigger_function_arn", "event_source_mapping_uuid",
    "stream_failures_queue_url", "stream_failures_queue_arn",
    "state_machine_arn", "state_machine_name", "log_group_name", "dlq_url", "dlq_arn",
    "payload_bucket_name", "payload_bucket_arn", "topic_arn",
    "archive_bucket_name", "archive_bucket_arn", "archive_role_arn", "archive_reader_role_arn",
    "archive_account_id", "archive_prefix", "redaction",
    "ops_topic_arn", "dashboard_name", "console_urls",
}  # fmt: skip


@pytest.fixture(scope="module")
def tuned(deploy) -> Run:
    return deploy(TUNED)


@pytest.fixture(scope="module")
def external_archive(deploy) -> Run:
    return deploy(EXTERNAL_ARCHIVE)


@pytest.fixture(scope="module")
def target(deploy) -> Run:
    return deploy(TARGET)


@pytest.fixture(scope="module")
def provisioned(deploy) -> Run:
    return deploy(PROVISIONED)


def statements_of(document: str) -> list[dict[str, Any]]:
    return json.loads(document)["Statement"]


def is_tls_only(statement: dict[str, Any], resources: list[str]) -> bool:
    return (
        statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        and statement["Resource"] == resources
        and statement["Principal"] in ("*", {"AWS": "*"})
    )


def unresolved(definition: str) -> list[str]:
    """Why a rendered ASL document is not deployable: placeholders left, or references that rendered empty."""
    problems = ["unrendered ${...}"] if "${" in definition else []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in REFERENCE_KEYS and (not isinstance(value, str) or value in ("", "None", "null")):
                    problems.append(f"{path}.{key} = {value!r}")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")
        elif node is None and not path.endswith(".ResultPath"):
            problems.append(f"{path} is null")
        elif isinstance(node, str) and ("None" in node.split(":") or (node.startswith("arn:") and "::None" in node)):
            problems.append(f"{path} = {node!r}")

    walk(json.loads(definition), "$")
    return problems


def archive_side(program: Run) -> list[Recorded]:
    """Every custom resource below the ArchiveTarget component, however deeply nested."""
    by_urn = {r.urn: r for r in program.resources}

    def under_archive(resource: Recorded | None) -> bool:
        while resource is not None:
            if resource.typ == "changetrail:archive:ArchiveTarget":
                return True
            resource = by_urn.get(resource.parent_urn)
        return False

    return [r for r in program.resources if r.custom and under_archive(r)]


# -- tables ---------------------------------------------------------------------------------
def test_the_source_table_streams_both_images_on_demand_with_pitr_and_encryption(dev):
    table = dev.one("aws:dynamodb/table:Table", "source-table").inputs
    assert (table["name"], table["hashKey"]) == ("Configuration", "key")
    assert table["attributes"] == [{"name": "key", "type": "S"}]
    assert table["streamEnabled"] is True and table["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": stack_key(dev)}


def stack_key(program: Run) -> str:
    return program.named("encryption-key").outputs["arn"]


def test_the_audit_table_is_keyed_by_id_with_the_item_history_index_and_pitr(dev):
    table = dev.one("aws:dynamodb/table:Table", "audit-table").inputs
    assert (table["name"], table["hashKey"], table["billingMode"]) == ("Audit", "id", "PAY_PER_REQUEST")
    assert "rangeKey" not in table
    (index,) = table["globalSecondaryIndexes"]
    assert index["name"] == "byItem" and index["projectionType"] == "INCLUDE"
    # Small metadata only, so an index write is one write unit; never the values (oldValue/newValue).
    assert index["nonKeyAttributes"] == [
        "eventName",
        "eventId",
        "table",
        "sequenceNumber",
        "modificationTime",
        "updatedAttribute",
        "archiveKey",  # on each change's claim row: where its archive line is
    ]
    assert [(k["attributeName"], k["keyType"]) for k in index["keySchemas"]] == [("itemKey", "HASH"), ("historySortKey", "RANGE")]
    assert {a["name"]: a["type"] for a in table["attributes"]} == {"id": "S", "itemKey": "S", "historySortKey": "S"}
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": stack_key(dev)}


def test_a_provisioned_audit_table_starts_table_and_index_at_the_minimum_capacity(provisioned):
    table = provisioned.one("aws:dynamodb/table:Table", "audit-table").inputs
    assert table["billingMode"] == "PROVISIONED"
    assert (table["writeCapacity"], table["readCapacity"]) == (10, 5)
    (index,) = table["globalSecondaryIndexes"]
    assert (index["name"], index["writeCapacity"], index["readCapacity"]) == ("byItem", 10, 5)


def test_a_provisioned_audit_table_scales_table_and_index_writes_by_target_tracking(provisioned):
    targets = {t.inputs["scalableDimension"]: t for t in provisioned.of_type(SCALING_TARGET)}
    assert {dimension: t.inputs["resourceId"] for dimension, t in targets.items()} == {
        "dynamodb:table:WriteCapacityUnits": "table/Audit",
        "dynamodb:index:WriteCapacityUnits": "table/Audit/index/byItem",
    }, "writes only: reads stay at readCapacity"
    for t in targets.values():
        assert (t.inputs["serviceNamespace"], t.inputs["minCapacity"], t.inputs["maxCapacity"]) == ("dynamodb", 10, 500)
        assert "roleArn" not in t.inputs, "AWS uses its service-linked role; the program creates none"
    policies = provisioned.of_type(SCALING_POLICY)
    assert sorted((p.inputs["resourceId"], p.inputs["scalableDimension"]) for p in policies) == sorted(
        (t.inputs["resourceId"], dimension) for dimension, t in targets.items()
    )
    for policy in policies:
        assert policy.inputs["policyType"] == "TargetTrackingScaling"
        assert policy.inputs["targetTrackingScalingPolicyConfiguration"] == {
            "targetValue": 60,
            "predefinedMetricSpecification": {"predefinedMetricType": "DynamoDBWriteCapacityUtilization"},
        }
    assert {r.parent_name for r in [*targets.values(), *policies]} == {"audit"}


def ignored_changes(overrides: dict[str, Any] | None) -> dict[str, list[str]]:
    """Resource name -> its ``ignoreChanges`` as the engine receives them (the recording mock does not see options)."""
    seen: dict[str, list[str]] = {}
    register = MockMonitor.RegisterResource

    def recording(monitor: MockMonitor, request: Any) -> Any:
        seen[request.name] = list(request.ignoreChanges)
        return register(monitor, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MockMonitor, "RegisterResource", recording)
        run(overrides)
    return seen


def test_pulumi_leaves_the_write_capacity_the_autoscaler_set_alone_only_when_provisioned():
    assert ignored_changes(PROVISIONED)["audit-table"] == ["writeCapacity", "globalSecondaryIndexes[0].writeCapacity"]
    assert ignored_changes(None)["audit-table"] == []


def test_an_on_demand_audit_table_has_no_capacity_and_no_scaling(dev):
    table = dev.one("aws:dynamodb/table:Table", "audit-table").inputs
    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert not {"readCapacity", "writeCapacity"} & {*table, *table["globalSecondaryIndexes"][0]}
    assert not [r for r in dev.resources if r.typ.startswith("aws:appautoscaling/")]


def test_provisioned_mode_adds_the_scaling_resources_and_changes_nothing_else(dev, provisioned):
    def declared(program: Run) -> dict[str, str]:
        return {r.name: r.typ for r in program.resources}

    added = set(declared(provisioned)) - set(declared(dev))
    assert set(declared(dev)) <= set(declared(provisioned))
    assert sorted(declared(provisioned)[name] for name in added) == [SCALING_POLICY] * 2 + [SCALING_TARGET] * 2


# -- state machine --------------------------------------------------------------------------
def test_the_state_machine_is_express_logs_every_event_without_payloads_to_a_vended_log_group_and_is_traced(dev):
    machine = dev.one("aws:sfn/stateMachine:StateMachine").inputs
    log_group = dev.one("aws:cloudwatch/logGroup:LogGroup", "workflow-logs")
    assert machine["type"] == "EXPRESS"
    assert machine["loggingConfiguration"]["level"] == "ALL"
    # Every execution with its states, timings, errors and causes in the console; payloads are opt-in.
    assert machine["loggingConfiguration"]["includeExecutionData"] is False
    assert log_group.inputs["name"].startswith("/aws/vendedlogs/states/")
    assert machine["loggingConfiguration"]["logDestination"] == log_group.outputs["arn"] + ":*"
    assert machine["tracingConfiguration"] == {"enabled": True}
    assert machine["roleArn"] == dev.one("aws:iam/role:Role", "workflow-role").outputs["arn"]


def test_the_definition_is_fully_rendered_json(dev):
    definition = dev.one("aws:sfn/stateMachine:StateMachine").inputs["definition"]
    assert json.loads(definition)["StartAt"] == "Decode"
    assert unresolved(definition) == []


def test_the_definition_references_the_resources_the_program_created(dev):
    states = json.loads(dev.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])["States"]
    arn = {r.name: r.outputs.get("arn") for r in dev.resources if r.custom}
    assert states["Decode"]["Parameters"]["FunctionName"] == arn["workflow-decode-function"]
    assert states["Diff"]["Parameters"]["FunctionName"] == arn["workflow-diff-function"]
    assert states["WriteAudit"]["Parameters"]["FunctionName"] == arn["workflow-write-audit-function"]
    assert states["Notify"]["Parameters"]["FunctionName"] == arn["workflow-notify-function"]
    archive = states["Archive"]
    assert archive["Credentials"]["RoleArn"] == arn["archive-writer-role"]
    assert archive["Parameters"]["Bucket"] == dev.one("aws:s3/bucket:Bucket", "archive-archive-bucket").outputs["bucket"]
    assert archive["Parameters"]["ExpectedBucketOwner"] == ARCHIVE_ACCOUNT
    assert states["SendToDLQ"]["Parameters"]["QueueUrl"] == dev.one("aws:sqs/queue:Queue", "workflow-dlq").outputs["url"]


def test_the_triggers_log_lines_are_counted_as_metrics_by_filters_on_its_log_group(dev):
    from functions.trigger import NOT_STARTED, STARTED

    group = dev.one("aws:cloudwatch/logGroup:LogGroup", "trigger-producer-logs").outputs["name"]
    filters = {
        f.inputs["metricTransformation"]["name"]: f.inputs for f in dev.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")
    }
    assert set(filters) == {"ExecutionsStarted", "StartExecutionFailed", "ChangesStarted", "ArchiveObjectsWritten"}
    assert filters["ExecutionsStarted"]["pattern"] == f'{{ $.message = "{STARTED}" }}'
    assert filters["StartExecutionFailed"]["pattern"] == f'{{ $.message = "{NOT_STARTED}" }}'
    # each execution started counts its changes, per trigger (Powertools logs the function's name in every line)
    assert filters["ChangesStarted"]["pattern"] == f'{{ $.message = "{STARTED}" }}'
    assert filters["ChangesStarted"]["metricTransformation"]["value"] == "$.batch.recordCount"
    assert filters["ChangesStarted"]["metricTransformation"]["dimensions"] == {"FunctionName": "$.function_name"}
    for name in ("ExecutionsStarted", "StartExecutionFailed", "ChangesStarted"):
        assert filters[name]["logGroupName"] == group
        assert filters[name]["metricTransformation"]["namespace"] == "changetrail"
    archive = filters["ArchiveObjectsWritten"]
    assert archive["logGroupName"] == dev.outputs["log_group_name"]
    assert archive["metricTransformation"]["namespace"] == "changetrail/dev"
    assert '$.details.resourceType = "aws-sdk:s3"' in archive["pattern"] and '"TaskSucceeded"' in archive["pattern"]


# -- event source mapping -------------------------------------------------------------------
def test_the_mapping_retries_finitely_bisects_reports_item_failures_and_parks_failures(dev):
    mapping = dev.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    trigger = DEV_CONFIG["changetrail:trigger"]
    assert mapping["eventSourceArn"] == dev.one("aws:dynamodb/table:Table", "source-table").outputs["streamArn"]
    assert mapping["functionName"] == dev.one("aws:lambda/function:Function", "trigger-producer-function").outputs["arn"]
    assert mapping["startingPosition"] == "TRIM_HORIZON"
    assert 0 <= mapping["maximumRetryAttempts"] <= 10000  # never -1 (infinite): a poison record would block its shard
    assert mapping["maximumRetryAttempts"] == trigger["maximumRetryAttempts"]
    assert 60 <= mapping["maximumRecordAgeInSeconds"] <= 604800
    assert mapping["maximumRecordAgeInSeconds"] == trigger["maximumRecordAgeSeconds"]
    assert mapping["bisectBatchOnFunctionError"] is True
    assert mapping["functionResponseTypes"] == ["ReportBatchItemFailures"]
    failures = dev.one("aws:sqs/queue:Queue", "trigger-stream-failures")
    assert failures.inputs["name"] == "changetrail-dev-stream-failures"
    assert mapping["destinationConfig"] == {"onFailure": {"destinationArn": failures.outputs["arn"]}}
    assert (mapping["batchSize"], mapping["maximumBatchingWindowInSeconds"], mapping["parallelizationFactor"]) == (
        trigger["batchSize"],
        trigger["batchingWindowSeconds"],
        trigger["parallelizationFactor"],
    )
    assert "filterCriteria" not in mapping


def test_the_mapping_takes_batching_retries_and_filters_from_config(tuned):
    mapping = tuned.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert mapping["batchSize"] == 250 and mapping["maximumBatchingWindowInSeconds"] == 5
    assert mapping["parallelizationFactor"] == 4
    assert mapping["maximumRetryAttempts"] == 3 and mapping["maximumRecordAgeInSeconds"] == 3600
    assert mapping["filterCriteria"] == {"filters": [{"pattern": pattern} for pattern in FILTERS]}


def test_the_functions_run_as_their_own_roles_log_to_their_own_groups_and_are_traced(dev):
    for function in dev.of_type("aws:lambda/function:Function"):
        component = function.name.removesuffix("-function")
        inputs = function.inputs
        assert inputs["role"] == dev.one("aws:iam/role:Role", f"{component}-role").outputs["arn"]
        log_group = dev.one("aws:cloudwatch/logGroup:LogGroup", f"{component}-logs").inputs["name"]
        assert log_group == f"/aws/lambda/{inputs['name']}"
        assert inputs["loggingConfig"] == {"logFormat": "JSON", "logGroup": log_group}
        assert inputs["tracingConfig"] == {"mode": "Active"}
    variables = dev.one("aws:lambda/function:Function", "trigger-producer-function").inputs["environment"]["variables"]
    assert variables["STATE_MACHINE_ARN"] == dev.one("aws:sfn/stateMachine:StateMachine").outputs["arn"]
    assert variables["PAYLOAD_BUCKET"] == dev.one("aws:s3/bucket:Bucket", "workflow-payloads-bucket").outputs["bucket"]


# -- queues and topics ----------------------------------------------------------------------
def test_both_queues_take_1_mib_messages_are_encrypted_with_the_stack_key_and_tls_only(dev):
    queues = dev.of_type("aws:sqs/queue:Queue")
    assert sorted(q.inputs["name"] for q in queues) == ["changetrail-dev-dlq", "changetrail-dev-stream-failures"]
    for queue in queues:
        assert queue.inputs["maxMessageSize"] == 1048576, queue.name
        assert queue.inputs["kmsMasterKeyId"] == stack_key(dev), queue.name
        assert queue.inputs["kmsDataKeyReusePeriodSeconds"] == 3600, queue.name
        assert "sqsManagedSseEnabled" not in queue.inputs, queue.name
        policy = dev.attached_to("aws:sqs/queuePolicy:QueuePolicy", queue, "queueUrl")
        (statement,) = statements_of(policy.inputs["policy"])
        assert is_tls_only(statement, [queue.outputs["arn"]]), queue.name
    dlq = dev.one("aws:sqs/queue:Queue", "workflow-dlq").inputs
    assert dlq["messageRetentionSeconds"] == DEV_CONFIG["changetrail:workflow"]["dlqRetentionDays"] * 86400


def test_every_topic_is_encrypted_and_tls_only(dev):
    topics = dev.of_type("aws:sns/topic:Topic")
    assert "changetrail-dev-changes" in {t.inputs["name"] for t in topics}
    assert dev.one("aws:sns/topic:Topic", "notifications-topic").inputs["kmsMasterKeyId"] == stack_key(dev)
    for topic in topics:
        assert topic.inputs.get("kmsMasterKeyId"), topic.name
        policy = next(p for p in dev.of_type("aws:sns/topicPolicy:TopicPolicy") if p.inputs["arn"] == topic.outputs["arn"])
        assert any(is_tls_only(s, [topic.outputs["arn"]]) for s in statements_of(policy.inputs["policy"])), topic.name


def test_the_change_topic_has_one_email_subscription_per_configured_address(dev, tuned):
    def subscriptions(program: Run) -> list[tuple[str, str]]:
        topic = program.one("aws:sns/topic:Topic", "notifications-topic").outputs["arn"]
        found = program.of_type("aws:sns/topicSubscription:TopicSubscription")
        return sorted((s.inputs["protocol"], s.inputs["endpoint"]) for s in found if s.inputs["topic"] == topic)

    assert subscriptions(dev) == []
    assert subscriptions(tuned) == [("email", address) for address in EMAILS]


# -- buckets ------------------------------------------------------------------------------
def test_every_bucket_is_owner_enforced_private_encrypted_and_tls_only(dev):
    buckets = dev.of_type("aws:s3/bucket:Bucket")
    assert {b.name for b in buckets} == {"workflow-payloads-bucket", "archive-archive-bucket"}
    for bucket in buckets:
        ownership = dev.attached_to("aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket)
        assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}, bucket.name
        block = dev.attached_to("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket).inputs
        flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        assert [block.get(flag) for flag in flags] == [True] * 4, bucket.name
        sse = dev.attached_to("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket)
        (rule,) = sse.inputs["rules"]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms", bucket.name
        assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:"), bucket.name
        assert rule["bucketKeyEnabled"] is True, bucket.name
        policy = dev.attached_to("aws:s3/bucketPolicy:BucketPolicy", bucket)
        arn = bucket.outputs["arn"]
        assert any(is_tls_only(s, [arn, f"{arn}/*"]) for s in statements_of(policy.inputs["policy"])), bucket.name


def test_the_archive_bucket_is_versioned_and_tiers_objects_under_the_prefix(dev, tuned):
    for program, prefix, ia, glacier in ((dev, "ddb-changes", 30, 90), (tuned, "changes/v1", 45, 120)):
        bucket = program.one("aws:s3/bucket:Bucket", "archive-archive-bucket")
        versioning = program.attached_to("aws:s3/bucketVersioning:BucketVersioning", bucket)
        assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
        (rule,) = program.attached_to("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket).inputs["rules"]
        assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": prefix}
        assert [(t["days"], t["storageClass"]) for t in rule["transitions"]] == [(ia, "STANDARD_IA"), (glacier, "GLACIER_IR")]
        # Locked for 365 days by default: noncurrent versions are kept as long as the lock holds them.
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 365
        assert "expiration" not in rule  # a current archive object never expires


LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"


@pytest.fixture(scope="module")
def compliance(deploy) -> Run:
    return deploy({"changetrail:archive": {"lockMode": "COMPLIANCE", "retentionDays": 2555, "noncurrentExpirationDays": 3000}})


@pytest.fixture(scope="module")
def unlocked(deploy) -> Run:
    return deploy({"changetrail:archive": {"lockMode": "OFF"}})


def test_every_archive_version_is_locked_by_default_in_governance_mode_for_a_year(dev, target):
    for program in (dev, target):
        bucket = program.one("aws:s3/bucket:Bucket", "archive-archive-bucket")
        lock = program.attached_to(LOCK, bucket)
        assert lock.inputs["objectLockEnabled"] == "Enabled"
        assert lock.inputs["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": 365}
        # Enabled by the configuration, not by the bucket's flag: that flag would replace an existing bucket.
        assert not bucket.inputs.get("objectLockEnabled")
        assert program.attached_to("aws:s3/bucketVersioning:BucketVersioning", bucket)  # S3 locks only versioned buckets


def test_compliance_mode_and_retention_come_from_the_config_and_the_lifecycle_follows(compliance):
    bucket = compliance.one("aws:s3/bucket:Bucket", "archive-archive-bucket")
    assert compliance.attached_to(LOCK, bucket).inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 2555}
    (rule,) = compliance.attached_to(LIFECYCLE, bucket).inputs["rules"]
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 3000


def test_lock_off_leaves_no_lock_and_the_old_lifecycle(unlocked):
    bucket = unlocked.one("aws:s3/bucket:Bucket", "archive-archive-bucket")
    assert not [r for r in unlocked.of_type(LOCK) if r.inputs.get("bucket") == bucket.id]
    (rule,) = unlocked.attached_to(LIFECYCLE, bucket).inputs["rules"]
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30


def test_an_archive_upload_left_incomplete_by_a_crash_is_aborted_by_the_lifecycle_a_day_later(dev):
    """A large change's multipart upload that never completed holds parts but no object: nothing blocks a re-run."""
    bucket = dev.one("aws:s3/bucket:Bucket", "archive-archive-bucket")
    (rule,) = dev.attached_to(LIFECYCLE, bucket).inputs["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {
        "prefix": DEV_CONFIG["changetrail:archive"].get("prefix", "ddb-changes")
    }
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}


def test_only_the_archive_bucket_is_locked(dev):
    assert [r.inputs["bucket"] for r in dev.of_type(LOCK)] == [dev.one("aws:s3/bucket:Bucket", "archive-archive-bucket").id]


def test_the_archive_bucket_refuses_overwrites_and_removals_by_pipeline_principals(dev):
    bucket = dev.one("aws:s3/bucket:Bucket", "archive-archive-bucket")
    policy = dev.attached_to("aws:s3/bucketPolicy:BucketPolicy", bucket).inputs["policy"]
    statements = {s.get("Sid"): s for s in statements_of(policy)}
    objects = f"{bucket.outputs['arn']}/*"
    writer, reader = dev.named("archive-writer-role").outputs["arn"], dev.named("archive-reader-role").outputs["arn"]
    removals = {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention"}
    unconditional = statements["DenyUnconditionalWritesByTheWriter"]
    assert (unconditional["Effect"], unconditional["Action"], unconditional["Resource"]) == ("Deny", "s3:PutObject", objects)
    assert unconditional["Condition"] == {
        "ArnEquals": {"aws:PrincipalArn": writer},
        "Null": {"s3:if-none-match": "true"},
        "Bool": {"s3:ObjectCreationOperation": "true"},
    }, "object-creating requests without If-None-Match: PutObject, CompleteMultipartUpload, CopyObject"
    roles = statements["DenyRemovalByPipelineRoles"]
    assert roles["Effect"] == "Deny" and removals <= set(roles["Action"]) and roles["Resource"] == objects
    assert roles["Condition"] == {"ArnEquals": {"aws:PrincipalArn": [writer, reader]}}
    account = statements["DenyRemovalByThePipelineAccount"]
    assert account["Effect"] == "Deny" and removals <= set(account["Action"])
    assert account["Condition"] == {"StringEquals": {"aws:PrincipalAccount": PIPELINE_ACCOUNT}}
    assert not [s for s in statements.values() if s["Effect"] == "Allow"]  # the bucket policy grants nothing


# -- the archive side: second provider, external, or its own stack ------------------------
def test_the_archive_side_is_created_in_the_archive_account_through_the_second_provider(dev):
    provider = dev.one("pulumi:providers:aws", "archive-account").inputs
    archive = DEV_CONFIG["changetrail:archive"]
    assert json.loads(provider["assumeRoles"])[0]["roleArn"] == archive["deployRoleArn"]
    assert json.loads(provider["allowedAccountIds"]) == [ARCHIVE_ACCOUNT]
    assert provider["region"] == REGION
    inside = archive_side(dev)
    assert {r.typ for r in inside} >= {"aws:s3/bucket:Bucket", "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"}
    assert all(r.provider_name == "archive-account" and r.account == ARCHIVE_ACCOUNT for r in inside)
    outside = [r for r in dev.resources if r.custom and r not in inside and r.typ != "pulumi:providers:aws"]
    assert outside and not [r.name for r in outside if r.provider_name]
    assert dev.outputs["archive_role_arn"] == dev.one("aws:iam/role:Role", "archive-writer-role").outputs["arn"]
    assert dev.outputs["archive_role_arn"].startswith(f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/")


def test_the_archive_writer_trusts_only_the_pipeline_state_machine_role(dev):
    (statement,) = statements_of(dev.one("aws:iam/role:Role", "archive-writer-role").inputs["assumeRolePolicy"])
    workflow_role = dev.one("aws:iam/role:Role", "workflow-role")
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{PIPELINE_ACCOUNT}:root"}
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": workflow_role.outputs["arn"]}}
    assert workflow_role.outputs["arn"] == f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/changetrail-dev-workflow"


def test_an_existing_archive_is_referenced_not_created(external_archive):
    program = external_archive
    assert not program.of_type("changetrail:archive:ArchiveTarget")
    assert not program.of_type("pulumi:providers:aws")
    assert not [r.name for r in program.resources if r.name.startswith("archive")]
    assert program.outputs["archive_bucket_name"] == "acme-audit-archive"
    assert program.outputs["archive_bucket_arn"] == "arn:aws:s3:::acme-audit-archive"
    assert program.outputs["archive_role_arn"] == f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/acme-archive-writer"
    assert program.outputs["archive_reader_role_arn"] == f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/acme-archive-reader"
    archive = json.loads(program.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])["States"]["Archive"]
    assert archive["Credentials"]["RoleArn"] == program.outputs["archive_role_arn"]
    assert archive["Parameters"]["Bucket"] == "acme-audit-archive"


def test_the_archive_target_stack_creates_only_the_archive_side_trusting_the_pipeline_role(target):
    components = {r.typ for r in target.resources if not r.custom}
    assert components == {
        "changetrail:archive:ArchiveTarget",
        "changetrail:storage:SecureBucket",
        "changetrail:encryption:StackKey",
    }
    assert not target.of_type("pulumi:providers:aws")  # the stack's own provider: it runs in the archive account
    kinds = {r.typ for r in target.resources if r.custom}
    assert {k for k in kinds if not k.startswith("aws:s3/")} == {
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:kms/key:Key",
        "aws:kms/alias:Alias",
    }
    (statement,) = statements_of(target.one("aws:iam/role:Role", "archive-writer-role").inputs["assumeRolePolicy"])
    assert statement["Principal"] == {"AWS": "arn:aws:iam::333333333333:root"}
    pipeline_role = "arn:aws:iam::333333333333:role/changetrail-prod-workflow"
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": pipeline_role}}
    assert set(target.outputs) == {
        "archive_bucket_name",
        "archive_role_arn",
        "archive_reader_role_arn",
        "archive_account_id",
        "archive_kms_key_arn",
    }
    assert target.outputs["archive_account_id"] == ARCHIVE_ACCOUNT
    assert target.outputs["archive_role_arn"] == target.one("aws:iam/role:Role", "archive-writer-role").outputs["arn"]
    assert None not in target.outputs.values()


EXISTING_STREAM = "arn:aws:dynamodb:us-east-1:111111111111:table/Configuration/stream/2023-05-01T00:00:00.000"
BRING_YOUR_OWN = {"changetrail:source": {"create": False, "streamArn": EXISTING_STREAM}}


def existing_table(view_type: str) -> RecordingMocks:
    return RecordingMocks(tables={"Configuration": {"streamViewType": view_type, "streamArn": EXISTING_STREAM}})


def test_an_existing_source_table_is_attached_not_created():
    mocks = existing_table("NEW_AND_OLD_IMAGES")
    program = run(BRING_YOUR_OWN, mocks)
    assert [t.name for t in program.of_type("aws:dynamodb/table:Table")] == ["audit-table"]
    assert [c.args["name"] for c in mocks.calls if c.token == "aws:dynamodb/getTable:getTable"] == ["Configuration"]
    assert program.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs["eventSourceArn"] == EXISTING_STREAM
    (read,) = [s for s in program.role_policies()["trigger-producer-role"] if "dynamodb:GetRecords" in s["Action"]]
    assert read["Resource"] == [EXISTING_STREAM]
    assert program.outputs["source_stream_arn"] == EXISTING_STREAM
    assert program.outputs["source_table_arn"].endswith(":table/Configuration")


def test_a_stale_stream_arn_for_an_existing_table_fails_the_run_naming_the_current_one():
    stale = EXISTING_STREAM.replace("2023-05-01", "2022-01-01")
    with pytest.raises(ValueError, match=r"changetrail:source.streamArn is .*2022-01-01.*; fix: set .*2023-05-01"):
        run({"changetrail:source": {"create": False, "streamArn": stale}}, existing_table("NEW_AND_OLD_IMAGES"))


def test_an_existing_table_without_both_images_fails_the_run_with_the_fix():
    with pytest.raises(ValueError, match=r"streams KEYS_ONLY; .*aws dynamodb update-table --table-name Configuration "):
        run(BRING_YOUR_OWN, existing_table("KEYS_ONLY"))


# -- structure and outputs ------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["dev", "external_archive", "target", "provisioned"])
def test_every_resource_is_parented_by_the_component_it_is_named_after(variant, request):
    program: Run = request.getfixturevalue(variant)
    components = {r.urn: r for r in program.resources if not r.custom}
    top_level = []
    for resource in program.resources:
        if resource.parent_type == "pulumi:pulumi:Stack":
            top_level.append(resource)
            assert not resource.custom or resource.typ.startswith("pulumi:providers:"), resource.name
            continue
        parent = components.get(resource.parent_urn)
        assert parent is not None and parent.typ.startswith("changetrail:"), (resource.name, resource.parent_urn)
        # A resource moved under a new component keeps its name, and an alias of where it was.
        assert resource.name.startswith(f"{parent.name}-") or resource.aliases, (resource.name, parent.name)
    for component in components.values():
        assert any(r.parent_urn == component.urn for r in program.resources), f"{component.name} has no children"
    assert top_level


def test_outputs_carry_every_documented_key_and_no_none(dev):
    assert set(dev.outputs) >= OUTPUT_KEYS

    def nones(value: Any, path: str) -> list[str]:
        if isinstance(value, dict):
            return [p for key, item in value.items() for p in nones(item, f"{path}.{key}")]
        return [path] if value in (None, "") else []

    assert nones(dev.outputs, "outputs") == []


def test_outputs_point_at_the_recorded_resources(dev):
    o = dev.outputs
    source = dev.one("aws:dynamodb/table:Table", "source-table").outputs
    assert (o["source_table_name"], o["source_table_arn"], o["source_stream_arn"]) == (
        source["name"],
        source["arn"],
        source["streamArn"],
    )
    assert o["audit_table_arn"] == dev.one("aws:dynamodb/table:Table", "audit-table").outputs["arn"]
    assert o["audit_history_index"] == "byItem"
    assert o["trigger_function_arn"] == dev.one("aws:lambda/function:Function", "trigger-producer-function").outputs["arn"]
    assert o["trigger_function_name"] == "audit_producer"
    assert o["event_source_mapping_uuid"] == dev.one("aws:lambda/eventSourceMapping:EventSourceMapping").outputs["uuid"]
    failures = dev.one("aws:sqs/queue:Queue", "trigger-stream-failures").outputs
    assert (o["stream_failures_queue_url"], o["stream_failures_queue_arn"]) == (failures["url"], failures["arn"])
    dlq = dev.one("aws:sqs/queue:Queue", "workflow-dlq").outputs
    assert (o["dlq_url"], o["dlq_arn"]) == (dlq["url"], dlq["arn"])
    machine = dev.one("aws:sfn/stateMachine:StateMachine").outputs
    assert (o["state_machine_arn"], o["state_machine_name"]) == (machine["arn"], machine["name"])
    assert o["log_group_name"] == dev.one("aws:cloudwatch/logGroup:LogGroup", "workflow-logs").outputs["name"]
    payloads = dev.one("aws:s3/bucket:Bucket", "workflow-payloads-bucket").outputs
    assert (o["payload_bucket_name"], o["payload_bucket_arn"]) == (payloads["bucket"], payloads["arn"])
    assert o["topic_arn"] == dev.one("aws:sns/topic:Topic", "notifications-topic").outputs["arn"]
    archive = dev.one("aws:s3/bucket:Bucket", "archive-archive-bucket").outputs
    assert (o["archive_bucket_name"], o["archive_bucket_arn"]) == (archive["bucket"], archive["arn"])
    assert o["archive_reader_role_arn"] == dev.one("aws:iam/role:Role", "archive-reader-role").outputs["arn"]
    assert (o["stack"], o["region"], o["pipeline_account_id"]) == ("dev", REGION, PIPELINE_ACCOUNT)
    assert (o["archive_account_id"], o["archive_prefix"]) == (ARCHIVE_ACCOUNT, "ddb-changes")


# -- negative controls: the fixture really runs the program, and the checks can fail ---------
def test_a_config_override_changes_the_recorded_inputs(dev, tuned):
    def batch_size(program: Run) -> Any:
        return program.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs["batchSize"]

    assert (batch_size(dev), batch_size(tuned)) == (100, 250)


def test_a_broken_config_makes_the_run_raise():
    with pytest.raises(ConfigError, match=r"^changetrail:trigger\.batchSize must be an integer from 1 to 10000, got 0; fix: "):
        run({"changetrail:trigger": {"batchSize": 0}})


def test_the_recording_mock_answered_the_program():
    mocks = RecordingMocks()
    program = run(None, mocks)
    assert "aws:index/getCallerIdentity:getCallerIdentity" in {call.token for call in mocks.calls}
    assert program.resources is mocks.resources and len(program.of_type("aws:iam/role:Role")) >= 5
    assert program.outputs["pipeline_account_id"] == PIPELINE_ACCOUNT


class FunctionArnLeakingMocks(RecordingMocks):
    """Forgets the Notify function's ARN, as a careless mock would: the definition must then fail the check."""

    def new_resource(self, args):
        resource_id, outputs = super().new_resource(args)
        if args.name == "workflow-notify-function":
            outputs = {key: value for key, value in outputs.items() if key != "arn"}
        return resource_id, outputs


def test_the_rendering_check_catches_an_output_that_resolved_to_nothing():
    program = run(None, FunctionArnLeakingMocks())
    problems = unresolved(program.one("aws:sfn/stateMachine:StateMachine").inputs["definition"])
    assert problems and all("Notify" in problem for problem in problems)
