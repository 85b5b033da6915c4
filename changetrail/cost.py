"""``changetrail cost``: AWS requests per change and $ per million changes, measured not guessed.

Runs N synthetic changes (a quarter inserts, the rest updates of one attribute, items padded to
``item_size`` bytes) through the stack on the embedded AWS, counts every request the pipeline
makes (the request recorder sees all of them), and prices the counts with a dated price table
(``data/prices-us-east-1.json``). The naive column prices the same work done the naive way: one
execution, one archive object and one SNS publish per change. A provisioned Audit table
(``audit.capacityMode``) is priced in WCU-hours at its target utilization, its fixed minimum apart.
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

PRICES_PATH = Path(__file__).with_name("data") / "prices-us-east-1.json"
EXPRESS_MEMORY_GB = 64 / 1024  # Express bills memory in 64 MB steps; this state data stays far below
HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class Usage:
    """What N changes cost in requests and billed units."""

    changes: int
    executions: int
    express_gb_seconds: float
    lambda_requests: int
    lambda_gb_seconds: float
    audit_writes: int
    audit_wru: float
    s3_puts: int
    sns_publishes: int
    sqs_sends: int
    log_bytes: int

    def per_change(self) -> dict[str, float]:
        return {
            "lambda": self.lambda_requests / self.changes,
            "stepfunctions": self.executions / self.changes,
            "dynamodb": self.audit_writes / self.changes,
            "s3": self.s3_puts / self.changes,
            "sns": self.sns_publishes / self.changes,
            "sqs": self.sqs_sends / self.changes,
        }


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size rules, closely enough to count write units."""
    ((tag, inner),) = value.items()
    if tag == "S":
        return len(inner.encode())
    if tag == "N":
        return math.ceil(len(inner.lstrip("-").replace(".", "")) / 2) + 1
    if tag == "B":
        return len(inner) if isinstance(inner, (bytes, bytearray)) else len(inner) * 3 // 4
    if tag in ("BOOL", "NULL"):
        return 1
    if tag in ("SS", "NS", "BS"):
        return sum(attribute_size({tag[0]: item}) for item in inner)
    if tag == "L":
        return 3 + sum(1 + attribute_size(item) for item in inner)
    return 3 + sum(1 + len(name.encode()) + attribute_size(item) for name, item in inner.items())


def write_units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(sum(len(name.encode()) + attribute_size(value) for name, value in item.items()) / 1024))


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


def synthetic_changes(table: str, changes: int, item_size: int) -> None:
    ddb = client("dynamodb")
    items = max(1, changes // 4)
    padding = "x" * max(0, item_size - 60)
    for n in range(changes):
        ddb.put_item(
            TableName=table, Item={"key": {"S": f"item-{n % items:06d}"}, "value": {"N": str(n)}, "payload": {"S": padding}}
        )


def measure(
    stack: str, changes: int, item_size: int, overrides: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
) -> Usage:
    """Run the changes; ``settings`` (if given) receives the measured stack's cost-relevant settings."""
    with EmbeddedAws(stack, overrides) as aws, recording() as log:
        if settings is not None:
            settings.update(_settings(aws))
        lambdas.durations.clear()
        for start in range(0, changes, 500):
            synthetic_changes(aws.outputs["source_table_name"], min(500, changes - start), item_size)
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
    rows = [
        item
        for page in client("dynamodb").get_paginator("scan").paginate(TableName=outputs["audit_table_name"])
        for item in page["Items"]
    ]
    audit_writes = log.count("dynamodb", "PutItem", outputs["audit_table_name"])
    table = client("dynamodb").describe_table(TableName=outputs["audit_table_name"])["Table"]
    wru_per_write = sum(row_write_units(row, table) for row in rows) / max(1, len(rows))
    return Usage(
        changes=changes,
        executions=log.count("sfn", "StartExecution"),
        express_gb_seconds=express * EXPRESS_MEMORY_GB,
        lambda_requests=log.count("lambda", "Invoke"),
        lambda_gb_seconds=lambda_gb_s,
        audit_writes=audit_writes,
        audit_wru=audit_writes * wru_per_write,
        s3_puts=log.count("s3", "PutObject"),
        sns_publishes=log.count("sns", "Publish"),
        sqs_sends=log.count("sqs", "SendMessage"),
        log_bytes=aws.execution_logs.ingested_bytes if aws.execution_logs else 0,
    )


def naive(usage: Usage) -> Usage:
    """The same changes, one execution / archive object / publish each (same work, same data)."""
    per_execution_lambda = 2  # Decode and Diff
    trigger_requests = usage.lambda_requests - per_execution_lambda * usage.executions
    return replace(
        usage,
        executions=usage.changes,
        express_gb_seconds=usage.changes * 0.1 * EXPRESS_MEMORY_GB,  # the 100 ms minimum, favouring naive
        lambda_requests=trigger_requests + per_execution_lambda * usage.changes,
        s3_puts=usage.changes,
        sns_publishes=usage.changes if usage.sns_publishes else 0,  # notifications off stay off
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
        "sns": float(usage.sns_publishes * p["sns"]["publish_request_64kb"]),
        "sqs": float(usage.sqs_sends * p["sqs_standard"]["request_64kb"]),
        "logs": float(Decimal(usage.log_bytes) / Decimal(1024**3) * p["cloudwatch_logs"]["ingested_gb"]),
    }


def per_million(costs: dict[str, float], changes: int) -> dict[str, float]:
    return {service: dollars * 1_000_000 / changes for service, dollars in costs.items()}


TARGETS_USD_PER_MILLION = {"off": 1.00, "batch": 1.00, "change": 1.60}
"""Issue 6: audit + archive per million 1 KB changes, without / with per-change notifications (logs apart)."""


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
    pipeline = round(sum(v for k, v in ours.items() if k != "logs"), 4)
    target = TARGETS_USD_PER_MILLION.get(aws_settings.get("notify_mode", "change"), 1.60)
    return {
        "stack": stack,
        "changes": changes,
        "item_size": item_size,
        "prices_as_of": prices["as_of"],
        "settings": aws_settings,
        "usd_per_million": round(sum(ours.values()), 4),
        "naive_usd_per_million": round(sum(theirs.values()), 4),
        "usd_per_million_without_logs": pipeline,
        "pipeline_usd_per_million": pipeline,
        "logs_usd_per_million": round(ours["logs"], 4),
        "dynamodb_floor_usd_per_month": floor,
        "pipeline_target_usd_per_million": target,
        "pipeline_meets_target": pipeline <= target,
        "usd_per_million_by_service": {k: round(v, 4) for k, v in ours.items()},
        "naive_usd_per_million_by_service": {k: round(v, 4) for k, v in theirs.items()},
        "requests_per_change": {k: round(v, 4) for k, v in usage.per_change().items()},
        "naive_requests_per_change": {k: round(v, 4) for k, v in naive(usage).per_change().items()},
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
    verdict = "meets" if result["pipeline_meets_target"] else "misses"
    lines += [
        "",
        f"pipeline (everything but logs): {result['pipeline_usd_per_million']:.4f} $/million - {verdict} the "
        f"{result['pipeline_target_usd_per_million']:.2f} target for notifications '{settings.get('notify_mode', '?')}'",
        f"CloudWatch Logs (execution logging): {result['logs_usd_per_million']:.4f} $/million at level "
        f"{settings.get('log_level', '?')}, execution data {'in' if settings.get('include_execution_data') else 'out'} "
        "(workflow.logLevel ERROR logs only failed executions)",
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
