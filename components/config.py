"""Stack configuration: read once in ``__main__.py``, parsed and validated here into frozen dataclasses.

Every error names the key and says how to fix it, so a wrong value fails ``pulumi preview``
before anything is created.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from components.errors import ConfigError

NAMESPACE = "changetrail"
EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
ACCOUNT_ID = re.compile(r"^\d{12}$")
TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")




@dataclass(frozen=True)
class SourceConfig:
    """The table whose changes are audited."""

    table_name: str = "Configuration"
    hash_key: str = "key"
    range_key: str | None = None
    create: bool = True
    """False: attach to an existing table; ``stream_arn`` is then required."""
    stream_arn: str | None = None


@dataclass(frozen=True)
class AuditConfig:
    table_name: str = "Audit"
    point_in_time_recovery: bool = True
    deletion_protection: bool = False
    capacity_mode: str = "onDemand"
    """provisioned: write capacity (table and index alike) auto scaled between the bounds below; cheaper
    per write under steady load, but the minimum is paid even when nothing changes."""
    min_write_capacity: int = 5
    max_write_capacity: int = 1000
    target_utilization: int = 70
    """Percent of provisioned write capacity the autoscaler keeps consumed."""
    read_capacity: int = 5
    """Fixed (reads are rare: history and restore), for the table and the index each."""

    @property
    def provisioned(self) -> bool:
        return self.capacity_mode == "provisioned"


@dataclass(frozen=True)
class TriggerConfig:
    """The trigger Lambda and its event source mapping."""

    function_name: str = "audit_producer"
    batch_size: int = 100
    batching_window_seconds: int = 1
    maximum_retry_attempts: int = 10
    maximum_record_age_seconds: int = 86400
    bisect_batch_on_error: bool = True
    parallelization_factor: int = 1
    filter_patterns: tuple[str, ...] = ()
    """Event-source-mapping filter patterns, each a JSON string."""
    max_inline_payload_bytes: int = 120_000
    memory_size: int = 256


@dataclass(frozen=True)
class WorkflowConfig:
    log_level: str = "ALL"
    include_execution_data: bool = True
    tracing: bool = True
    log_retention_days: int = 30
    dlq_retention_days: int = 14
    function_memory_size: int = 512


@dataclass(frozen=True)
class NotificationsConfig:
    mode: str = "change"
    event_names: tuple[str, ...] = EVENT_NAMES
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitoringConfig:
    """Operations monitoring: an ops topic, alarms routed to it, and a dashboard."""

    enabled: bool = True
    emails: tuple[str, ...] = ()
    """Each gets an e-mail subscription to the ops topic (AWS asks the recipient to confirm)."""
    iterator_age_ms: int = 60_000
    """Alarm when the trigger lags the stream's newest record by more than this."""
    dlq_age_seconds: int = 3600
    """Alarm when a message has waited in either dead-letter queue longer than this."""


@dataclass(frozen=True)
class RedactionConfig:
    """Top-level attributes whose values never reach audit rows (nor the archive, unless kept)."""

    attributes: tuple[str, ...] = ()
    keep_in_archive: bool = False


@dataclass(frozen=True)
class ArchiveConfig:
    """The archive target in the other account (seed 000's parameters)."""

    account_id: str
    bucket_name: str
    role_name: str
    reader_role_name: str
    region: str
    prefix: str = "ddb-changes"
    create: bool = True
    """True: create the target in-program through a second provider (``deploy_role_arn``)."""
    deploy_role_arn: str | None = None
    transition_to_ia_days: int = 30
    transition_to_glacier_days: int = 90
    noncurrent_expiration_days: int = 30


@dataclass(frozen=True)
class LambdaConfig:
    runtime: str = "python3.12"
    architecture: str = "arm64"
    powertools_layer_arn: str | None = None
    """Defaults to AWS's public Powertools for Python v3 layer for the region and architecture."""


@dataclass(frozen=True)
class PipelineTrust:
    """For an ``archive-target`` stack: which pipeline role may assume the archive role."""

    account_id: str
    role_name: str
    stack: str

    @property
    def prefix(self) -> str:
        return f"changetrail-{self.stack}"


@dataclass(frozen=True)
class Settings:
    stack: str
    region: str
    deployment: str
    source: SourceConfig
    audit: AuditConfig
    trigger: TriggerConfig
    workflow: WorkflowConfig
    notifications: NotificationsConfig
    redaction: RedactionConfig
    archive: ArchiveConfig
    lambdas: LambdaConfig
    monitoring: MonitoringConfig
    pipeline: PipelineTrust | None

    @property
    def prefix(self) -> str:
        return f"changetrail-{self.stack}"

    @property
    def workflow_role_name(self) -> str:
        """Fixed, so the archive target can trust it before the pipeline exists."""
        return workflow_role_name(self.stack)


def workflow_role_name(stack: str) -> str:
    return f"changetrail-{stack}-workflow"


class _Section:
    """Reads one structured config key (``changetrail:<name>``) and reports errors by full key."""

    def __init__(self, name: str, raw: Any, allowed: set[str]) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{NAMESPACE}:{name} must be an object of settings, got {raw!r}; fix: write it as a map of settings, "
                f"e.g. {NAMESPACE}:{name}: {{{sorted(allowed)[0]}: ...}}"
            )
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ConfigError(
                f"{NAMESPACE}:{name}.{unknown[0]} is not a setting; known settings: {', '.join(sorted(allowed))}; "
                "fix: remove it or correct its spelling"
            )
        self.name, self.raw = name, raw

    def key(self, field: str) -> str:
        return f"{NAMESPACE}:{self.name}.{field}"

    def fail(self, field: str, problem: str, fix: str) -> ConfigError:
        return ConfigError(f"{self.key(field)} {problem}; fix: {fix}")

    def string(self, field: str, default: str | None, pattern: re.Pattern[str] | None = None, hint: str = "") -> Any:
        value = self.raw.get(field, default)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern and not pattern.match(value)):
            raise self.fail(field, f"is {value!r}", hint or "set a valid string in Pulumi.<stack>.yaml")
        return value

    def required(self, field: str, pattern: re.Pattern[str] | None, hint: str) -> str:
        if self.raw.get(field) is None:  # absent, or present but empty (`accountId:` in YAML is null)
            raise self.fail(field, "is required", hint)
        return self.string(field, None, pattern, hint)

    def integer(self, field: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(field, default)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(field, f"must be an integer from {low} to {high}, got {value!r}", f"use a value in {low}..{high}")
        return value

    def boolean(self, field: str, default: bool) -> bool:
        value = self.raw.get(field, default)
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise self.fail(field, f"must be true or false, got {value!r}", "write true or false")
        return value

    def choice(self, field: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.raw.get(field, default)
        if value not in choices:
            raise self.fail(field, f"is {value!r}", f"use one of {', '.join(choices)}")
        return value

    def strings(self, field: str, default: tuple[str, ...], check: Callable[[str], bool], hint: str) -> tuple[str, ...]:
        value = self.raw.get(field, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and check(v) for v in value):
            raise self.fail(field, f"is {value!r}", hint)
        return tuple(value)


def _fields(cls: type) -> set[str]:
    return {_camel(name) for name in cls.__dataclass_fields__}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse_source(raw: Any) -> SourceConfig:
    s = _Section("source", raw, _fields(SourceConfig))
    create = s.boolean("create", True)
    stream_arn = s.string(
        "streamArn",
        None,
        re.compile(r"^arn:aws[\w-]*:dynamodb:[\w-]+:\d{12}:table/.+/stream/.+$"),
        "give the table's LatestStreamArn, e.g. arn:aws:dynamodb:us-east-1:111111111111:table/T/stream/2024-01-01T00:00:00.000",
    )
    if not create and not stream_arn:
        raise s.fail("streamArn", "is required when create is false", "give the existing table's stream ARN, or set create: true")
    return SourceConfig(
        table_name=s.string("tableName", SourceConfig.table_name, TABLE_NAME, "3-255 characters of A-Z a-z 0-9 _ . -"),
        hash_key=s.string("hashKey", SourceConfig.hash_key, re.compile(r"^.{1,255}$")),
        range_key=s.string("rangeKey", None, re.compile(r"^.{1,255}$")),
        create=create,
        stream_arn=stream_arn,
    )


def parse_audit(raw: Any) -> AuditConfig:
    s = _Section("audit", raw, _fields(AuditConfig))
    # 40000: DynamoDB's default per-table write quota (table and each index).
    low = s.integer("minWriteCapacity", AuditConfig.min_write_capacity, 1, 40_000)
    high = s.integer("maxWriteCapacity", AuditConfig.max_write_capacity, 1, 40_000)
    if high < low:
        raise s.fail(
            "maxWriteCapacity",
            f"is {high}, below {s.key('minWriteCapacity')} ({low})",
            f"raise maxWriteCapacity to at least {low}, or lower minWriteCapacity",
        )
    return AuditConfig(
        table_name=s.string("tableName", AuditConfig.table_name, TABLE_NAME, "3-255 characters of A-Z a-z 0-9 _ . -"),
        point_in_time_recovery=s.boolean("pointInTimeRecovery", True),
        deletion_protection=s.boolean("deletionProtection", False),
        capacity_mode=s.choice("capacityMode", AuditConfig.capacity_mode, ("onDemand", "provisioned")),
        min_write_capacity=low,
        max_write_capacity=high,
        # The range AWS accepts for DynamoDB target tracking.
        target_utilization=s.integer("targetUtilization", AuditConfig.target_utilization, 20, 90),
        read_capacity=s.integer("readCapacity", AuditConfig.read_capacity, 1, 40_000),
    )


def parse_trigger(raw: Any) -> TriggerConfig:
    s = _Section("trigger", raw, _fields(TriggerConfig))
    patterns = s.strings("filterPatterns", (), _is_json_object, 'give a list of JSON strings, e.g. \'{"eventName": ["REMOVE"]}\'')
    return TriggerConfig(
        function_name=s.string("functionName", TriggerConfig.function_name, FUNCTION_NAME, "1-64 characters of A-Z a-z 0-9 _ -"),
        batch_size=s.integer("batchSize", TriggerConfig.batch_size, 1, 10000),
        batching_window_seconds=s.integer("batchingWindowSeconds", TriggerConfig.batching_window_seconds, 0, 300),
        # -1 (infinite) is AWS's default and is refused: a poison record would block its shard for 24 h.
        maximum_retry_attempts=s.integer("maximumRetryAttempts", TriggerConfig.maximum_retry_attempts, 0, 10000),
        maximum_record_age_seconds=s.integer("maximumRecordAgeSeconds", TriggerConfig.maximum_record_age_seconds, 60, 604800),
        bisect_batch_on_error=s.boolean("bisectBatchOnError", True),
        parallelization_factor=s.integer("parallelizationFactor", TriggerConfig.parallelization_factor, 1, 10),
        filter_patterns=patterns,
        max_inline_payload_bytes=s.integer("maxInlinePayloadBytes", TriggerConfig.max_inline_payload_bytes, 4096, 200_000),
        memory_size=s.integer("memorySize", TriggerConfig.memory_size, 128, 10240),
    )


def _is_json_object(text: str) -> bool:
    import json

    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def parse_workflow(raw: Any) -> WorkflowConfig:
    s = _Section("workflow", raw, _fields(WorkflowConfig))
    return WorkflowConfig(
        log_level=s.choice("logLevel", "ALL", ("ALL", "ERROR", "FATAL", "OFF")),
        include_execution_data=s.boolean("includeExecutionData", True),
        tracing=s.boolean("tracing", True),
        log_retention_days=_retention(s, "logRetentionDays", 30),
        dlq_retention_days=s.integer("dlqRetentionDays", 14, 1, 14),
        function_memory_size=s.integer("functionMemorySize", WorkflowConfig.function_memory_size, 128, 10240),
    )


RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def _retention(s: _Section, field: str, default: int) -> int:
    value = s.integer(field, default, 1, 3653)
    if value not in RETENTION_DAYS:
        raise s.fail(field, f"is {value}, which CloudWatch Logs does not offer", f"use one of {RETENTION_DAYS}")
    return value


def parse_notifications(raw: Any) -> NotificationsConfig:
    s = _Section("notifications", raw, _fields(NotificationsConfig))
    return NotificationsConfig(
        mode=s.choice("mode", "change", ("change", "batch", "off")),
        event_names=s.strings("eventNames", EVENT_NAMES, lambda v: v in EVENT_NAMES, f"list some of {', '.join(EVENT_NAMES)}"),
        emails=s.strings("emails", (), lambda v: bool(EMAIL.match(v)), "list e-mail addresses such as ops@example.com"),
    )


def parse_monitoring(raw: Any, workflow: WorkflowConfig) -> MonitoringConfig:
    s = _Section("monitoring", raw, _fields(MonitoringConfig))
    enabled = s.boolean("enabled", True)
    dlq_age = s.integer("dlqAgeSeconds", MonitoringConfig.dlq_age_seconds, 60, 1_209_600)
    retention = workflow.dlq_retention_days * 86400
    if enabled and dlq_age >= retention:
        # SQS deletes a message when its retention ends, so an age alarm at or above it could never fire.
        raise s.fail(
            "dlqAgeSeconds",
            f"is {dlq_age}, not below the DLQ's retention of {retention} s (workflow.dlqRetentionDays), so it could never fire",
            f"use a value below {retention}, or raise changetrail:workflow.dlqRetentionDays",
        )
    return MonitoringConfig(
        enabled=enabled,
        emails=s.strings("emails", (), lambda v: bool(EMAIL.match(v)), "list e-mail addresses such as ops@example.com"),
        # The stream keeps records 24 h: a lag beyond that means records are already lost.
        iterator_age_ms=s.integer("iteratorAgeMs", MonitoringConfig.iterator_age_ms, 1000, 86_400_000),
        dlq_age_seconds=dlq_age,
    )


def parse_redaction(raw: Any, workflow: WorkflowConfig) -> RedactionConfig:
    s = _Section("redaction", raw, _fields(RedactionConfig))
    attributes = s.strings(
        "attributes", (), lambda v: 0 < len(v) <= 255, "list top-level attribute names, e.g. [password, apiKey]"
    )
    if attributes and workflow.include_execution_data and workflow.log_level != "OFF":
        raise s.fail(
            "attributes",
            "is set while workflow.includeExecutionData is true, which would log the raw images",
            "set changetrail:workflow.includeExecutionData to false",
        )
    return RedactionConfig(attributes=attributes, keep_in_archive=s.boolean("keepInArchive", False))


def parse_archive(raw: Any, stack: str, region: str) -> ArchiveConfig:
    s = _Section("archive", raw, _fields(ArchiveConfig))
    account = s.required("accountId", ACCOUNT_ID, "give the 12-digit id of the account that holds the archive bucket")
    archive_region = s.string("region", region, re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$"))
    if archive_region != region:
        # The Archive state's S3 call runs in the state machine's region; S3 answers a bucket in
        # another region with a redirect that Step Functions does not follow.
        raise s.fail(
            "region",
            f"is {archive_region} but the stack deploys to {region}",
            "put the archive bucket in the pipeline's region (aws:region)",
        )
    create = s.boolean("create", True)
    deploy_role = s.string(
        "deployRoleArn",
        None,
        re.compile(r"^arn:aws[\w-]*:iam::\d{12}:role/.+$"),
        "give the ARN of a role in the archive account that Pulumi may assume to deploy there",
    )
    return ArchiveConfig(
        account_id=account,
        bucket_name=s.string(
            "bucketName",
            f"changetrail-archive-{stack}-{account}",
            BUCKET_NAME,
            "3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit",
        ),
        role_name=s.string(
            "roleName", f"changetrail-{stack}-archive-writer", ROLE_NAME, "1-64 characters of A-Z a-z 0-9 +=,.@_-"
        ),
        reader_role_name=s.string(
            "readerRoleName", f"changetrail-{stack}-archive-reader", ROLE_NAME, "1-64 characters of A-Z a-z 0-9 +=,.@_-"
        ),
        region=archive_region,
        prefix=s.string("prefix", "ddb-changes", re.compile(r"^[\w!.*'()/-]{0,200}$")).strip("/"),
        create=create,
        deploy_role_arn=deploy_role,
        transition_to_ia_days=s.integer("transitionToIaDays", 30, 30, 36500),
        transition_to_glacier_days=s.integer("transitionToGlacierDays", 90, 31, 36500),
        noncurrent_expiration_days=s.integer("noncurrentExpirationDays", 30, 1, 36500),
    )


def parse_lambdas(raw: Any) -> LambdaConfig:
    s = _Section("lambda", raw, _fields(LambdaConfig))
    return LambdaConfig(
        runtime=s.choice("runtime", "python3.12", ("python3.12", "python3.13")),
        architecture=s.choice("architecture", "arm64", ("arm64", "x86_64")),
        powertools_layer_arn=s.string(
            "powertoolsLayerArn",
            None,
            re.compile(r"^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:layer:.+:\d+$"),
            "give a full layer version ARN",
        ),
    )


def parse_pipeline(raw: Any) -> PipelineTrust:
    s = _Section("pipeline", raw, {"accountId", "stack"})
    account_id = s.required("accountId", ACCOUNT_ID, "give the 12-digit id of the account that runs the pipeline")
    stack = s.required("stack", re.compile(r"^[\w.-]{1,40}$"), "give the pipeline's stack name, e.g. dev")
    return PipelineTrust(account_id=account_id, role_name=workflow_role_name(stack), stack=stack)


def pulumi_reader(namespace: str = NAMESPACE) -> Callable[[str], Any]:
    """Reads ``namespace:key`` from the stack: objects and lists parsed, plain strings as they are."""
    import pulumi

    config = pulumi.Config(namespace)

    def read(key: str) -> Any:
        try:
            return config.get_object(key)
        except pulumi.ConfigTypeError:
            return config.get(key)

    return read


def load_settings(get: Callable[[str], Any], stack: str, region: str | None) -> Settings:
    """Parse every ``changetrail:*`` key through ``get`` (see ``pulumi_reader``)."""
    if not region:
        raise ConfigError("aws:region is not set; fix: pulumi config set aws:region us-east-1")
    deployment = get("deployment") or "pipeline"
    if deployment not in ("pipeline", "archive-target"):
        raise ConfigError(f"{NAMESPACE}:deployment is {deployment!r}; fix: use pipeline or archive-target")
    archive = parse_archive(get("archive"), stack, region)
    pipeline = parse_pipeline(get("pipeline")) if deployment == "archive-target" else None
    if deployment == "pipeline" and archive.create and archive.deploy_role_arn is None:
        raise ConfigError(
            f"{NAMESPACE}:archive.deployRoleArn is required when archive.create is true; fix: give a role in account "
            f"{archive.account_id} that Pulumi may assume, or set archive.create: false and deploy the archive-target stack there"
        )
    return Settings(
        stack=stack,
        region=region,
        deployment=deployment,
        source=parse_source(get("source")),
        audit=parse_audit(get("audit")),
        trigger=parse_trigger(get("trigger")),
        workflow=parse_workflow(get("workflow")),
        notifications=parse_notifications(get("notifications")),
        redaction=parse_redaction(get("redaction"), parse_workflow(get("workflow"))),
        archive=archive,
        lambdas=parse_lambdas(get("lambda")),
        monitoring=parse_monitoring(get("monitoring"), parse_workflow(get("workflow"))),
        pipeline=pipeline,
    )
