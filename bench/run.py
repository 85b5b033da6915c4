"""Benchmarks (``make bench``): ratios first, absolute numbers beside them. Not part of the test suite.

Every figure is also given against a fixed reference workload timed in the same run, in turns with
it (stdlib only: a 2.5 KB DynamoDB JSON document through ``json`` and its numbers through ``Decimal``,
the kind of work the pipeline does), so a loaded or slower machine does not read as a regression:
compare the ``x reference`` columns between runs, the absolute ones only on one machine.

- the pure work per change, 1 KB and 100 KB items: decode the record, diff it, build its audit rows,
  archive line and notification (target: <= 30 us per 1 KB change);
- the trigger's import time against a bare ``import boto3``, in fresh interpreters taken in turns,
  the ratio pair by pair (target: <= 1.1x);
- end-to-end throughput of the default stack on the embedded AWS, in-process (target: >= 500
  changes/s) and through ``changetrail local`` from a separate process (target: >= 200 changes/s).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from boto3.dynamodb.types import TypeSerializer
from botocore.config import Config

from changetrail.embedded import quiet_handlers
from functions.decode import decode_record
from functions.diff import DiffSettings, change_notification, diff_changes
from functions.write_audit import WriteSettings, plan

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Configuration/stream/2026-01-01T00:00:00.000"
KEY = "ddb-changes/Configuration/2026/01/01/00/1-2-0123456789abcdef.jsonl"


def stream_records(count: int, item_size: int) -> list[dict[str, Any]]:
    serializer = TypeSerializer()
    records = []
    for n in range(count):
        old = {"key": f"item-{n:06d}", "value": n, "payload": "x" * max(0, item_size - 60), "tags": {"a", "b"}}
        new = {**old, "value": n + 1}
        records.append(
            {
                "eventID": f"event-{n}",
                "eventName": "MODIFY",
                "eventSourceARN": STREAM_ARN,
                "dynamodb": {
                    "ApproximateCreationDateTime": 1795000000 + n / 1000,
                    "Keys": {"key": {"S": old["key"]}},
                    "OldImage": {k: serializer.serialize(v) for k, v in old.items()},
                    "NewImage": {k: serializer.serialize(v) for k, v in new.items()},
                    "SequenceNumber": str(4100000000000000000000 + n),
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
            }
        )
    return records


REFERENCE_DOCUMENT = {
    "eventName": "MODIFY",
    "keys": {"key": {"S": "item-000001"}},
    "oldImage": {"key": {"S": "item-000001"}, "value": {"N": "1"}, "payload": {"S": "x" * 1000}, "tags": {"SS": ["a", "b"]}},
    "newImage": {"key": {"S": "item-000001"}, "value": {"N": "2"}, "payload": {"S": "x" * 1000}, "tags": {"SS": ["a", "b"]}},
    "numbers": [str(10**37 + n) for n in range(20)],
}


def reference_seconds(repeats: int = 2000) -> float:
    """Seconds of the reference workload, once (the median of ``repeats``, CPU time)."""
    from decimal import Decimal

    timings = []
    for _ in range(repeats):
        started = time.process_time()
        text = json.dumps(REFERENCE_DOCUMENT, separators=(",", ":"))
        [Decimal(number) for number in json.loads(text)["numbers"]]
        timings.append(time.process_time() - started)
    return statistics.median(timings) if min(timings) > 0 else (sum(timings) / len(timings))


def paired(measure: Any, pairs: int = 5) -> tuple[float, float]:
    """(median of ``measure()``, median of measure / reference), each taken right after a reference run."""
    runs = [(reference_seconds(), measure()) for _ in range(pairs)]
    return statistics.median(m for _, m in runs), statistics.median(m / r for r, m in runs)


def pure_seconds_per_change(item_size: int, changes: int, repeats: int = 5) -> float:
    """CPU seconds of everything Decode, Diff and WriteAudit compute for one change (no I/O)."""
    records = stream_records(changes, item_size)
    batch = {"eventSourceArn": STREAM_ARN, "firstSequenceNumber": "1", "lastSequenceNumber": "2", "recordCount": changes}
    diff_settings, write_settings = DiffSettings(), WriteSettings()
    timings = []
    for _ in range(repeats):
        started = time.process_time()
        decoded = {"batch": batch, "changes": [decode_record(r, ["key"], STREAM_ARN) for r in records], "rejected": []}
        for change in diff_changes(decoded, diff_settings)["changes"]:
            planned = plan(change, KEY, write_settings)
            change_notification(change, planned.audit_ids)
        timings.append((time.process_time() - started) / changes)
    return statistics.median(timings)


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def import_ratio(module: str, pairs: int = 21) -> dict[str, float]:
    """``import module`` against ``import boto3``, in turns, so a drifting machine slows both alike."""
    runs = [(import_seconds("boto3"), import_seconds(module)) for _ in range(pairs)]
    return {
        "boto3_import_ms": round(statistics.median(b for b, _ in runs) * 1000, 1),
        "trigger_import_ms": round(statistics.median(t for _, t in runs) * 1000, 1),
        "trigger_import_ratio": round(statistics.median(t / b for b, t in runs), 3),
    }


def put_items(ddb: Any, table: str, changes: int) -> None:
    for n in range(changes):
        ddb.put_item(TableName=table, Item={"key": {"S": f"item-{n % 100:03d}"}, "value": {"N": str(n)}})


def in_process_throughput(changes: int) -> float:
    """The default stack; changes written and carried through, per second of both."""
    from changetrail.embedded import EmbeddedAws, client

    with EmbeddedAws("dev") as aws:
        started = time.perf_counter()
        put_items(client("dynamodb"), aws.outputs["source_table_name"], changes)
        aws.settle(timeout=900)
        return changes / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def endpoint_throughput(changes: int) -> float:
    """``changetrail local`` in its own process; this process writes through the endpoint and waits for the audit rows."""
    port, outputs = free_port(), Path(tempfile.mkdtemp()) / "outputs.json"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "changetrail.cli", "local", "--port", str(port), "--outputs", str(outputs)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (outputs.exists() and outputs.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.2)
        stack = json.loads(outputs.read_text())
        ddb = boto3.client(
            "dynamodb", endpoint_url=stack["endpoint_url"], region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x", config=Config(retries={"max_attempts": 2}),
        )  # fmt: skip
        started = time.perf_counter()
        put_items(ddb, stack["source_table_name"], changes)
        while ddb.scan(TableName=stack["audit_table_name"], Select="COUNT")["Count"] < changes:
            if time.monotonic() > deadline + 900:
                raise TimeoutError("the endpoint did not audit every change")
            time.sleep(0.1)
        return changes / (time.perf_counter() - started)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=1000, help="changes for each throughput run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    quiet_handlers()
    pure_1kb, pure_1kb_ratio = paired(lambda: pure_seconds_per_change(1024, 2000))
    pure_100kb, pure_100kb_ratio = paired(lambda: pure_seconds_per_change(100 * 1024, 50), pairs=3)
    reference_before = reference_seconds()
    local = in_process_throughput(args.changes)
    endpoint = endpoint_throughput(args.changes)
    reference = statistics.mean([reference_before, reference_seconds()])
    results: dict[str, Any] = {
        "reference_us": round(reference * 1e6, 2),
        "pure_us_per_1kb_change": round(pure_1kb * 1e6, 1),
        "pure_1kb_x_reference": round(pure_1kb_ratio, 2),
        "pure_us_per_100kb_change": round(pure_100kb * 1e6, 1),
        "pure_100kb_x_reference": round(pure_100kb_ratio, 1),
        **import_ratio("functions.trigger"),
        "local_changes_per_second": round(local, 1),
        # changes a second per reference workload a second: the same on a machine twice as fast
        "local_x_reference": round(local * reference, 4),
        "endpoint_changes_per_second": round(endpoint, 1),
        "endpoint_x_reference": round(endpoint * reference, 4),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    r = results
    print(f"reference workload:              {r['reference_us']:>8} us")
    print(f"decode+diff+rows, 1 KB change:   {r['pure_us_per_1kb_change']:>8} us  = {r['pure_1kb_x_reference']} x reference")
    print(f"decode+diff+rows, 100 KB change: {r['pure_us_per_100kb_change']:>8} us  = {r['pure_100kb_x_reference']} x reference")
    imports = f"({r['trigger_import_ms']} vs {r['boto3_import_ms']} ms, target <= 1.1x)"
    print(f"trigger import / boto3:          {r['trigger_import_ratio']:>8}x  {imports}")
    print(f"in-process throughput:           {r['local_changes_per_second']:>8} changes/s  x reference {r['local_x_reference']}")
    endpoint = f"{r['endpoint_changes_per_second']:>8} changes/s  x reference {r['endpoint_x_reference']}"
    print(f"through changetrail local:       {endpoint}")


if __name__ == "__main__":
    main()
