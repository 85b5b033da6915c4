"""Stack config validation: a wrong or missing value fails before anything is created, naming the key and the fix."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from changetrail.embedded.program import run_program
from components.config import ConfigError, load_settings
from components.source_table import check_view_type
from tests.infra.conftest import (
    ARCHIVE_ACCOUNT,
    DEV_CONFIG,
    PIPELINE_ACCOUNT,
    REGION,
    REMOVE,
    STACK,
    RecordingMocks,
    run,
    with_overrides,
)

MINIMAL = {"archive": {"accountId": ARCHIVE_ACCOUNT, "deployRoleArn": f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/deploy"}}
"""The least a pipeline stack must set: where the archive lives and how to deploy there."""


def settings(overrides: dict[str, Any] | None = None, region: str | None = REGION) -> Any:
    """``load_settings`` over ``changetrail:*`` keys given without the namespace."""
    config = with_overrides(MINIMAL, overrides or {})
    return load_settings(config.get, "dev", region)


def stack_settings(config: dict[str, Any]) -> Any:
    """``load_settings`` over a stack's config block, as the program reads it."""
    namespace = "changetrail:"
    return load_settings(lambda key: config.get(namespace + key), "dev", config.get("aws:region"))


# id, overrides, the full key the message must start with, what the message must then say
WRONG = [
    ("batch-size-text", {"trigger": {"batchSize": "abc"}}, "trigger.batchSize", r"integer from 1 to 10000, got 'abc'"),
    ("batch-size-fraction", {"trigger": {"batchSize": 2.5}}, "trigger.batchSize", r"must be an integer .* got 2\.5"),
    ("batch-size-bool", {"trigger": {"batchSize": True}}, "trigger.batchSize", r"must be an integer .* got True"),
    ("batch-size-low", {"trigger": {"batchSize": 0}}, "trigger.batchSize", r"from 1 to 10000, got 0"),
    ("batch-size-high", {"trigger": {"batchSize": 10001}}, "trigger.batchSize", r"from 1 to 10000, got 10001"),
    ("window", {"trigger": {"batchingWindowSeconds": 301}}, "trigger.batchingWindowSeconds", r"from 0 to 300"),
    ("infinite-retries", {"trigger": {"maximumRetryAttempts": -1}}, "trigger.maximumRetryAttempts", r"0 to 10000, got -1"),
    ("infinite-age", {"trigger": {"maximumRecordAgeSeconds": -1}}, "trigger.maximumRecordAgeSeconds", r"60 to 604800"),
    ("parallelization", {"trigger": {"parallelizationFactor": 11}}, "trigger.parallelizationFactor", r"1 to 10, got 11"),
    ("boolean", {"trigger": {"bisectBatchOnError": "yes"}}, "trigger.bisectBatchOnError", r"must be true or false"),
    ("unknown-key", {"trigger": {"batchsize": 5}}, "trigger.batchsize", r"not a setting; known settings: .*batchSize"),
    ("unknown-archive-key", {"archive": {"bucket": "x"}}, "archive.bucket", r"is not a setting"),
    ("section-not-object", {"trigger": "100"}, "trigger", r"must be an object of settings"),
    ("filter-not-json", {"trigger": {"filterPatterns": ["{not json"]}}, "trigger.filterPatterns", r"is \['\{not json'\]"),
    ("filter-not-object", {"trigger": {"filterPatterns": ['["REMOVE"]']}}, "trigger.filterPatterns", r"JSON strings"),
    ("filter-not-list", {"trigger": {"filterPatterns": '{"eventName": ["REMOVE"]}'}}, "trigger.filterPatterns", r"list"),
    ("account-missing", {"archive": {"accountId": REMOVE}}, "archive.accountId", r"is required"),
    ("account-empty", {"archive": {"accountId": None, "bucketName": "b-b-b"}}, "archive.accountId", r"is required"),
    ("account-short", {"archive": {"accountId": "12"}}, "archive.accountId", r"is '12'.*12-digit"),
    ("deploy-role", {"archive": {"deployRoleArn": REMOVE}}, "archive.deployRoleArn", r"required when archive\.create is true"),
    ("deploy-role-arn", {"archive": {"deployRoleArn": "OrganizationAccountAccessRole"}}, "archive.deployRoleArn", r"is 'Org"),
    ("region", {"archive": {"region": "eu-west-1"}}, "archive.region", r"is eu-west-1 but the stack deploys to us-east-1"),
    ("bucket-name", {"archive": {"bucketName": "Archive_Bucket"}}, "archive.bucketName", r"3-63 characters"),
    ("glacier-days", {"archive": {"transitionToGlacierDays": 30}}, "archive.transitionToGlacierDays", r"from 31"),
    ("lock-mode", {"archive": {"lockMode": "LEGAL"}}, "archive.lockMode", r"is 'LEGAL'.*GOVERNANCE, COMPLIANCE, OFF"),
    ("retention-days", {"archive": {"retentionDays": 0}}, "archive.retentionDays", r"from 1 to 36500, got 0"),
    ("noncurrent-text", {"archive": {"noncurrentExpirationDays": "x"}}, "archive.noncurrentExpirationDays", r"1 to 36500"),
    (
        "noncurrent-under-lock",
        {"archive": {"noncurrentExpirationDays": 30}},
        "archive.noncurrentExpirationDays",
        r"is 30, shorter than archive\.retentionDays \(365\) while archive\.lockMode is GOVERNANCE.*raise it to at least 365",
    ),
    ("mode", {"notifications": {"mode": "sometimes"}}, "notifications.mode", r"is 'sometimes'.*change, batch, off"),
    ("email", {"notifications": {"emails": ["not-an-address"]}}, "notifications.emails", r"e-mail"),
    ("email-not-list", {"notifications": {"emails": "ops@example.com"}}, "notifications.emails", r"e-mail"),
    ("event", {"notifications": {"eventNames": ["UPDATE"]}}, "notifications.eventNames", r"INSERT, MODIFY, REMOVE"),
    ("byo-no-stream", {"source": {"create": False}}, "source.streamArn", r"is required when create is false"),
    ("byo-bad-stream", {"source": {"create": False, "streamArn": "Configuration"}}, "source.streamArn", r"LatestStreamArn"),
    ("table-name", {"source": {"tableName": "ab"}}, "source.tableName", r"3-255 characters"),
    ("deployment", {"deployment": "both"}, "deployment", r"is 'both'.*pipeline or archive-target"),
    ("target-without-pipeline", {"deployment": "archive-target"}, "pipeline.accountId", r"is required"),
    ("retention", {"workflow": {"logRetentionDays": 2}}, "workflow.logRetentionDays", r"CloudWatch Logs does not offer"),
    ("retention-high", {"workflow": {"logRetentionDays": 4000}}, "workflow.logRetentionDays", r"from 1 to 3653"),
    ("log-level", {"workflow": {"logLevel": "DEBUG"}}, "workflow.logLevel", r"ALL, ERROR, FATAL, OFF"),
    ("dlq-retention", {"workflow": {"dlqRetentionDays": 15}}, "workflow.dlqRetentionDays", r"from 1 to 14"),
    ("runtime", {"lambda": {"runtime": "python3.9"}}, "lambda.runtime", r"python3\.12"),
    (
        "redaction-logged",
        {"redaction": {"attributes": ["password"]}, "workflow": {"includeExecutionData": True}},
        "redaction.attributes",
        r"includeExecutionData",
    ),
    ("capacity-mode", {"audit": {"capacityMode": "fixed"}}, "audit.capacityMode", r"is 'fixed'.*onDemand, provisioned"),
    (
        "capacity-bounds",
        {"audit": {"minWriteCapacity": 50, "maxWriteCapacity": 10}},
        "audit.maxWriteCapacity",
        r"is 10, below changetrail:audit\.minWriteCapacity \(50\).*raise maxWriteCapacity",
    ),
    ("capacity-min", {"audit": {"minWriteCapacity": 0}}, "audit.minWriteCapacity", r"from 1 to 40000, got 0"),
    ("capacity-max", {"audit": {"maxWriteCapacity": 40001}}, "audit.maxWriteCapacity", r"from 1 to 40000, got 40001"),
    ("utilization-low", {"audit": {"targetUtilization": 10}}, "audit.targetUtilization", r"from 20 to 90, got 10"),
    ("utilization-high", {"audit": {"targetUtilization": 95}}, "audit.targetUtilization", r"from 20 to 90, got 95"),
    ("read-capacity", {"audit": {"readCapacity": 0}}, "audit.readCapacity", r"from 1 to 40000, got 0"),
]


@pytest.mark.parametrize(("overrides", "key", "detail"), [pytest.param(*row[1:], id=row[0]) for row in WRONG])
def test_a_wrong_value_fails_naming_the_full_key_and_the_fix(overrides, key, detail):
    with pytest.raises(ConfigError) as raised:
        settings(overrides)
    message = str(raised.value)
    assert message.startswith(f"changetrail:{key} "), message
    assert re.search(detail, message), message
    assert "; fix: " in message and message.split("; fix: ")[-1].strip(), message


def test_a_missing_region_fails_naming_aws_region():
    with pytest.raises(ConfigError, match=r"^aws:region is not set; fix: pulumi config set aws:region "):
        settings(region=None)


def test_values_are_read_as_yaml_and_the_cli_write_them():
    s = settings({"trigger": {"batchSize": "250", "batchingWindowSeconds": 5.0, "bisectBatchOnError": "true"}})
    assert (s.trigger.batch_size, s.trigger.batching_window_seconds, s.trigger.bisect_batch_on_error) == (250, 5, True)


def test_defaults_reproduce_the_seed_names():
    s = settings()
    assert (s.source.table_name, s.source.hash_key, s.source.range_key) == ("Configuration", "key", None)
    assert s.audit.table_name == "Audit" and s.trigger.function_name == "audit_producer"
    assert (s.audit.capacity_mode, s.audit.provisioned) == ("onDemand", False)
    assert (s.audit.min_write_capacity, s.audit.max_write_capacity, s.audit.target_utilization) == (5, 1000, 70)
    assert s.deployment == "pipeline" and s.pipeline is None
    assert s.workflow_role_name == "changetrail-dev-workflow"
    assert (s.archive.bucket_name, s.archive.role_name, s.archive.prefix) == (
        f"changetrail-archive-dev-{ARCHIVE_ACCOUNT}",
        "changetrail-dev-archive-writer",
        "ddb-changes",
    )


def test_the_archive_is_locked_for_a_year_in_governance_mode_unless_configured():
    archive = settings().archive
    assert (archive.lock_mode, archive.retention_days, archive.locked, archive.noncurrent_days) == ("GOVERNANCE", 365, True, 365)
    unlocked = settings({"archive": {"lockMode": "OFF", "noncurrentExpirationDays": 30}}).archive
    assert (unlocked.locked, unlocked.noncurrent_days) == (False, 30)
    assert settings({"archive": {"lockMode": "OFF"}}).archive.noncurrent_days == 30
    longer = settings({"archive": {"retentionDays": "10", "noncurrentExpirationDays": "10"}}).archive
    assert (longer.retention_days, longer.noncurrent_days) == (10, 10)


def test_the_dev_stack_file_spells_out_exactly_the_defaults():
    """``Pulumi.dev.yaml`` says it shows every setting with its default: it must not drift from the code."""
    from_file, defaults = stack_settings(DEV_CONFIG), settings()
    for section in dataclasses.fields(from_file):
        if section.name not in ("archive", "pipeline"):
            assert getattr(from_file, section.name) == getattr(defaults, section.name), section.name


def test_an_archive_target_stack_trusts_the_pipeline_stacks_workflow_role():
    s = settings({"deployment": "archive-target", "pipeline": {"accountId": "333333333333", "stack": "prod"}})
    assert (s.pipeline.account_id, s.pipeline.role_name) == ("333333333333", "changetrail-prod-workflow")


def test_an_external_archive_needs_no_deploy_role():
    s = settings({"archive": {"create": False, "deployRoleArn": REMOVE}})
    assert s.archive.create is False and s.archive.deploy_role_arn is None


# -- through the program: __main__.py validates before it creates anything ------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"changetrail:trigger": {"batchSize": "abc"}}, r"^changetrail:trigger\.batchSize must be an integer"),
        ({"changetrail:archive": {"deployRoleArn": REMOVE}}, r"^changetrail:archive\.deployRoleArn is required"),
        ({"changetrail:archive": {"accountId": REMOVE}}, r"^changetrail:archive\.accountId is required; fix: "),
        ({"changetrail:deployment": "both"}, r"^changetrail:deployment is 'both'; fix: "),
        ({"changetrail:notifications": {"emails": ["nobody"]}}, r"^changetrail:notifications\.emails is \['nobody'\]; fix: "),
        ({"changetrail:audit": {"capacityMode": "reserved"}}, r"^changetrail:audit\.capacityMode is 'reserved'; fix: "),
    ],
)
def test_the_program_refuses_a_wrong_stack_config(overrides, message):
    with pytest.raises(ConfigError, match=message):
        run(overrides)


# -- an existing source table must stream both images ------------------------------------
@pytest.mark.parametrize("view_type", ["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", None])
def test_an_existing_stream_without_both_images_is_refused_with_the_fix_command(view_type):
    with pytest.raises(ValueError) as raised:
        check_view_type("Configuration", view_type)
    message = str(raised.value)
    assert f"streams {view_type or 'nothing'}" in message
    assert message.endswith(
        "aws dynamodb update-table --table-name Configuration "
        "--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"
    )


def test_a_stream_with_both_images_is_accepted():
    assert check_view_type("Configuration", "NEW_AND_OLD_IMAGES") == "NEW_AND_OLD_IMAGES"


# -- mistakes that used to pass: each is one line naming the key and the fix -----------------
KNOWN_KEYS = (
    "archive, audit, deployment, lambda, monitoring, notifications, pipeline, redaction, source, sources, trigger, workflow"
)


def test_a_misspelled_top_level_key_is_refused_with_the_key_it_resembles():
    config = with_overrides(MINIMAL, {"triggr": {"batchSize": 5}})
    with pytest.raises(ConfigError) as raised:
        load_settings(config.get, "dev", REGION, keys=config)
    assert str(raised.value) == (
        f"changetrail:triggr is not a setting; known settings: {KNOWN_KEYS}; fix: correct its spelling to changetrail:trigger, "
        "or remove it"
    )


def test_the_program_refuses_a_misspelled_top_level_key_in_the_stack():
    with pytest.raises(ConfigError, match=r"^changetrail:triggr is not a setting; known settings: archive, audit, .*; fix: "):
        run({"changetrail:triggr": {"batchSize": 5}})


def test_other_namespaces_and_every_known_key_pass_the_key_check():
    config = with_overrides(MINIMAL, {"trigger": {"batchSize": 5}, "deployment": "pipeline"})
    assert load_settings(config.get, "dev", REGION, keys=config).trigger.batch_size == 5
    assert run({"aws:profile": "ops"}).outputs["stack"] == "dev"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"audit": {"tableName": "Configuration"}},
            "changetrail:audit.tableName is 'Configuration', the table being audited (changetrail:source.tableName); "
            "fix: give the Audit table a name of its own, e.g. Audit",
        ),
        (
            {"source": {"tableName": "Audit"}},
            "changetrail:audit.tableName is 'Audit', the table being audited (changetrail:source.tableName); "
            "fix: give the Audit table a name of its own, e.g. Audit",
        ),
        (
            {"source": {"hashKey": "pk", "rangeKey": "pk"}},
            "changetrail:source.rangeKey is 'pk', the same attribute as changetrail:source.hashKey; "
            "fix: give the table's range key attribute, or remove rangeKey if the table has none",
        ),
        (
            {"deployment": "archive-target", "pipeline": {"accountId": ARCHIVE_ACCOUNT, "stack": "dev"}},
            f"changetrail:archive.accountId is '{ARCHIVE_ACCOUNT}', the pipeline's account too (changetrail:pipeline.accountId); "
            "fix: keep the archive in a separate (security or backup) account: give that account's id",
        ),
        (
            {"trigger": {"filterPatterns": ['{"eventName": ["UPDATE"]}']}},
            'changetrail:trigger.filterPatterns has eventName \'UPDATE\' in {"eventName": ["UPDATE"]}, which no stream record '
            'carries; fix: list some of INSERT, MODIFY, REMOVE in eventName, e.g. \'{"eventName": ["INSERT", "MODIFY"]}\'',
        ),
        (
            {"trigger": {"filterPatterns": ['{"eventName": ["REMOVE"]}', '{"eventName": ["insert"]}']}},
            'changetrail:trigger.filterPatterns has eventName \'insert\' in {"eventName": ["insert"]}, which no stream record '
            'carries; fix: list some of INSERT, MODIFY, REMOVE in eventName, e.g. \'{"eventName": ["INSERT", "MODIFY"]}\'',
        ),
        (
            {"trigger": {"filterPatterns": ['{"eventName": "REMOVE"}']}},
            'changetrail:trigger.filterPatterns has eventName \'REMOVE\' in {"eventName": "REMOVE"}, not a list; '
            'fix: write eventName as a list, e.g. \'{"eventName": ["INSERT", "MODIFY"]}\'',
        ),
    ],
    ids=[
        "audit-is-source",
        "source-is-audit",
        "range-is-hash",
        "archive-in-pipeline-account",
        "event-name",
        "lower-case",
        "scalar",
    ],
)
def test_a_setting_that_contradicts_another_is_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as raised:
        settings(overrides)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "pattern",
    [
        '{"eventName": ["INSERT", "MODIFY"]}',
        '{"eventName": [{"anything-but": ["REMOVE"]}]}',
        '{"eventName": ["INSERT", {"prefix": "MOD"}]}',
        '{"dynamodb": {"NewImage": {"status": {"S": ["active"]}}}}',
    ],
)
def test_filter_patterns_may_use_filter_operators_and_other_fields(pattern):
    assert settings({"trigger": {"filterPatterns": [pattern]}}).trigger.filter_patterns == (pattern,)


def test_a_pipeline_stack_archiving_into_its_own_account_is_refused_at_preview_before_anything_is_created():
    # GIVEN a pipeline stack whose archive account is the account it deploys into (the caller identity)
    config = with_overrides(
        DEV_CONFIG,
        {"changetrail:archive": {"accountId": PIPELINE_ACCOUNT, "deployRoleArn": f"arn:aws:iam::{PIPELINE_ACCOUNT}:role/deploy"}},
    )
    mocks = RecordingMocks()
    # WHEN it is previewed, THEN preview fails naming the key and the fix, and nothing was declared
    with pytest.raises(ConfigError) as raised:
        run_program(mocks, STACK, config, preview=True)
    assert str(raised.value) == (
        f"changetrail:archive.accountId is '{PIPELINE_ACCOUNT}', the account this stack deploys the pipeline into; "
        "fix: keep the archive in a separate (security or backup) account: give that account's id, "
        "or deploy with the pipeline account's credentials"
    )
    assert "aws:index/getCallerIdentity:getCallerIdentity" in {call.token for call in mocks.calls}
    assert [r.typ for r in mocks.resources if r.custom] == []


STREAM = "arn:aws:dynamodb:us-east-1:111111111111:table/Configuration/stream/2023-05-01T00:00:00.000"


def existing_table(view_type: str | None) -> RecordingMocks:
    return RecordingMocks(tables={"Configuration": {"streamViewType": view_type, "streamArn": STREAM}})


@pytest.mark.parametrize(("view_type", "replaces"), [("KEYS_ONLY", True), ("NEW_IMAGE", True), (None, False)])
def test_an_attached_table_with_the_wrong_view_type_fails_the_program_with_its_message_alone(view_type, replaces):
    # An error raised inside an apply reaches the user wrapped by every input that depends on it (7 lines, the
    # real one last): the check runs on a plain invoke instead.
    with pytest.raises(ConfigError) as raised:
        run({"changetrail:source": {"create": False, "streamArn": STREAM}}, existing_table(view_type))
    (line,) = str(raised.value).splitlines()
    assert line.startswith(f"changetrail:source.tableName is Configuration, which streams {view_type or 'nothing'}; "), line
    # DynamoDB refuses to enable a stream on a table that already has one: the old one goes first.
    assert ("StreamEnabled=false && aws dynamodb update-table" in line) is replaces, line


def test_a_stale_stream_arn_fails_the_program_with_its_message_alone():
    stale = STREAM.replace("2023-05-01", "2022-01-01")
    with pytest.raises(ConfigError) as raised:
        run({"changetrail:source": {"create": False, "streamArn": stale}}, existing_table("NEW_AND_OLD_IMAGES"))
    assert str(raised.value) == (
        f"changetrail:source.streamArn is {stale}, but table Configuration's current stream is {STREAM}; "
        f"fix: set changetrail:source.streamArn to {STREAM}"
    )
