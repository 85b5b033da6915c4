"""The fault matrix: for each fault, changes flow while one dependency fails, then the fault clears,
redrive runs, and every change must have exactly one audit row and one archive line.

``make faults`` runs 1,000 changes per fault and prints the table; ``tests/e2e/test_faults.py``
runs a small version of the same matrix in the suite.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import Counter
from dataclasses import dataclass

from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client, quiet_handlers
from changetrail.embedded.faults import FAULTS
from changetrail.executions import InterpreterHistory
from changetrail.redrive import SERVICES, Redriver, RedriveSettings

THROTTLES = {"audit table throttled"}
"""Transient faults: they clear while executions are still retrying, as throttles do."""
OVERRIDES = {"changetrail:trigger": {"batchSize": 50, "maximumRetryAttempts": 2}}


@dataclass
class Row:
    fault: str
    changes: int
    lost: int
    duplicated: int
    redriven: int
    failed_executions: int
    injected: int | None
    """How often the fault fired (None where it is a state, e.g. a bucket policy, not a count)."""
    seconds: float


def write(table: str, numbers: range, items: int) -> None:
    ddb = client("dynamodb")
    for n in numbers:
        ddb.put_item(TableName=table, Item={"key": {"S": f"item-{n % items:04d}"}, "value": {"N": str(n)}})


def redrive_until_empty(aws: EmbeddedAws, rounds: int = 5) -> int:
    clients = {name: client(name) for name in SERVICES}
    redriver = Redriver(aws.outputs, clients, InterpreterHistory(clients["stepfunctions"], aws.outputs["state_machine_arn"]))
    redriven = 0
    for _ in range(rounds):
        summary = redriver.run(RedriveSettings(wait=True, visibility_timeout=2))
        redriven += summary.totals["redriven"]
        if redriver.depth() == 0:
            break
        time.sleep(2)
    return redriven


def observed(aws: EmbeddedAws) -> tuple[Counter[int], Counter[int]]:
    """How often each change (its unique value) appears in the Audit table and in the archive."""
    ddb, s3 = client("dynamodb"), client("s3", ARCHIVE_ACCOUNT)
    rows = [
        item for page in ddb.get_paginator("scan").paginate(TableName=aws.outputs["audit_table_name"]) for item in page["Items"]
    ]
    audited = Counter(int(r["newValue"]["M"]["value"]["N"] if "M" in r["newValue"] else r["newValue"]["N"]) for r in rows)
    bucket = aws.outputs["archive_bucket_name"]
    archived: Counter[int] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode().splitlines():
                import json

                archived[int(json.loads(line)["newImage"]["value"]["N"])] += 1
    return audited, archived


def run_fault(name: str, changes: int, items: int = 50) -> Row:
    started = time.perf_counter()
    with EmbeddedAws("dev", OVERRIDES) as aws:
        table, half = aws.outputs["source_table_name"], changes // 2
        with FAULTS[name](aws.outputs) as raised:
            write(table, range(0, half), items)
            aws.pump()
            if name not in THROTTLES:
                aws.wait_for_executions(timeout=600)
            else:
                time.sleep(0.5)
        write(table, range(half, changes), items)
        executions = aws.settle(timeout=600)
        redriven = redrive_until_empty(aws)
        audited, archived = observed(aws)
    expected = set(range(changes))
    lost = len(expected - set(audited)) + len(expected - set(archived))
    duplicated = sum(n - 1 for n in audited.values() if n > 1) + sum(n - 1 for n in archived.values() if n > 1)
    failed = sum(1 for e in executions if e["status"] == "FAILED")
    return Row(name, changes, lost, duplicated, redriven, failed, raised.get("count"), round(time.perf_counter() - started, 1))


def table(rows: list[Row]) -> str:
    head = f"{'fault':<32} {'changes':>7} {'lost':>5} {'duplicated':>10} {'redriven':>8} {'failed exec':>11} {'injected':>8}"
    lines = [f"{head} {'seconds':>8}"]
    lines += [
        f"{r.fault:<32} {r.changes:>7} {r.lost:>5} {r.duplicated:>10} {r.redriven:>8} {r.failed_executions:>11} "
        f"{'-' if r.injected is None else r.injected:>8} {r.seconds:>8}"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="run only these faults")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    quiet_handlers()
    rows = []
    for name in args.fault or list(FAULTS):
        rows.append(run_fault(name, args.changes))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
