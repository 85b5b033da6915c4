"""The ops dashboard's JSON body: the shared parts, then one row per source table.

Shared: executions of the state machine, the pipeline DLQ, Audit table writes, archive objects
written, notifications. Each source's row names its table and graphs its trigger's iterator age,
errors and throttles, its stream-failure queue's depth and oldest message, its changes per
minute, and shows its alarms. A pure function of names (unit-tested without Pulumi): the same
names give the same body, byte for byte, so ``pulumi up`` shows no spurious dashboard diff.
``components.monitoring`` creates the dashboard resource with it; ``components.source`` says what
a source's row holds.

CloudWatch's limits for a dashboard, which ``tests/infra/test_monitoring.py`` checks at
``config.MAX_MONITORED_SOURCES`` sources:

- a body holds at most 500 widgets, and an alarm status widget 1 to 100 alarms
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CloudWatch-Dashboard-Body-Structure.html);
- at most 500 metrics per widget and 2,500 per dashboard
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html).

Neither page, nor the PutDashboard reference, documents a limit on the body's bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

PERIOD = 300
"""Seconds per datapoint, for the alarms and the dashboard's graphs alike: one 5-minute period, so an
operator hears of a problem within minutes."""
CHANGES_PERIOD = 60
"""Changes are graphed per minute."""
MAX_WIDGETS = 500
MAX_METRICS_PER_WIDGET = 500
MAX_METRICS = 2500
MAX_ALARMS_PER_WIDGET = 100
GRID_COLUMNS = 24
"""A dashboard is 24 grid units wide."""
ROW_HEIGHT = 6
METRIC_NAMESPACE = "changetrail"
"""Metrics the stack counts from log lines (``components.trigger``, ``components.monitoring``)."""
CHANGES_METRIC = "ChangesStarted"
"""Changes a trigger started executions for, per function (the ``FunctionName`` dimension)."""
ARCHIVE_METRIC = "ArchiveObjectsWritten"
"""Archive objects the state machine created (its execution logs' successful S3 creates), in the stack's own
namespace (``archive_namespace``): a metric filter can take a dimension only from a field of the log event, and
no field of a state machine's log events names the stack alone."""


def archive_namespace(stack: str) -> str:
    return f"{METRIC_NAMESPACE}/{stack}"


def metric_widget(title: str, region: str, stat: str, metrics: list[list[Any]], threshold: float | None = None,
                  period: int = PERIOD) -> dict[str, Any]:  # fmt: skip
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "stat": stat,
        "period": period,
        "metrics": metrics,
    }
    if threshold is not None:
        properties["annotations"] = {"horizontal": [{"label": "alarm", "value": threshold}]}
    return {"type": "metric", "properties": properties}


def text_widget(markdown: str) -> dict[str, Any]:
    return {"type": "text", "properties": {"markdown": markdown}}


def alarm_widget(title: str, alarm_arns: list[str]) -> dict[str, Any]:
    return {"type": "alarm", "properties": {"title": title, "alarms": sorted(alarm_arns)}}


@dataclass(frozen=True)
class SourceRow:
    """What one source's row names."""

    table: str
    function_name: str
    failures_queue_name: str
    alarm_arns: tuple[str, ...]


def source_row(row: SourceRow, region: str, iterator_age_ms: int, dlq_age_seconds: int) -> list[dict[str, Any]]:
    """A heading naming the table, then its trigger, its stream-failure queue, its changes and its alarms."""
    function, queue = ("FunctionName", row.function_name), ("QueueName", row.failures_queue_name)
    return [
        text_widget(
            f"### Source table `{row.table}`\n"
            f"trigger `{row.function_name}`, stream-failure queue `{row.failures_queue_name}`; "
            f"`changetrail executions --table {row.table}`, `changetrail redrive --table {row.table} --dry-run`"
        ),
        metric_widget(
            f"{row.table}: stream lag, trigger iterator age (ms)",
            region,
            "Maximum",
            [["AWS/Lambda", "IteratorAge", *function]],
            iterator_age_ms,
        ),
        metric_widget(
            f"{row.table}: trigger errors and throttles",
            region,
            "Sum",
            [["AWS/Lambda", metric, *function] for metric in ("Errors", "Throttles")],
        ),
        metric_widget(
            f"{row.table}: stream failures, messages visible",
            region,
            "Maximum",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", *queue]],
        ),
        metric_widget(
            f"{row.table}: stream failures, age of oldest (s)",
            region,
            "Maximum",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", *queue]],
            dlq_age_seconds,
        ),
        metric_widget(
            f"{row.table}: changes per minute",
            region,
            "Sum",
            [[METRIC_NAMESPACE, CHANGES_METRIC, *function]],
            period=CHANGES_PERIOD,
        ),
        alarm_widget(f"{row.table}: alarms", list(row.alarm_arns)),
    ]


def shared_widgets(
    *,
    region: str,
    stack: str,
    stack_prefix: str,
    state_machine_arn: str,
    dlq_name: str,
    audit_table_name: str,
    topic_name: str,
    notify_function_name: str,
    dlq_age_seconds: int,
    alarm_arns: list[str],
) -> list[dict[str, Any]]:
    """The parts every source shares: the state machine, the pipeline DLQ, Audit writes, the archive, notifications."""
    machine, dlq, audit = ("StateMachineArn", state_machine_arn), ("QueueName", dlq_name), ("TableName", audit_table_name)
    return [
        text_widget(
            f"## {stack_prefix}: shared by every source\n"
            f"state machine, pipeline DLQ `{dlq_name}`, Audit table `{audit_table_name}`, archive, topic `{topic_name}`"
        ),
        metric_widget(
            "Executions",
            region,
            "Sum",
            [["AWS/States", metric, *machine] for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")],
        ),
        metric_widget(
            "Pipeline DLQ: messages visible", region, "Maximum", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", *dlq]]
        ),
        metric_widget(
            "Pipeline DLQ: age of oldest message (s)",
            region,
            "Maximum",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", *dlq]],
            dlq_age_seconds,
        ),
        metric_widget(
            "Audit table: writes",
            region,
            "Sum",
            [["AWS/DynamoDB", metric, *audit] for metric in ("ConsumedWriteCapacityUnits", "WriteThrottleEvents")],
        ),
        metric_widget(
            "Archive: objects written (logLevel ALL)",
            region,
            "Sum",
            [[archive_namespace(stack), ARCHIVE_METRIC]],
        ),
        metric_widget(
            "Notifications",
            region,
            "Sum",
            [
                ["AWS/SNS", "NumberOfMessagesPublished", "TopicName", topic_name],
                ["AWS/SNS", "NumberOfNotificationsFailed", "TopicName", topic_name],
                ["AWS/Lambda", "Errors", "FunctionName", notify_function_name],
            ],
        ),
        alarm_widget("Shared alarms", alarm_arns),
    ]


def layout(sections: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Each section starts a row with its heading across the grid; its other widgets share rows, left to right."""
    placed: list[dict[str, Any]] = []
    y = 0
    for heading, *widgets in sections:
        placed.append({**heading, "x": 0, "y": y, "width": GRID_COLUMNS, "height": 2})
        y += 2
        per_row = max(1, len(widgets) if len(widgets) <= 6 else -(-len(widgets) // 2))
        width = GRID_COLUMNS // per_row
        for index, widget in enumerate(widgets):
            column, line = index % per_row, index // per_row
            placed.append({**widget, "x": column * width, "y": y + line * ROW_HEIGHT, "width": width, "height": ROW_HEIGHT})
        y += ROW_HEIGHT * -(-len(widgets) // per_row)
    return placed


def dashboard_body(shared: list[dict[str, Any]], rows: list[list[dict[str, Any]]]) -> str:
    """The dashboard's JSON: the shared section, then each source's row, in the order the stack lists its sources."""
    return json.dumps({"widgets": layout([shared, *rows])}, sort_keys=True)
