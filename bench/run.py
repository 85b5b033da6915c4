"""Benchmarks (``make bench``): ratios first, absolute numbers beside them. Not part of the test suite.

- decode + diff CPU time per change, 1 KB and 100 KB items (target: <= 50 us per 1 KB change);
- the trigger's import time against a bare ``import boto3``, each in fresh interpreters in the
  same run (target: <= 1.2x);
- local end-to-end throughput on the embedded AWS (target: >= 200 changes/s).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from changetrail.embedded import quiet_handlers
from functions.decode import decode_record
from functions.diff import DiffSettings, diff_changes

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Configuration/stream/2026-01-01T00:00:00.000"


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


def decode_diff_seconds_per_change(item_size: int, changes: int, repeats: int = 5) -> float:
    records = stream_records(changes, item_size)
    batch = {"eventSourceArn": STREAM_ARN, "firstSequenceNumber": "1", "lastSequenceNumber": "2", "recordCount": changes}
    settings = DiffSettings()
    timings = []
    for _ in range(repeats):
        started = time.process_time()
        decoded = {"batch": batch, "changes": [decode_record(r, ["key"], STREAM_ARN) for r in records]}
        diff_changes(decoded, settings)
        timings.append((time.process_time() - started) / changes)
    return statistics.median(timings)


def import_seconds(module: str, repeats: int = 7) -> float:
    """Median wall time of ``import <module>`` in fresh interpreters (what a cold start pays)."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    samples = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(samples)


def throughput(changes: int) -> float:
    from changetrail.embedded import EmbeddedAws, client

    with EmbeddedAws("dev", {"changetrail:notifications": {"mode": "batch"}}) as aws:
        ddb = client("dynamodb")
        started = time.perf_counter()
        for n in range(changes):
            ddb.put_item(
                TableName=aws.outputs["source_table_name"], Item={"key": {"S": f"item-{n % 100:03d}"}, "value": {"N": str(n)}}
            )
        aws.settle(timeout=900)
        return changes / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=1000, help="changes for the throughput run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    quiet_handlers()
    results: dict[str, Any] = {}
    results["decode_diff_us_per_1kb_change"] = round(decode_diff_seconds_per_change(1024, 2000) * 1e6, 1)
    results["decode_diff_us_per_100kb_change"] = round(decode_diff_seconds_per_change(100 * 1024, 50) * 1e6, 1)
    boto3_import, trigger_import = import_seconds("boto3"), import_seconds("functions.trigger")
    results.update(
        boto3_import_ms=round(boto3_import * 1000, 1),
        trigger_import_ms=round(trigger_import * 1000, 1),
        trigger_import_ratio=round(trigger_import / boto3_import, 2),
    )
    results["local_changes_per_second"] = round(throughput(args.changes), 1)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    r = results
    ratio_decode = r["decode_diff_us_per_1kb_change"] / 50
    ratio_throughput = r["local_changes_per_second"] / 200
    print(f"decode+diff, 1 KB change:   {r['decode_diff_us_per_1kb_change']:>8} us  ({ratio_decode:.2f}x the 50 us target)")
    print(f"decode+diff, 100 KB change: {r['decode_diff_us_per_100kb_change']:>8} us")
    print(f"trigger import / boto3:     {r['trigger_import_ratio']:>8}x  ({r['trigger_import_ms']} vs {r['boto3_import_ms']} ms)")
    print(f"local throughput:           {r['local_changes_per_second']:>8} changes/s ({ratio_throughput:.2f}x the 200/s target)")


if __name__ == "__main__":
    main()
