"""The fault matrix: for each fault, changes flow while something fails, then the fault clears,
redrive runs, and every change must have exactly one audit row and one archive line, or, if the
fault made it poison for good, be in the DLQ alone.

``make faults`` runs 1,000 changes per fault and prints the table; ``tests/e2e/test_faults.py``
runs a small version of the same matrix in the suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client, quiet_handlers
from changetrail.embedded.faults import FAULTS
from changetrail.executions import InterpreterHistory
from changetrail.history import history_entries
from changetrail.redrive import SERVICES, Redriver, RedriveSettings
from functions.decode import item_key

THROTTLES = {"audit table throttled"}
"""Transient faults: they clear while executions are still retrying, as throttles do."""
OVERRIDES = {"changetrail:trigger": {"batchSize": 50, "maximumRetryAttempts": 2}}
FAULT_OVERRIDES: dict[str, dict[str, Any]] = {
    "parallelization 4, one lane failing": {"changetrail:trigger": {"parallelizationFactor": 4, "bisectBatchOnError": False}},
    "composite keys, separator in values": {"changetrail:source": {"rangeKey": "sk"}},
}


@dataclass
class Row:
    fault: str
    changes: int
    lost: int
    duplicated_rows: int
    duplicated_lines: int
    poison: int
    """Changes the fault broke for good."""
    dead_letters: int
    """Letters left in the queues after redrive: exactly the poison, one each."""
    misfiled: int
    """Audit rows found in another item's history."""
    unnotified: int
    """Audited changes no notification announced (at-least-once: repeats are allowed, silence is not)."""
    redriven: int
    failed_executions: int
    injected: int | None
    """How often the fault fired (None where it is a state, e.g. a bucket policy, not a count)."""
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


LARGE_PADDING = 300 * 1024
"""Large changes: each item carries this much more, so its archive body is too large for the state."""


def item_of(n: int, items: int, composite: bool) -> dict[str, Any]:
    """Change ``n``'s item. Composite keys put the separator inside values: ("p1|q", "r") and ("p1", "q|r") differ."""
    if not composite:
        return {"key": {"S": f"item-{n % items:04d}"}}
    pair, side = divmod(n % items, 2)
    return {"key": {"S": f"p{pair}|q"}, "sk": {"S": "r"}} if side else {"key": {"S": f"p{pair}"}, "sk": {"S": "q|r"}}


def write(table: str, numbers: range, items: int, composite: bool, padding: int = 0) -> None:
    ddb = client("dynamodb")
    pad = {"pad": {"S": "p" * padding}} if padding else {}
    for n in numbers:
        ddb.put_item(TableName=table, Item={**item_of(n, items, composite), "value": {"N": str(n)}, **pad})


def redrive_until_empty(aws: EmbeddedAws, rounds: int = 6) -> int:
    clients = {name: client(name) for name in SERVICES}
    redriver = Redriver(aws.outputs, clients, InterpreterHistory(clients["stepfunctions"], aws.outputs["state_machine_arn"]))
    redriven = 0
    for _ in range(rounds):
        summary = redriver.run(RedriveSettings(wait=True, visibility_timeout=2))
        redriven += summary.totals["redriven"]
        if redriver.depth() == summary.totals["left"]:  # only what redrive leaves on purpose: poison
            break
        time.sleep(2)
    return redriven


def scan(table: str) -> list[dict[str, Any]]:
    pages = client("dynamodb").get_paginator("scan").paginate(TableName=table)
    return [item for page in pages for item in page["Items"]]


def value_of(row: dict[str, Any]) -> int:
    new = row["newValue"]
    return int(new["M"]["value"]["N"] if "M" in new else new["N"])


def observed(aws: EmbeddedAws) -> tuple[Counter[int], Counter[int], list[dict[str, Any]]]:
    """How often each change (its unique value) appears in the Audit table and in the archive."""
    rows = scan(aws.outputs["audit_table_name"])
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), aws.outputs["archive_bucket_name"]
    archived: Counter[int] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            for line in s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode().splitlines():
                archived[int(json.loads(line)["newImage"]["value"]["N"])] += 1
    return Counter(value_of(row) for row in rows), archived, rows


def subscribe(aws: EmbeddedAws) -> str:
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="matrix-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=aws.outputs["topic_arn"], Protocol="sqs", Endpoint=arn)
    return url


def notified(url: str) -> set[str]:
    """The eventIds the subscriber was told of."""
    sqs, event_ids = client("sqs"), set()
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            event_ids.add(json.loads(json.loads(message["Body"])["Message"])["eventId"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return event_ids


def dead_letters(aws: EmbeddedAws) -> list[dict[str, Any]]:
    """Every letter left in both queues (looked at, then left there)."""
    sqs, letters = client("sqs"), []
    for url in (aws.outputs["dlq_url"], aws.outputs["stream_failures_queue_url"]):
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
            letters += [json.loads(message["Body"]) for message in batch]
    return letters


def misfiled(aws: EmbeddedAws, rows: list[dict[str, Any]], items: int, composite: bool) -> int:
    """Rows in an item's history that belong to another item (each value's item is known)."""
    ddb, by_id, wrong = client("dynamodb"), {row["id"]["S"]: row for row in rows}, 0
    for n in range(items):
        key = item_key([value["S"] for value in item_of(n, items, composite).values()])
        entries = history_entries(ddb, aws.outputs["audit_table_name"], aws.outputs["audit_history_index"], key)
        wrong += sum(1 for entry in entries if value_of(by_id[entry["id"]["S"]]) % items != n)
    return wrong


def run_fault(name: str, changes: int, items: int = 50) -> Row:
    started = time.perf_counter()
    composite = name == "composite keys, separator in values"
    padding = LARGE_PADDING if name.startswith("large changes") else 0
    overrides = {**OVERRIDES, **FAULT_OVERRIDES.get(name, {})}
    if "changetrail:trigger" in FAULT_OVERRIDES.get(name, {}):
        overrides["changetrail:trigger"] = {**OVERRIDES["changetrail:trigger"], **FAULT_OVERRIDES[name]["changetrail:trigger"]}
    with EmbeddedAws("dev", overrides) as aws:
        table, half = aws.outputs["source_table_name"], changes // 2
        inbox = subscribe(aws)
        with FAULTS[name](aws) as raised:
            write(table, range(0, half), items, composite, padding)
            aws.pump()
            if name not in THROTTLES:
                aws.wait_for_executions(timeout=600)
            else:  # a throttle clears while the writes it hit are still being retried
                deadline = time.monotonic() + 60
                while not raised["count"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
        write(table, range(half, changes), items, composite, padding)
        executions = aws.settle(timeout=600)
        redriven = redrive_until_empty(aws)
        audited, archived, rows = observed(aws)
        letters = dead_letters(aws)
        told = notified(inbox)
        wrongly_filed = misfiled(aws, rows, items, composite)
        uploads = client("s3", ARCHIVE_ACCOUNT).list_multipart_uploads(Bucket=aws.outputs["archive_bucket_name"])
    if composite:  # the items whose keys, joined without escaping, would share a history with another's
        joined = Counter("|".join(v["S"] for v in item_of(n, items, composite).values()) for n in range(items))
        raised = {"count": sum(n for n in joined.values() if n > 1)}
    poisoned = set(raised.get("poisoned", ()))
    expected = set(range(changes)) - poisoned
    return Row(
        fault=name,
        changes=changes,
        lost=len(expected - set(audited)) + len(expected - set(archived)),
        duplicated_rows=sum(n - 1 for n in audited.values() if n > 1),
        duplicated_lines=sum(n - 1 for n in archived.values() if n > 1),
        poison=len(poisoned),
        dead_letters=len(letters),
        misfiled=wrongly_filed,
        unnotified=len({row["eventId"]["S"] for row in rows} - told),
        redriven=redriven,
        failed_executions=sum(1 for e in executions if e["status"] == "FAILED"),
        injected=raised.get("count"),
        seconds=round(time.perf_counter() - started, 1),
        detail={
            "poison audited": len(poisoned & set(audited)),
            "letters": [letter.get("only") for letter in letters],
            "incomplete uploads": len(uploads.get("Uploads", [])),  # left by crashes; the lifecycle aborts them
        },
    )


COLUMNS = (
    ("fault", 44),
    ("changes", 7),
    ("lost", 5),
    ("dup rows", 8),
    ("dup lines", 9),
    ("poison", 6),
    ("in DLQ", 6),
    ("misfiled", 8),
    ("unnotified", 10),
    ("redriven", 8),
    ("failed exec", 11),
    ("injected", 8),
    ("seconds", 7),
)


def line(cells: tuple[Any, ...]) -> str:
    """The fault name left-aligned, every count right-aligned under its column."""
    return " ".join(
        f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, COLUMNS, strict=True))
    )


def table(rows: list[Row]) -> str:
    lines = [line(tuple(title for title, _ in COLUMNS))]
    for r in rows:
        cells = (
            r.fault,
            r.changes,
            r.lost,
            r.duplicated_rows,
            r.duplicated_lines,
            r.poison,
            r.dead_letters,
            r.misfiled,
            r.unnotified,
        )
        lines.append(line((*cells, r.redriven, r.failed_executions, "-" if r.injected is None else r.injected, r.seconds)))
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
