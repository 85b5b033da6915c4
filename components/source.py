"""One audited source, whole: everything a stack has once per table is declared here.

Its table (created, or an existing one attached), its trigger with the event source mapping and
the stream-failure queue, the trigger's and the queue's alarms, its row of the ops dashboard, and
its entry in the ``sources`` output (which the CLI and the console filter by). ``__main__.py``
makes one ``Source`` per entry of ``changetrail:sources`` and wires nothing per source itself, so
a source cannot be audited without being watched.

What a source is called is known before anything is created (``SourcePlan``): the ops topic's
policies name every alarm, and the dashboard every row, before the sources exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.config import MonitoringConfig, Settings, SourceConfig, SourceNames, TriggerConfig, source_names
from components.dashboard import SourceRow, source_row
from components.monitoring import AlarmSpec, AlarmTarget, alarm_arn, metric_alarm
from components.pipeline_function import FunctionDefaults
from components.source_table import SourceTable, SourceTableArgs
from components.trigger import Trigger, TriggerArgs

FAILURES_RETENTION_DAYS = 14
"""SQS's maximum: an on-failure message holds only stream coordinates, and the stream itself keeps records 24 h."""


@dataclass(frozen=True)
class SourcePlan:
    """One source's settings and names, from the stack config alone."""

    index: int
    config: SourceConfig
    config_key: str
    """How the stack config names it: ``source``, or ``sources[2]``."""
    names: SourceNames
    filter_patterns: tuple[str, ...]

    @property
    def name(self) -> str:
        """Its component's Pulumi name: ``source`` for the first, ``source-<table>`` for the others."""
        return f"source{self.names.component}"

    @property
    def table(self) -> str:
        return self.config.table_name

    def alarm_arns(self, region: str, account_id: str) -> tuple[str, ...]:
        return tuple(alarm_arn(region, account_id, name) for name in self.names.alarm_names)

    def dashboard_row(self, region: str, account_id: str, thresholds: MonitoringConfig) -> list[dict[str, Any]]:
        row = SourceRow(self.table, self.names.trigger_function, self.names.failures_queue, self.alarm_arns(region, account_id))
        return source_row(row, region, thresholds.iterator_age_ms, thresholds.dlq_age_seconds)


def source_plans(settings: Settings) -> list[SourcePlan]:
    return [
        SourcePlan(
            index,
            config,
            settings.source_key(index),
            source_names(settings.stack, settings.trigger.function_name, index, config.table_name),
            settings.filter_patterns(config),
        )
        for index, config in enumerate(settings.sources)
    ]


def alarm_specs(
    plan: SourcePlan, c: MonitoringConfig, function_name: pulumi.Input[str], queue_name: pulumi.Input[str]
) -> list[AlarmSpec]:
    """A source's alarms, as data: each names the table, and says what to do when it fires."""
    table, fn, queue = plan.table, plan.names.trigger_function, plan.names.failures_queue
    iterator_age, errors, throttles, depth, age = plan.names.alarm_names
    # A description holds 1,024 characters (PutMetricAlarm), a table's name 255: it names the table twice at most.
    inspect = f"`changetrail redrive --table {table} --dry-run`, then the same with `--wait`"
    return [
        AlarmSpec(
            "trigger-iterator-age",
            iterator_age,
            f"Source table {table}: its trigger {fn} lags the table's stream by over {c.iterator_age_ms} ms; the stream "
            "drops records after 24 h. Check this trigger's errors and throttles.",
            "AWS/Lambda",
            "IteratorAge",
            "Maximum",
            "FunctionName",
            function_name,
            c.iterator_age_ms,
        ),
        AlarmSpec(
            "trigger-errors",
            errors,
            f"Source table {table}: its trigger {fn} failed; the mapping retries and bisects, then parks the batch in {queue}.",
            "AWS/Lambda",
            "Errors",
            "Sum",
            "FunctionName",
            function_name,
            0,
        ),
        AlarmSpec(
            "trigger-throttles",
            throttles,
            f"Source table {table}: its trigger {fn} was throttled (account or reserved concurrency); this table's stream "
            "lag grows meanwhile.",
            "AWS/Lambda",
            "Throttles",
            "Sum",
            "FunctionName",
            function_name,
            0,
        ),
        AlarmSpec(
            "stream-failures-depth",
            depth,
            f"Source table {table}: its stream-failure queue {queue} holds messages, batches its trigger gave up on: {inspect}.",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "Maximum",
            "QueueName",
            queue_name,
            0,
        ),
        AlarmSpec(
            "stream-failures-age",
            age,
            f"Source table {table}: a message has waited in its stream-failure queue {queue} for over {c.dlq_age_seconds} s; "
            f"the stream keeps the records it names 24 h and the queue the message {FAILURES_RETENTION_DAYS} days: {inspect}.",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            "Maximum",
            "QueueName",
            queue_name,
            c.dlq_age_seconds,
        ),
    ]


@dataclass(frozen=True)
class SourceArgs:
    plan: SourcePlan
    trigger: TriggerConfig
    """The mapping's and the function's settings, shared by every source."""
    functions: FunctionDefaults
    state_machine_arn: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    payload_bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    alarms: AlarmTarget | None
    """The ops topic, when monitoring is on."""


class Source(pulumi.ComponentResource):
    table: SourceTable
    trigger: Trigger
    alarm_names: list[str]
    output: dict[str, Any]
    """Its entry in the ``sources`` stack output."""

    def __init__(self, name: str, args: SourceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:source:Source", name, None, opts)
        plan = args.plan
        # Before sources had a component each, the table and the trigger were the stack's own children: the
        # aliases keep every resource under them (a table's data, a mapping's stream position) in place.
        moved = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        self.table = SourceTable(
            f"source{plan.names.component}", SourceTableArgs(plan.config, args.kms_key_arn, plan.config_key), opts=moved
        )
        self.trigger = Trigger(
            f"trigger{plan.names.component}",
            TriggerArgs(
                config=args.trigger,
                source=plan.config,
                filter_patterns=plan.filter_patterns,
                function_name=plan.names.trigger_function,
                failures_queue_name=plan.names.failures_queue,
                failures_retention_days=FAILURES_RETENTION_DAYS,
                functions=args.functions,
                stream_arn=self.table.stream_arn,
                state_machine_arn=args.state_machine_arn,
                payload_bucket_arn=args.payload_bucket_arn,
                payload_bucket_name=args.payload_bucket_name,
                kms_key_arn=args.kms_key_arn,
            ),
            opts=moved,
        )
        self.alarm_names = []
        if args.alarms is not None:
            target = args.alarms
            for spec in alarm_specs(plan, target.config, self.trigger.function_name, self.trigger.failures_queue_name):
                # The first source's alarms were the monitoring component's children, named after it.
                former = [pulumi.Alias(name=f"{target.former_parent_name}-{spec.role}", parent=target.former_parent)]
                metric_alarm(f"{name}-{spec.role}", spec, target, self, former if plan.index == 0 else [])
                self.alarm_names.append(spec.name)
        trigger = self.trigger
        self.output = {
            "table_name": self.table.table_name,
            "table_arn": self.table.table_arn,
            "stream_arn": self.table.stream_arn,
            "trigger_function_name": trigger.function_name,
            "event_source_mapping_uuid": trigger.mapping_uuid,
            "stream_failures_queue_url": trigger.failures_queue_url,
            "stream_failures_queue_arn": trigger.failures_queue_arn,
            "stream_failures_queue_name": trigger.failures_queue_name,
            "alarm_names": list(self.alarm_names),
        }
        self.register_outputs({"table_name": self.table.table_name, "trigger_function_name": trigger.function_name})
