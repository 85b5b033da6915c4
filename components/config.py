"""Stack configuration: read once in ``__main__.py``, parsed and validated here into frozen dataclasses.

Each setting is declared once, as one field of its section with its default and its kind, e.g.
``batch_size: Annotated[int, Between(1, 10_000)] = 100``; its key is the field name in camelCase
(``changetrail:trigger.batchSize``). Parsing (pydantic) and every error message are derived from
that declaration, so a wrong value fails ``pulumi preview`` before anything is created, with one
line that names the key and says how to fix it.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

from annotated_types import Ge, GroupedMetadata, Le
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from components.errors import ConfigError
from functions.contracts import EventName

NAMESPACE = "changetrail"
"""The Pulumi project's name: the namespace of its config keys, and the first word of every name a stack creates."""
EVENT_NAMES: tuple[EventName, ...] = get_args(EventName)
ACCOUNT_ID = r"^\d{12}$"
TABLE_NAME = r"^[A-Za-z0-9_.-]{3,255}$"
ATTRIBUTE_NAME = r"^.{1,255}$"
BUCKET_NAME = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
FUNCTION_NAME = r"^[A-Za-z0-9_-]{1,64}$"
ROLE_NAME = r"^[\w+=,.@-]{1,64}$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"
STREAM_ARN = r"^arn:aws[\w-]*:dynamodb:[\w-]+:\d{12}:table/.+/stream/.+$"
STREAM_ARN_FIX = (
    "give the table's LatestStreamArn, e.g. arn:aws:dynamodb:us-east-1:111111111111:table/T/stream/2024-01-01T00:00:00.000"
)
MAX_MONITORED_SOURCES = 40
"""Sources one monitored stack may audit. Each source adds five alarms, and the ops topic's policy and its key's
policy name every alarm (CloudWatch may use them for this stack's alarms only). SNS allows a topic policy 30 KB
(https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-language-api-permissions-reference.html), KMS a key
policy 32 KB (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html): with table names
long enough that every alarm name is as long as it gets (the trigger's 64 characters, the queue's 80), 40 sources
fill 27 KB of either, and 46 would pass 30 KB. The dashboard would hold 70 source rows (500 widgets,
``components.dashboard``). ``tests/infra/test_monitoring_sources.py`` measures both."""
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
"""The retention periods CloudWatch Logs offers."""


# -- names: each rule written once -------------------------------------------------------
def stack_prefix(stack: str) -> str:
    """``changetrail-<stack>``: starts the names a stack creates, so stacks in one account never collide."""
    return f"{NAMESPACE}-{stack}"


def workflow_role_name(stack: str) -> str:
    """Fixed, so the archive target can trust it before the pipeline exists."""
    return f"{stack_prefix(stack)}-workflow"


@dataclasses.dataclass(frozen=True)
class SourceNames:
    """What one source's resources are called: the first keeps the names of a stack with one source."""

    component: str
    """The suffix of its Pulumi resource names (``source``/``trigger`` for the first, ``source-Orders`` for another)."""
    trigger_function: str
    failures_queue: str
    trigger_alarms: str
    """Starts the names of its trigger's alarms (``<this>-iterator-age``); its queue's alarms start with the queue's name."""

    @property
    def alarm_names(self) -> tuple[str, ...]:
        """Every alarm one source has, by name: what the ops topic and its key let CloudWatch publish for."""
        trigger = tuple(f"{self.trigger_alarms}-{what}" for what in TRIGGER_ALARMS)
        return trigger + tuple(f"{self.failures_queue}-{what}" for what in QUEUE_ALARMS)


TRIGGER_ALARMS = ("iterator-age", "errors", "throttles")
QUEUE_ALARMS = ("depth", "age")
"""The alarms of one source: its trigger's lag, errors and throttles; its stream-failure queue's depth and age."""


def source_names(stack: str, trigger_function: str, index: int, table: str) -> SourceNames:
    if index == 0:
        # A stack of one source named these before sources existed: they stay, so nothing is replaced.
        prefix = stack_prefix(stack)
        return SourceNames("", trigger_function, f"{prefix}-stream-failures", f"{prefix}-trigger")
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", table)
    if slug != table:  # "orders.v2" and "orders-v2" would otherwise share one function and one queue
        slug = f"{slug}-{hashlib.sha256(table.encode()).hexdigest()[:8]}"
    function = f"{stack_prefix(stack)}-trigger-{slug}"
    if len(function) > 64:  # Lambda's limit; keep the names of two long tables apart
        function = f"{function[:55]}-{hashlib.sha256(table.encode()).hexdigest()[:8]}"
    queue = f"{stack_prefix(stack)}-{slug}-stream-failures"
    if len(queue) > 80:  # SQS's limit
        queue = f"{queue[:71]}-{hashlib.sha256(table.encode()).hexdigest()[:8]}"
    # The function's name is the stack's and the table's, and at most 64 characters: so are its alarms' names.
    return SourceNames(f"-{slug}", function, queue, function)


def source_keys(sources: tuple[SourceConfig, ...]) -> str:
    """Decode's map of table -> key attributes (hash first), as JSON (its ``SOURCE_KEYS``)."""
    return json.dumps({source.table_name: list(source.key_names) for source in sources}, separators=(",", ":"))


def attribute_rules(sources: tuple[SourceConfig, ...]) -> str:
    """Diff's map of table -> attribute rules, as JSON (its ``ATTRIBUTE_RULES``); tables without rules are left out."""
    rules = {
        source.table_name: {"ignore": list(source.ignore_attributes), "audit": list(source.audit_attributes)}
        for source in sources
        if source.ignore_attributes or source.audit_attributes
    }
    return json.dumps(rules, separators=(",", ":"))


ENVIRONMENT_BYTES = 4096
"""Lambda allows a function 4 KB of environment variables, all of them together
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."""
SOURCES_ENVIRONMENT_BYTES = ENVIRONMENT_BYTES - 1024
"""What Decode's ``SOURCE_KEYS`` and Diff's ``ATTRIBUTE_RULES`` may take: their other variables (bucket, prefix, log
level) stay under 1 KB."""


def archive_names(stack: str, account_id: str | None) -> dict[str, str]:
    """The archive side's names unless the stack sets them, by config key (the bucket needs the account)."""
    names = {"roleName": f"{stack_prefix(stack)}-archive-writer", "readerRoleName": f"{stack_prefix(stack)}-archive-reader"}
    if account_id is not None:
        names["bucketName"] = f"{NAMESPACE}-archive-{stack}-{account_id}"
    return names


# -- kinds of setting: how a value is read, and what the error says ------------------------
def _whole_number(value: Any) -> Any:
    """YAML may write ``5.0`` and ``pulumi config set`` writes ``"5"``: both mean 5 (``2.5``, ``"abc"``, ``true`` do not)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def _true_or_false(value: Any) -> Any:
    """``pulumi config set`` writes ``"true"``; pydantic's own reading would also take ``yes``, ``on`` and ``1``."""
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@dataclasses.dataclass(frozen=True)
class Between(GroupedMetadata):
    """An integer setting from ``low`` to ``high``."""

    low: int
    high: int

    def __iter__(self) -> Iterator[object]:
        yield BeforeValidator(_whole_number)
        yield Strict()
        yield Ge(self.low)
        yield Le(self.high)

    def explain(self, value: Any) -> tuple[str, str]:
        return f"must be an integer from {self.low} to {self.high}, got {value!r}", f"use a value in {self.low}..{self.high}"


@dataclasses.dataclass(frozen=True)
class TrueOrFalse(GroupedMetadata):
    """A boolean setting."""

    def __iter__(self) -> Iterator[object]:
        yield BeforeValidator(_true_or_false)
        yield Strict()

    def explain(self, value: Any) -> tuple[str, str]:
        return f"must be true or false, got {value!r}", "write true or false"


@dataclasses.dataclass(frozen=True)
class Fix:
    """What to do about a wrong value, where the kind of setting cannot say it."""

    text: str

    def explain(self, value: Any) -> tuple[str, str]:
        return f"is {value!r}", self.text


@dataclasses.dataclass(frozen=True)
class Text(GroupedMetadata):
    """A string setting matching ``pattern``; ``fix`` describes a valid one."""

    pattern: str
    fix: str = "set a valid string in Pulumi.<stack>.yaml"

    def __iter__(self) -> Iterator[object]:
        yield Strict()
        yield from StringConstraints(pattern=self.pattern)

    def explain(self, value: Any) -> tuple[str, str]:
        return f"is {value!r}", self.fix


def _invalid(setting: str, problem: str, fix: str) -> PydanticCustomError:
    """A check across settings failed; ``setting`` is the key it blames, relative to where the check is declared."""
    return PydanticCustomError("config", "{problem}; fix: {fix}", {"setting": setting, "problem": problem, "fix": fix})


def _key(path: str) -> str:
    return f"{NAMESPACE}:{path}"


def _filter_pattern(text: str) -> str:
    """An event source mapping filter: a JSON object whose ``eventName``, if any, lists event names."""
    try:
        pattern = json.loads(text)
    except ValueError:
        pattern = None
    if not isinstance(pattern, dict):
        raise ValueError("not a JSON object")
    names = pattern.get("eventName", [])
    example = 'e.g. \'{"eventName": ["INSERT", "MODIFY"]}\''
    if not isinstance(names, list):
        raise _invalid("", f"has eventName {names!r} in {text}, not a list", f"write eventName as a list, {example}")
    # Filter operators such as {"anything-but": [...]} are objects; only plain values name events.
    wrong = [name for name in names if not isinstance(name, dict) and name not in EVENT_NAMES]
    if wrong:
        raise _invalid(
            "",
            f"has eventName {wrong[0]!r} in {text}, which no stream record carries",
            f"list some of {', '.join(EVENT_NAMES)} in eventName, {example}",
        )
    return text


def _without_slashes(prefix: str) -> str:
    return prefix.strip("/")


def _offered_retention(days: int) -> int:
    if days not in RETENTION_DAYS:
        raise _invalid("", f"is {days}, which CloudWatch Logs does not offer", f"use one of {RETENTION_DAYS}")
    return days


Flag = Annotated[bool, TrueOrFalse()]
ATTRIBUTE = Text(ATTRIBUTE_NAME, "give an attribute name of 1-255 characters")
TableName = Annotated[str, Text(TABLE_NAME, "3-255 characters of A-Z a-z 0-9 _ . -")]
RoleName = Annotated[str, Text(ROLE_NAME, "1-64 characters of A-Z a-z 0-9 +=,.@_-")]
Emails = Annotated[
    tuple[Annotated[str, StringConstraints(pattern=EMAIL)], ...], Fix("list e-mail addresses such as ops@example.com")
]

SECTION = ConfigDict(
    extra="forbid",
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    # Python's re, as before: the default Rust engine took 0.3 s of every preview to compile these patterns.
    regex_engine="python-re",
)
"""A section's keys are its fields in camelCase, and no others; code may also build one by field name."""


# -- the sections ---------------------------------------------------------------------------
FilterPatterns = Annotated[
    tuple[Annotated[str, AfterValidator(_filter_pattern)], ...],
    Fix('give a list of JSON strings, e.g. \'{"eventName": ["REMOVE"]}\''),
]
AttributeNames = Annotated[
    tuple[Annotated[str, StringConstraints(pattern=ATTRIBUTE_NAME)], ...],
    Fix("list top-level attribute names, e.g. [updatedAt, lastSeen]"),
]


@dataclass(frozen=True, config=SECTION)
class SourceConfig:
    """A table whose changes are audited."""

    table_name: TableName = "Configuration"
    hash_key: Annotated[str, ATTRIBUTE] = "key"
    range_key: Annotated[str | None, ATTRIBUTE] = None
    create: Flag = True
    """False: attach to an existing table; ``stream_arn`` is then required."""
    stream_arn: Annotated[str | None, Text(STREAM_ARN, STREAM_ARN_FIX)] = None
    filter_patterns: FilterPatterns | None = None
    """Event-source-mapping filter patterns, each a JSON string; unset: ``trigger.filterPatterns``."""
    ignore_attributes: AttributeNames = ()
    """A change of only these attributes is not audited, archived or announced; they never get a row."""
    audit_attributes: AttributeNames = ()
    """Only these attributes get rows when an item is modified (empty: every attribute)."""

    @property
    def key_names(self) -> tuple[str, ...]:
        return (self.hash_key, self.range_key) if self.range_key else (self.hash_key,)

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        if not self.create and not self.stream_arn:
            raise _invalid(
                "streamArn", "is required when create is false", "give the existing table's stream ARN, or set create: true"
            )
        if self.ignore_attributes and self.audit_attributes:
            raise _invalid(
                "auditAttributes",
                "is set beside ignoreAttributes, which it already implies",
                "keep one of them: auditAttributes (only these) or ignoreAttributes (all but these)",
            )
        for rule in ("ignoreAttributes", "auditAttributes"):
            names = self.ignore_attributes if rule == "ignoreAttributes" else self.audit_attributes
            keys = [name for name in names if name in self.key_names]
            if keys:
                raise _invalid(
                    rule, f"names the key attribute {keys[0]!r}", "leave the key out: a change's key is always audited"
                )
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise _invalid(rule, f"names {repeated[0]!r} twice", "name each attribute once")
        return self


@dataclass(frozen=True, config=SECTION)
class AuditConfig:
    table_name: TableName = "Audit"
    point_in_time_recovery: Flag = True
    deletion_protection: Flag = False
    capacity_mode: Literal["onDemand", "provisioned"] = "onDemand"
    """provisioned: write capacity (table and index alike) auto scaled between the bounds below; cheaper
    per write under steady load, but the minimum is paid even when nothing changes."""
    # 40000: DynamoDB's default per-table write quota (table and each index).
    min_write_capacity: Annotated[int, Between(1, 40_000)] = 5
    max_write_capacity: Annotated[int, Between(1, 40_000)] = 1000
    target_utilization: Annotated[int, Between(20, 90)] = 70  # the range AWS accepts for DynamoDB target tracking
    """Percent of provisioned write capacity the autoscaler keeps consumed."""
    read_capacity: Annotated[int, Between(1, 40_000)] = 5
    """Fixed (reads are rare: history and restore), for the table and the index each."""

    @property
    def provisioned(self) -> bool:
        return self.capacity_mode == "provisioned"

    @model_validator(mode="after")
    def _bounds_in_order(self) -> AuditConfig:
        low, high = self.min_write_capacity, self.max_write_capacity
        if high < low:
            raise _invalid(
                "maxWriteCapacity",
                f"is {high}, below {_key('audit.minWriteCapacity')} ({low})",
                f"raise maxWriteCapacity to at least {low}, or lower minWriteCapacity",
            )
        return self


@dataclass(frozen=True, config=SECTION)
class TriggerConfig:
    """The trigger Lambda and its event source mapping."""

    function_name: Annotated[str, Text(FUNCTION_NAME, "1-64 characters of A-Z a-z 0-9 _ -")] = "audit_producer"
    batch_size: Annotated[int, Between(1, 10_000)] = 100
    batching_window_seconds: Annotated[int, Between(0, 300)] = 1
    # -1 (infinite) is AWS's default and is refused: a poison record would block its shard for 24 h.
    maximum_retry_attempts: Annotated[int, Between(0, 10_000)] = 10
    maximum_record_age_seconds: Annotated[int, Between(60, 604_800)] = 86400
    bisect_batch_on_error: Flag = True
    parallelization_factor: Annotated[int, Between(1, 10)] = 1
    filter_patterns: FilterPatterns = ()
    """Event-source-mapping filter patterns, each a JSON string, for every source that sets none of its own."""
    max_inline_payload_bytes: Annotated[int, Between(4096, 200_000)] = 160_000
    memory_size: Annotated[int, Between(128, 10240)] = 256


@dataclass(frozen=True, config=SECTION)
class WorkflowConfig:
    log_level: Literal["ALL", "ERROR", "FATAL", "OFF"] = "ALL"
    include_execution_data: Flag = False
    tracing: Flag = True
    log_retention_days: Annotated[int, Between(1, 3653), AfterValidator(_offered_retention)] = 30
    dlq_retention_days: Annotated[int, Between(1, 14)] = 14
    function_memory_size: Annotated[int, Between(128, 10240)] = 512


@dataclass(frozen=True, config=SECTION)
class NotificationsConfig:
    mode: Literal["change", "batch", "off"] = "change"
    event_names: tuple[EventName, ...] = EVENT_NAMES
    emails: Emails = ()


@dataclass(frozen=True, config=SECTION)
class MonitoringConfig:
    """Operations monitoring: an ops topic, alarms routed to it, and a dashboard."""

    enabled: Flag = True
    emails: Emails = ()
    """Each gets an e-mail subscription to the ops topic (AWS asks the recipient to confirm)."""
    # The stream keeps records 24 h: a lag beyond that means records are already lost.
    iterator_age_ms: Annotated[int, Between(1000, 86_400_000)] = 60_000
    """Alarm when the trigger lags the stream's newest record by more than this."""
    dlq_age_seconds: Annotated[int, Between(60, 1_209_600)] = 3600
    """Alarm when a message has waited in either dead-letter queue longer than this."""


@dataclass(frozen=True, config=SECTION)
class RedactionConfig:
    """Top-level attributes whose values never reach audit rows (nor the archive, unless kept)."""

    attributes: Annotated[
        tuple[Annotated[str, StringConstraints(min_length=1, max_length=255)], ...],
        Fix("list top-level attribute names, e.g. [password, apiKey]"),
    ] = ()
    keep_in_archive: Flag = False


@dataclass(frozen=True, config=SECTION)
class ArchiveConfig:
    """The archive target in the other account (bucket, role and account). Names default by ``archive_names``."""

    account_id: Annotated[str, Text(ACCOUNT_ID, "give the 12-digit id of the account that holds the archive bucket")]
    bucket_name: Annotated[str, Text(BUCKET_NAME, "3-63 characters of a-z 0-9 . -, starting and ending with a letter or digit")]
    role_name: RoleName
    reader_role_name: RoleName
    region: Annotated[str, Text(REGION, "give an AWS region such as us-east-1")]
    """Defaults to the stack's ``aws:region``, the only one it may be."""
    prefix: Annotated[
        str,
        Text(r"^[\w!.*'()/-]{0,200}$", "up to 200 characters of A-Z a-z 0-9 _ ! . * ' ( ) / -"),
        AfterValidator(_without_slashes),
    ] = "ddb-changes"
    create: Flag = True
    """True: create the target in-program through a second provider (``deploy_role_arn``)."""
    deploy_role_arn: Annotated[
        str | None,
        Text(
            r"^arn:aws[\w-]*:iam::\d{12}:role/.+$",
            "give the ARN of a role in the archive account that Pulumi may assume to deploy there",
        ),
    ] = None
    transition_to_ia_days: Annotated[int, Between(30, 36500)] = 30
    transition_to_glacier_days: Annotated[int, Between(31, 36500)] = 90
    noncurrent_expiration_days: Annotated[int, Between(1, 36500)] | None = None
    """Unset: 30 days without a lock, ``retention_days`` with one (a lifecycle rule must never try to remove a
    version the lock still holds)."""
    lock_mode: Literal["GOVERNANCE", "COMPLIANCE", "OFF"] = "GOVERNANCE"
    """S3 Object Lock default retention of every archive object: GOVERNANCE (only a principal granted
    s3:BypassGovernanceRetention may remove a version early), COMPLIANCE (nobody may, not even the account root), OFF."""
    retention_days: Annotated[int, Between(1, 36500)] = 365
    """How long each archive object version is locked after it is written."""

    @property
    def locked(self) -> bool:
        return self.lock_mode != "OFF"

    @property
    def noncurrent_days(self) -> int:
        """Days a noncurrent version is kept: never shorter than the lock, so the lifecycle never fights it."""
        if self.noncurrent_expiration_days is not None:
            return self.noncurrent_expiration_days
        return self.retention_days if self.locked else 30

    @model_validator(mode="after")
    def _lifecycle_within_lock(self) -> ArchiveConfig:
        days = self.noncurrent_expiration_days
        if self.locked and days is not None and days < self.retention_days:
            raise _invalid(
                "noncurrentExpirationDays",
                f"is {days}, shorter than archive.retentionDays ({self.retention_days}) while archive.lockMode is "
                f"{self.lock_mode}: the lifecycle would try to remove versions the lock still holds",
                f"raise it to at least {self.retention_days}, or remove it (it then follows retentionDays)",
            )
        return self


@dataclass(frozen=True, config=SECTION)
class LambdaConfig:
    runtime: Literal["python3.12", "python3.13"] = "python3.12"
    architecture: Literal["arm64", "x86_64"] = "arm64"
    powertools_layer_arn: Annotated[
        str | None, Text(r"^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:layer:.+:\d+$", "give a full layer version ARN")
    ] = None
    """Defaults to AWS's public Powertools for Python v3 layer for the region and architecture."""


@dataclass(frozen=True, config=SECTION)
class PipelineTrust:
    """For an ``archive-target`` stack: which pipeline role may assume the archive role."""

    account_id: Annotated[str, Text(ACCOUNT_ID, "give the 12-digit id of the account that runs the pipeline")]
    stack: Annotated[str, Text(r"^[\w.-]{1,40}$", "give the pipeline's stack name, e.g. dev")]

    @property
    def prefix(self) -> str:
        return stack_prefix(self.stack)

    @property
    def role_name(self) -> str:
        return workflow_role_name(self.stack)


def _same_account(account_id: str, whose: str) -> tuple[str, str]:
    """The archive is the evidence: in the pipeline's own account, whoever can change the pipeline can change it."""
    return f"is {account_id!r}, {whose}", "keep the archive in a separate (security or backup) account: give that account's id"


@dataclass(frozen=True, config=SECTION, kw_only=True)
class Settings:
    """Every ``changetrail:*`` key of a stack, parsed; ``stack`` and ``region`` come from Pulumi."""

    stack: str
    region: str
    deployment: Annotated[Literal["pipeline", "archive-target"], Fix("use pipeline or archive-target")] = "pipeline"
    source: SourceConfig | None = None
    """One audited table: read as ``sources`` of one."""
    sources: Annotated[tuple[SourceConfig, ...], Fix("list the audited tables, each a map of source settings")] = ()
    """The audited tables; the first keeps the resource names a stack of one source has."""
    audit: AuditConfig
    trigger: TriggerConfig
    workflow: WorkflowConfig
    notifications: NotificationsConfig
    redaction: RedactionConfig
    archive: ArchiveConfig
    lambdas: LambdaConfig = Field(alias="lambda")
    monitoring: MonitoringConfig
    pipeline: PipelineTrust | None = None
    """Read only by an ``archive-target`` stack."""

    @property
    def prefix(self) -> str:
        return stack_prefix(self.stack)

    @property
    def workflow_role_name(self) -> str:
        """Fixed, so the archive target can trust it before the pipeline exists."""
        return workflow_role_name(self.stack)

    def source_key(self, index: int) -> str:
        """How the stack config names the ``index``-th source: ``source`` when it is written alone."""
        return "source" if self.source is not None else f"sources[{index}]"

    def filter_patterns(self, source: SourceConfig) -> tuple[str, ...]:
        return source.filter_patterns if source.filter_patterns is not None else self.trigger.filter_patterns

    @model_validator(mode="before")
    @classmethod
    def _stack_defaults(cls, data: Any) -> Any:
        """Defaults that depend on the stack: the archive's names and region; the pipeline section only where it is read."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        archive = data.get("archive")
        if isinstance(archive, dict):
            account = archive.get("accountId")
            derived = {"region": data["region"], **archive_names(data["stack"], account if isinstance(account, str) else None)}
            data["archive"] = {**derived, **archive}
        if data.get("deployment") != "archive-target":
            data.pop("pipeline", None)
        if data.get("sources") in (None, [], ()):
            data["source"] = data.get("source") or {}
            data["sources"] = [data["source"]]
        elif data.get("source") is not None:
            raise _invalid("source", "is set beside changetrail:sources", "list it in changetrail:sources, or keep source alone")
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        archive, workflow = self.archive, self.workflow
        if archive.region != self.region:
            # The Archive state's S3 call runs in the state machine's region; S3 answers a bucket in
            # another region with a redirect that Step Functions does not follow.
            raise _invalid(
                "archive.region",
                f"is {archive.region} but the stack deploys to {self.region}",
                "put the archive bucket in the pipeline's region (aws:region)",
            )
        if self.deployment == "pipeline" and archive.create and archive.deploy_role_arn is None:
            raise _invalid(
                "archive.deployRoleArn",
                "is required when archive.create is true",
                f"give a role in account {archive.account_id} that Pulumi may assume, or set archive.create: false and deploy "
                "the archive-target stack there",
            )
        if self.pipeline is not None and archive.account_id == self.pipeline.account_id:
            whose = f"the pipeline's account too ({_key('pipeline.accountId')})"
            raise _invalid("archive.accountId", *_same_account(archive.account_id, whose))
        tables = [source.table_name for source in self.sources]
        if self.audit.table_name in tables:
            audited = _key(self.source_key(tables.index(self.audit.table_name)))
            raise _invalid(
                "audit.tableName",
                f"is {self.audit.table_name!r}, the table being audited ({audited}.tableName)",
                "give the Audit table a name of its own, e.g. Audit",
            )
        for index, (source, table) in enumerate(zip(self.sources, tables, strict=True)):
            if source.range_key == source.hash_key:
                raise _invalid(
                    f"{self.source_key(index)}.rangeKey",
                    f"is {source.range_key!r}, the same attribute as {_key(self.source_key(index))}.hashKey",
                    "give the table's range key attribute, or remove rangeKey if the table has none",
                )
            if table in tables[:index]:
                raise _invalid(
                    f"{self.source_key(index)}.tableName",
                    f"is {table!r}, as {_key(self.source_key(tables.index(table)))}.tableName",
                    "audit each table once: merge the two entries",
                )
        for variable, function, text in (
            ("SOURCE_KEYS", "Decode", source_keys(self.sources)),
            ("ATTRIBUTE_RULES", "Diff", attribute_rules(self.sources)),
        ):
            if len(variable) + len(text.encode()) > SOURCES_ENVIRONMENT_BYTES:
                raise _invalid(
                    "sources",
                    f"lists {len(self.sources)} tables whose names, keys and attribute rules take {len(text.encode())} bytes of "
                    f"the {function} function's environment ({variable}); Lambda allows a function {ENVIRONMENT_BYTES} bytes "
                    "of variables",
                    "split the tables across stacks, or shorten their attribute rules",
                )
        if self.monitoring.enabled and len(self.sources) > MAX_MONITORED_SOURCES:
            raise _invalid(
                "sources",
                f"lists {len(self.sources)} tables, more than the {MAX_MONITORED_SOURCES} a monitored stack can watch (the ops "
                "topic's and its key's policies name every source's five alarms, and AWS caps their size)",
                f"split the tables across stacks of at most {MAX_MONITORED_SOURCES}, or set "
                f"{_key('monitoring.enabled')} to false",
            )
        if self.redaction.attributes and workflow.include_execution_data and workflow.log_level != "OFF":
            raise _invalid(
                "redaction.attributes",
                "is set while workflow.includeExecutionData is true, which would log the raw images",
                f"set {_key('workflow.includeExecutionData')} to false",
            )
        retention = workflow.dlq_retention_days * 86400
        if self.monitoring.enabled and self.monitoring.dlq_age_seconds >= retention:
            # SQS deletes a message when its retention ends, so an age alarm at or above it could never fire.
            raise _invalid(
                "monitoring.dlqAgeSeconds",
                f"is {self.monitoring.dlq_age_seconds}, not below the DLQ's retention of {retention} s "
                "(workflow.dlqRetentionDays), so it could never fire",
                f"use a value below {retention}, or raise {_key('workflow.dlqRetentionDays')}",
            )
        return self


def check_archive_account(archive: ArchiveConfig, pipeline_account_id: str) -> None:
    """A pipeline stack learns its own account only at deploy time: call this once the caller identity is known."""
    if archive.account_id == pipeline_account_id:
        problem, fix = _same_account(archive.account_id, "the account this stack deploys the pipeline into")
        fix += ", or deploy with the pipeline account's credentials"
        raise ConfigError(f"{_key('archive.accountId')} {problem}; fix: {fix}")


# -- parsing: errors derived from the declarations -------------------------------------------
def _fields(cls: type) -> dict[str, FieldInfo]:
    """A section's settings by config key."""
    fields: dict[str, FieldInfo] = cls.__pydantic_fields__  # type: ignore[attr-defined]
    return {field.alias or name: field for name, field in fields.items()}


def _section_class(annotation: Any) -> type | None:
    """The section dataclass a field holds (``PipelineTrust | None`` holds ``PipelineTrust``), if any."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and hasattr(candidate, "__pydantic_fields__"):
            return candidate
    return None


NOT_KEYS = ("stack", "region")
"""``Settings`` fields that Pulumi gives (the stack name, ``aws:region``), not ``changetrail:*`` keys."""
KEYS = tuple(key for key in _fields(Settings) if key not in NOT_KEYS)
"""The top-level ``changetrail:*`` keys."""
SECTIONS = tuple(key for key in KEYS if _section_class(_fields(Settings)[key].annotation))


def _unknown(path: list[str], known: Iterable[str]) -> str:
    known = sorted(known)
    near = difflib.get_close_matches(path[-1], known, n=1)
    fix = f"correct its spelling to {_key('.'.join([*path[:-1], near[0]]))}, or remove it" if near else "remove it"
    return f"{_key('.'.join(path))} is not a setting; known settings: {', '.join(known)}; fix: {fix}"


def _explain(field: FieldInfo, value: Any) -> tuple[str, str]:
    """(problem, fix) for a wrong value of this setting, from its declaration."""
    # An optional setting (``Annotated[int, Between(...)] | None``) keeps its kind inside the union.
    inner = [getattr(arg, "__metadata__", ()) for arg in get_args(field.annotation)]
    for marker in [*field.metadata, *(m for metadata in inner for m in metadata)]:
        if hasattr(marker, "explain"):
            return marker.explain(value)
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return f"is {value!r}", f"use one of {', '.join(get_args(annotation))}"
    if get_origin(annotation) is tuple and get_origin(get_args(annotation)[0]) is Literal:
        return f"is {value!r}", f"list some of {', '.join(get_args(get_args(annotation)[0]))}"
    return f"is {value!r}", "set a valid value in Pulumi.<stack>.yaml"


LIST_OF_SECTIONS = ("sources",)
"""Keys whose value is a list of sections: an error names the entry, as ``sources[1].hashKey``."""


def _settings_path(loc: tuple[int | str, ...]) -> list[str]:
    """pydantic's location as config keys: a list of sections keeps the position, any other list is shown whole."""
    path: list[str] = []
    for part in loc:
        if isinstance(part, str):
            path.append(part)
        elif path and path[-1] in LIST_OF_SECTIONS:
            path[-1] = f"{path[-1]}[{part}]"
    return path


def _lookup(value: Any, part: str) -> Any:
    name, _, index = part.partition("[")
    value = value.get(name) if isinstance(value, dict) else None
    if index and isinstance(value, list):
        position = int(index.rstrip("]"))
        value = value[position] if position < len(value) else None
    return value


def _message(error: ErrorDetails, raw: dict[str, Any], within: tuple[str, ...] = ()) -> str:
    """One line for one of pydantic's errors: the full key, what is wrong, and the fix."""
    path = [*within, *_settings_path(error["loc"])]
    ctx = error.get("ctx") or {}
    if error["type"] == "config":
        path += [part for part in ctx["setting"].split(".") if part]
        return f"{_key('.'.join(path))} {ctx['problem']}; fix: {ctx['fix']}"
    value: Any = raw
    for part in path:
        value = _lookup(value, part)
    section: type | None = Settings
    field: FieldInfo | None = None
    for depth, part in enumerate(path):
        known = _fields(section) if section else {}
        name = part.partition("[")[0]
        if name not in known:
            return _unknown(path[: depth + 1], (key for key in known if section is not Settings or key not in NOT_KEYS))
        field = known[name]
        section = _section_class(field.annotation)
    if section is not None and error["type"] in ("dataclass_type", "dataclass_exact_type"):
        example = sorted(_fields(section))[0]
        key = _key(".".join(path))
        fix = f"write it as a map of settings, e.g. {key}: {{{example}: ...}}"
        return f"{key} must be an object of settings, got {value!r}; fix: {fix}"
    if field is None:  # not raised by a setting: no key to name
        return f"{NAMESPACE} config: {error['msg']}"
    problem, fix = _explain(field, value)
    if error["type"] == "missing" or (value is None and field.is_required()):
        problem = "is required"
    return f"{_key('.'.join(path))} {problem}; fix: {fix}"


T = TypeVar("T")


def _parse(adapter: TypeAdapter[T], data: Any, raw: dict[str, Any], within: tuple[str, ...] = ()) -> T:
    """Validate; the first error becomes a ``ConfigError`` of one line (fixing it may well fix the others)."""
    try:
        return adapter.validate_python(data)
    except ValidationError as error:
        # from None: pydantic's own report would repeat that line at length.
        raise ConfigError(_message(error.errors()[0], raw, within)) from None


_SETTINGS = TypeAdapter(Settings)
_AUDIT = TypeAdapter(AuditConfig)


def parse_audit(raw: Any) -> AuditConfig:
    """``changetrail:audit`` alone, with its defaults and checks."""
    raw = {} if raw is None else raw
    return _parse(_AUDIT, raw, {"audit": raw}, ("audit",))


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


def pulumi_keys(namespace: str = NAMESPACE) -> frozenset[str]:
    """The ``namespace:*`` keys the stack sets (without the namespace), so that a misspelled one is refused."""
    import pulumi.runtime
    from pulumi.runtime.config import CONFIG

    # pulumi.Config reads one key at a time and lists none. A deployment passes the stack's config in
    # PULUMI_CONFIG; mocks and the Automation API set it in the runtime's map.
    every = {**pulumi.runtime.get_config_env(), **CONFIG.get()}
    head = f"{namespace}:"
    return frozenset(key[len(head) :] for key in every if key.startswith(head))


def load_settings(get: Callable[[str], Any], stack: str, region: str | None, keys: Iterable[str] = ()) -> Settings:
    """Parse every ``changetrail:*`` key through ``get`` (see ``pulumi_reader``); ``keys`` (see ``pulumi_keys``) are the
    keys the stack sets, refused unless they are settings."""
    if not region:
        raise ConfigError("aws:region is not set; fix: pulumi config set aws:region us-east-1")
    unknown = sorted(set(keys) - set(KEYS))
    if unknown:
        raise ConfigError(_unknown([unknown[0]], KEYS))
    data: dict[str, Any] = {"stack": stack, "region": region}
    for key in KEYS:
        value = get(key)
        if value is None and key in SECTIONS and key not in ("source", *LIST_OF_SECTIONS):
            value = {}  # an absent section is an empty one: its defaults apply, and its required settings are named
        if value is not None:
            data[key] = value
    return _parse(_SETTINGS, data, data)
