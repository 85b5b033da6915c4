"""The ops dashboard's JSON body: every alarmed metric, plus the pipeline's throughput and audit writes.

A pure function of names (unit-tested without Pulumi): the same names give the same body, byte for
byte, so ``pulumi up`` shows no spurious dashboard diff. ``components.monitoring`` creates the
dashboard resource with it.
"""

from __future__ import annotations

import json
from typing import Any

PERIOD = 300
"""Seconds per datapoint, for the alarms and the dashboard's graphs alike: one 5-minute period, so an
operator hears of a problem within minutes."""


def _metric_widget(title: str, region: str, stat: str, metrics: list[list[Any]], threshold: float | None = None) -> dict:
    properties: dict[str, Any] = {
        "title": title,
        "region": region,
        "view": "timeSeries",
        "stacked": False,
        "stat": stat,
        "period": PERIOD,
        "metrics": metrics,
    }
    if threshold is not None:
        properties["annotations"] = {"horizontal": [{"label": "alarm", "value": threshold}]}
    return {"type": "metric", "properties": properties}


def dashboard_body(
    *,
    region: str,
    function_name: str,
    state_machine_arn: str,
    dlq_name: str,
    stream_failures_queue_name: str,
    audit_table_name: str,
    iterator_age_ms: int,
    dlq_age_seconds: int,
    alarm_arns: list[str],
) -> str:
    """The dashboard's JSON: every alarmed metric, plus executions started/succeeded and audit WCU."""
    queues = (dlq_name, stream_failures_queue_name)
    machine = ("StateMachineArn", state_machine_arn)
    widgets = [
        _metric_widget(
            "Stream lag: trigger iterator age (ms)",
            region,
            "Maximum",
            [["AWS/Lambda", "IteratorAge", "FunctionName", function_name]],
            iterator_age_ms,
        ),
        _metric_widget(
            "Trigger errors and throttles",
            region,
            "Sum",
            [["AWS/Lambda", metric, "FunctionName", function_name] for metric in ("Errors", "Throttles")],
        ),
        _metric_widget(
            "Executions",
            region,
            "Sum",
            [["AWS/States", metric, *machine] for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed")],
        ),
        _metric_widget(
            "Dead-letter queues: messages visible",
            region,
            "Maximum",
            [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue] for queue in queues],
        ),
        _metric_widget(
            "Dead-letter queues: age of oldest message (s)",
            region,
            "Maximum",
            [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue] for queue in queues],
            dlq_age_seconds,
        ),
        _metric_widget(
            "Audit table: consumed write capacity units",
            region,
            "Sum",
            [["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", audit_table_name]],
        ),
        {"type": "alarm", "properties": {"title": "Alarms", "alarms": sorted(alarm_arns)}},
    ]
    width, height = 12, 6
    for index, widget in enumerate(widgets):
        widget.update(x=(index % 2) * width, y=(index // 2) * height, width=width, height=height)
    return json.dumps({"widgets": widgets}, sort_keys=True)
