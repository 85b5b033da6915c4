"""``changetrail cost``: AWS requests per change and $ per million changes, measured not guessed.

Runs N synthetic changes (a quarter inserts, the rest updates of one attribute, items padded to
``item_size`` bytes) through the stack on the embedded AWS, counts every request the pipeline
makes and what it carries (the request recorder sees all of them: rows of a BatchWriteItem,
messages of a PublishBatch), and prices the counts with a dated price table
(``data/prices-us-east-1.json``). The naive column prices the same work done the naive way, under
the same settings: one execution, one archive object and one SNS publish per change, each
execution logging what ours log. A provisioned Audit table (``audit.capacityMode``) is priced in
WCU-hours at its target utilization, its fixed minimum apart.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from changetrail.embedded import EmbeddedAws, client, lambdas
from changetrail.embedded.recorder import RequestLog, recording
from components.config import NAMESPACE, load_settings
from functions.dynamodb_limits import item_size

PRICES_PATH = Path(__file__).with_name("data") / "prices-us-east-1.json"
EXPRESS_MEMORY_GB = 64 / 1024  # Express bills memory in 64 MB steps; this state data stays far below
HOURS_PER_MONTH = 730
INSERT_SHARE = 4
"""One change in four is an insert (a new item); the rest update one attribute of an existing one."""
ROUNDS = 500
"""Changes written between two settles: a burst the stream delivers in full batches."""


@dataclass(frozen=True)
class Usage:
    """What N changes cost in requests, the items they carry, and billed units."""

    changes: int
    executions: int
    express_gb_seconds: float
    lambda_requests: int
    lambda_gb_seconds: float
    audit_requests: int
    """PutItem and BatchWriteItem calls on the Audit table."""
    audit_rows: int
    """Rows those calls wrote: what DynamoDB bills, in write units."""
    audit_wru: float
    s3_puts: int
    """PUT-class requests: archive objects, claim checks, copies."""
    sns_requests: int
    """Publish and PublishBatch calls."""
    sns_messages: int
    sns_billed_requests: int
    """What SNS bills: one request per 64 KB of each call's payload."""
    sqs_sends: int
    inserts: int
    """Changes that inserted a new item (the rest update one): a quarter of them."""
    log_bytes: int
    log_data_bytes: int
    """Of ``log_bytes``, what execution data (inputs, outputs) took: it does not grow with the number of executions."""

    def per_change(self) -> dict[str, float]:
        return {
            "lambda": self.lambda_requests / self.changes,
            "stepfunctions": self.executions / self.changes,
            "dynamodb": self.audit_rows / self.changes,
            "s3": self.s3_puts / self.changes,
            "sns": self.sns_billed_requests / self.changes,
            "sqs": self.sqs_sends / self.changes,
        }

    def counts_per_change(self) -> dict[str, float]:
        """Requests beside what they carry, per change."""
        return {
            "audit_requests": self.audit_requests / self.changes,
            "audit_rows": self.audit_rows / self.changes,
            "sns_requests": self.sns_requests / self.changes,
            "sns_messages": self.sns_messages / self.changes,
            "log_bytes": self.log_bytes / self.changes,
        }


def write_units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / 1024))


def row_write_units(row: dict[str, Any], table: dict[str, Any]) -> int:
    """What DynamoDB bills for writing one new row: the table write, plus one write per GSI the row
    appears in (it has the index's key attributes), sized by what that index projects."""
    table_keys = [key["AttributeName"] for key in table["KeySchema"]]
    units = write_units(row)
    for index in table.get("GlobalSecondaryIndexes", []):
        index_keys = [key["AttributeName"] for key in index["KeySchema"]]
        if not all(name in row for name in index_keys):
            continue  # sparse: the row is not in this index
        projection = index["Projection"]
        if projection["ProjectionType"] == "ALL":
            projected = row
        else:
            names = {*table_keys, *index_keys, *projection.get("NonKeyAttributes", [])}
            projected = {name: value for name, value in row.items() if name in names}
        units += write_units(projected)
    return units


def synthetic_changes(table: str, numbers: range, items: int, item_size: int) -> None:
    """Change ``n`` puts item ``n % items``: its first put inserts it, every later one updates ``value``."""
    ddb = client("dynamodb")
    padding = "x" * max(0, item_size - 60)
    for n in numbers:
        ddb.put_item(
            TableName=table, Item={"key": {"S": f"item-{n % items:06d}"}, "value": {"N": str(n)}, "payload": {"S": padding}}
        )


def measure(
    stack: str, changes: int, item_size: int, overrides: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
) -> Usage:
    """Run the changes; ``settings`` (if given) receives the measured stack's cost-relevant settings."""
    items = max(1, changes // INSERT_SHARE)
    with EmbeddedAws(stack, overrides) as aws, recording() as log:
        if settings is not None:
            settings.update(_settings(aws))
        lambdas.durations.clear()
        for start in range(0, changes, ROUNDS):
            synthetic_changes(aws.outputs["source_table_name"], range(start, min(changes, start + ROUNDS)), items, item_size)
            executions = aws.settle(timeout=600)
        return _usage(aws, log, changes, executions)


def _settings(aws: EmbeddedAws) -> dict[str, Any]:
    config = aws.config
    # The stack's settings as the program parses them: their defaults and checks, not a second copy of them.
    s = load_settings(lambda key: config.get(f"{NAMESPACE}:{key}"), aws.stack, config.get("aws:region"))
    audit = s.audit
    return {
        "notify_mode": s.notifications.mode,
        "log_level": s.workflow.log_level,
        "include_execution_data": s.workflow.include_execution_data,
        "batch_size": s.trigger.batch_size,
        "capacity_mode": audit.capacity_mode,
        "target_utilization": audit.target_utilization if audit.provisioned else None,
        "min_write_capacity": audit.min_write_capacity if audit.provisioned else None,
        "read_capacity": audit.read_capacity if audit.provisioned else None,
    }


def _usage(aws: EmbeddedAws, log: RequestLog, changes: int, executions: list[dict[str, Any]]) -> Usage:
    outputs, functions = aws.outputs, aws.registry.functions
    express = sum(math.ceil((e["stopDate"] - e["startDate"]).total_seconds() * 10) / 10 for e in executions)
    lambda_gb_s = sum(
        sum(math.ceil(seconds * 1000) for seconds in lambdas.durations.get(name, [])) / 1000 * int(spec["memory"]) / 1024
        for name, spec in functions.items()
    )
    audit = outputs["audit_table_name"]
    rows = [item for page in client("dynamodb").get_paginator("scan").paginate(TableName=audit) for item in page["Items"]]
    table = client("dynamodb").describe_table(TableName=audit)["Table"]
    wru_per_row = sum(row_write_units(row, table) for row in rows) / max(1, len(rows))
    audit_rows = log.count_items("dynamodb", "PutItem", audit) + log.count_items("dynamodb", "BatchWriteItem", audit)
    publish = ("Publish", "PublishBatch")
    logs = aws.execution_logs
    return Usage(
        changes=changes,
        executions=log.count("sfn", "StartExecution"),
        express_gb_seconds=express * EXPRESS_MEMORY_GB,
        lambda_requests=log.count("lambda", "Invoke"),
        lambda_gb_seconds=lambda_gb_s,
        audit_requests=log.count("dynamodb", "PutItem", audit) + log.count("dynamodb", "BatchWriteItem", audit),
        audit_rows=audit_rows,
        audit_wru=audit_rows * wru_per_row,
        s3_puts=log.count("s3", "PutObject") + log.count("s3", "CopyObject"),
        sns_requests=sum(log.count("sns", operation) for operation in publish),
        sns_messages=sum(log.count_items("sns", operation) for operation in publish),
        sns_billed_requests=sum(log.count_billed("sns", operation) for operation in publish),
        sqs_sends=log.count("sqs", "SendMessage"),
        inserts=sum(1 for row in rows if row["eventName"]["S"] == "INSERT"),
        log_bytes=logs.ingested_bytes if logs else 0,
        log_data_bytes=logs.data_bytes if logs else 0,
    )


def naive(usage: Usage) -> Usage:
    """The same changes under the same settings, one execution / archive object / publish each.

    Each naive execution runs our functions once and logs what one of ours logs apart from
    execution data (whose total is the same data either way)."""
    per_execution_lambda = 4  # Decode, Diff, WriteAudit, Notify
    trigger_requests = usage.lambda_requests - per_execution_lambda * usage.executions
    log_per_execution = (usage.log_bytes - usage.log_data_bytes) / max(1, usage.executions)
    return replace(
        usage,
        executions=usage.changes,
        express_gb_seconds=usage.changes * 0.1 * EXPRESS_MEMORY_GB,  # the 100 ms minimum, favouring naive
        lambda_requests=trigger_requests + per_execution_lambda * usage.changes,
        s3_puts=usage.changes,
        sns_requests=usage.sns_messages,
        sns_billed_requests=usage.sns_messages,  # notifications off stay off
        log_bytes=round(log_per_execution * usage.changes) + usage.log_data_bytes,
    )


def load_prices(path: Path = PRICES_PATH) -> dict[str, Any]:
    return json.loads(path.read_text(), parse_float=Decimal)


def audit_write_dollars(wru: float, prices: dict[str, Any], target_utilization: int | None = None) -> Decimal:
    """On demand (``target_utilization`` None): per write request unit. Provisioned: per WCU-hour; a WCU
    absorbs one write unit a second and the autoscaler keeps consumed/provisioned at the target, so
    steady load pays for ``wru / (3600 * target)`` WCU-hours (the minimum capacity floor apart)."""
    if target_utilization is None:
        return Decimal(wru) * prices["dynamodb_on_demand"]["write_request_unit"]
    wcu_hours = Decimal(wru) / (3600 * Decimal(target_utilization) / 100)
    return wcu_hours * prices["dynamodb_provisioned"]["wcu_hour"]


def provisioned_floor(prices: dict[str, Any], min_write_capacity: int, read_capacity: int) -> dict[str, float]:
    """$ a month the table and its index pay at minimum capacity, whatever the traffic (2: table + index)."""
    p = prices["dynamodb_provisioned"]
    return {
        "write": float(2 * min_write_capacity * p["wcu_hour"] * HOURS_PER_MONTH),
        "read": float(2 * read_capacity * p["rcu_hour"] * HOURS_PER_MONTH),
    }


def price(
    usage: Usage, prices: dict[str, Any], architecture: str = "arm64", target_utilization: int | None = None
) -> dict[str, float]:
    """$ for this usage, by service; ``target_utilization`` (percent) prices a provisioned Audit table."""
    p = prices
    return {
        "lambda": float(
            usage.lambda_requests * p["lambda"]["request"]
            + Decimal(usage.lambda_gb_seconds) * p["lambda"]["gb_second"][architecture]
        ),
        "stepfunctions": float(
            usage.executions * p["stepfunctions_express"]["request"]
            + Decimal(usage.express_gb_seconds) * p["stepfunctions_express"]["gb_second"]
        ),
        "dynamodb": float(audit_write_dollars(usage.audit_wru, p, target_utilization)),
        "s3": float(usage.s3_puts * p["s3_standard"]["put_request"]),
        "sns": float(usage.sns_billed_requests * p["sns"]["publish_request_64kb"]),
        "sqs": float(usage.sqs_sends * p["sqs_standard"]["request_64kb"]),
        "logs": float(Decimal(usage.log_bytes) / Decimal(1024**3) * p["cloudwatch_logs"]["ingested_gb"]),
    }


def per_million(costs: dict[str, float], changes: int) -> dict[str, float]:
    return {service: dollars * 1_000_000 / changes for service, dollars in costs.items()}


GOALS_USD_PER_MILLION = {"onDemand": 2.00, "provisioned": 1.00}
"""All in (pipeline and its logs) per million 1 KB changes at the stack's defaults: what the design is held to."""


def parse_override(text: str) -> dict[str, Any]:
    """``section.key=value`` (value as JSON, else a string) -> ``{"changetrail:section": {"key": value}}``."""
    name, separator, raw = text.partition("=")
    section, dot, key = name.partition(".")
    if not separator or not dot or not section or not key:
        raise ValueError(f"--set {text!r}: expected section.key=value, e.g. notifications.mode=off")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return {f"changetrail:{section}": {key: value}}


def merge_overrides(texts: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for text in texts:
        for section, values in parse_override(text).items():
            merged.setdefault(section, {}).update(values)
    return merged


def report(stack: str, changes: int, item_size: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    aws_settings: dict[str, Any] = {}
    usage = measure(stack, changes, item_size, overrides, aws_settings)
    prices = load_prices()
    utilization = aws_settings["target_utilization"]
    ours = per_million(price(usage, prices, target_utilization=utilization), changes)
    theirs = per_million(price(naive(usage), prices, target_utilization=utilization), changes)
    floor = None
    if utilization is not None:
        dollars = provisioned_floor(prices, aws_settings["min_write_capacity"], aws_settings["read_capacity"])
        floor = {kind: round(amount, 2) for kind, amount in dollars.items()}
    total, naive_total = sum(ours.values()), sum(theirs.values())
    goal = GOALS_USD_PER_MILLION[aws_settings["capacity_mode"]]
    return {
        "stack": stack,
        "changes": changes,
        "item_size": item_size,
        "prices_as_of": prices["as_of"],
        "settings": aws_settings,
        "usd_per_million": round(total, 4),
        "pipeline_usd_per_million": round(total - ours["logs"], 4),
        "logs_usd_per_million": round(ours["logs"], 4),
        "goal_usd_per_million": goal,
        "meets_goal": total <= goal,
        "naive_usd_per_million": round(naive_total, 4),
        "naive_times_ours": round(naive_total / total, 1) if total else None,
        "dynamodb_floor_usd_per_month": floor,
        "usd_per_million_by_service": {k: round(v, 4) for k, v in ours.items()},
        "naive_usd_per_million_by_service": {k: round(v, 4) for k, v in theirs.items()},
        "requests_per_change": {k: round(v, 4) for k, v in usage.per_change().items()},
        "naive_requests_per_change": {k: round(v, 4) for k, v in naive(usage).per_change().items()},
        "counts_per_change": {k: round(v, 4) for k, v in usage.counts_per_change().items()},
        "usage": asdict(usage),
        "measured_seconds": round(time.perf_counter() - started, 1),
    }


def render(result: dict[str, Any]) -> str:
    lines = [
        f"changetrail cost - stack {result['stack']}: {result['changes']} changes of {result['item_size']} B "
        f"(prices us-east-1 as of {result['prices_as_of']}, measured in {result['measured_seconds']}s)",
        f"{'service':<14} {'requests/change':>15} {'$/million':>11} {'naive req/chg':>14} {'naive $/million':>16}",
    ]
    for service, dollars in result["usd_per_million_by_service"].items():
        requests = result["requests_per_change"].get(service)
        naive_requests = result["naive_requests_per_change"].get(service)
        lines.append(
            f"{service:<14} {requests if requests is not None else '-':>15} {dollars:>11.4f} "
            f"{naive_requests if naive_requests is not None else '-':>14} "
            f"{result['naive_usd_per_million_by_service'][service]:>16.4f}"
        )
    lines.append(f"{'total':<14} {'':>15} {result['usd_per_million']:>11.4f} {'':>14} {result['naive_usd_per_million']:>16.4f}")
    settings = result.get("settings", {})
    counts = result["counts_per_change"]
    verdict = "meets" if result["meets_goal"] else "misses"
    lines += [
        "",
        f"all in: {result['usd_per_million']:.4f} $/million - {verdict} the {result['goal_usd_per_million']:.2f} goal for a "
        f"{settings.get('capacity_mode', '?')} Audit table; the naive design costs {result['naive_times_ours']}x as much",
        f"  pipeline {result['pipeline_usd_per_million']:.4f} $/million (notifications '{settings.get('notify_mode', '?')}'); "
        f"CloudWatch Logs {result['logs_usd_per_million']:.4f} $/million at level {settings.get('log_level', '?')}, "
        f"execution data {'in' if settings.get('include_execution_data') else 'out'}",
        f"  per change: {counts['audit_rows']} audit rows in {counts['audit_requests']} requests, "
        f"{counts['sns_messages']} notifications in {counts['sns_requests']} requests, "
        f"{counts['log_bytes']:.0f} bytes of execution log",
        _dynamodb_pricing(settings, result.get("dynamodb_floor_usd_per_month")),
    ]
    return "\n".join(lines)


def _dynamodb_pricing(settings: dict[str, Any], floor: dict[str, float] | None) -> str:
    if settings.get("capacity_mode") != "provisioned" or floor is None:
        return "DynamoDB (Audit table + byItem index): on-demand, per write request unit"
    return (
        f"DynamoDB (Audit table + byItem index): provisioned, WCU-hours at {settings['target_utilization']}% utilization; "
        f"plus a fixed floor of {floor['write']:.2f} $/month for the minimum write capacity "
        f"(2 x {settings['min_write_capacity']} WCU) and {floor['read']:.2f} $/month for the read capacity "
        f"(2 x {settings['read_capacity']} RCU), whatever the traffic"
    )
