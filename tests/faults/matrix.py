"""The fault matrix: for each fault, changes flow while something fails, then the fault clears,
redrive runs, and every change must have exactly one audit row and one archive line, or, if the
fault made it poison for good, be in the DLQ alone.

With two sources (``--sources 2``: tables Alpha and Beta, written at once) the fault hits Alpha's
changes only, and the row also counts what Beta saw meanwhile: its changes still unaudited when the
fault window closed (*other late*) and its dead letters and failed executions (*other DLQ*), both
of which must be 0.

``make faults`` runs 1,000 changes per fault with one source and 200 per source with two, and prints
the tables; ``tests/e2e/test_faults.py`` runs a small version of the same matrix in the suite.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from changetrail.archive import json_lines
from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client, quiet_handlers
from changetrail.embedded.faults import FAULTS
from changetrail.executions import InterpreterHistory
from changetrail.history import history_entries
from changetrail.redrive import SERVICES, DeadLetter, Redriver, RedriveSettings, classify
from functions.decode import item_key, table_of_arn

THROTTLES = {"audit table throttled"}
"""Transient faults: they clear while executions are still retrying, as throttles do."""
OVERRIDES = {"changetrail:trigger": {"batchSize": 50, "maximumRetryAttempts": 2}}
FAULT_OVERRIDES: dict[str, dict[str, Any]] = {
    "parallelization 4, one lane failing": {"changetrail:trigger": {"parallelizationFactor": 4, "bisectBatchOnError": False}},
    "composite keys, separator in values": {"changetrail:source": {"rangeKey": "sk"}},
}
ONE_SOURCE = ("Configuration",)
TWO_SOURCES = ("Alpha", "Beta")
"""Two sources: the fault hits the first one's changes, the second shows what the others see meanwhile."""

Change = tuple[str, int]
"""(table, value): each change writes a value unique within its table."""


@dataclass
class Row:
    fault: str
    changes: int
    """Across every source."""
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
    other_late: int | None = None
    """Two sources: the other source's changes written in the fault window and not audited when it closed."""
    other_dead_lettered: int | None = None
    """Two sources: the other source's failed executions and stream-failure letters, before any redrive."""
    detail: dict[str, Any] = field(default_factory=dict)


LARGE_PADDING = 300 * 1024
"""Large changes: each item carries this much more, so its archive body is too large for the state."""


def item_of(n: int, items: int, composite: bool) -> dict[str, Any]:
    """Change ``n``'s item. Composite keys put the separator inside values: ("p1|q", "r") and ("p1", "q|r") differ."""
    if not composite:
        return {"key": {"S": f"item-{n % items:04d}"}}
    pair, side = divmod(n % items, 2)
    return {"key": {"S": f"p{pair}|q"}, "sk": {"S": "r"}} if side else {"key": {"S": f"p{pair}"}, "sk": {"S": "q|r"}}


def write(tables: tuple[str, ...], numbers: range, items: int, composite: bool, padding: int = 0) -> None:
    """Change ``n`` of every table, for each ``n`` in turn: the sources are written at once."""
    ddb = client("dynamodb")
    pad = {"pad": {"S": "p" * padding}} if padding else {}
    for n in numbers:
        for table in tables:
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


def audited(aws: EmbeddedAws) -> tuple[Counter[Change], list[dict[str, Any]]]:
    rows = scan(aws.outputs["audit_table_name"])
    return Counter((row["table"]["S"], value_of(row)) for row in rows), rows


def observed(aws: EmbeddedAws) -> tuple[Counter[Change], Counter[Change], list[dict[str, Any]]]:
    """How often each change appears in the Audit table and in the archive."""
    rows_of, rows = audited(aws)
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), aws.outputs["archive_bucket_name"]
    archived: Counter[Change] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            for text in json_lines(s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()):
                line = json.loads(text)
                archived[(line["table"], int(line["newImage"]["value"]["N"]))] += 1
    return rows_of, archived, rows


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


def queue_urls(aws: EmbeddedAws) -> list[str]:
    return [aws.outputs["dlq_url"], *(source["stream_failures_queue_url"] for source in aws.outputs["sources"])]


def dead_letters(aws: EmbeddedAws, release: bool = False) -> list[dict[str, Any]]:
    """Every letter in the queues, each with the table of its changes (``letterTable``): looked at and left there,
    hidden for a while, or at once visible again with ``release``."""
    sqs, letters = client("sqs"), []
    for url in queue_urls(aws):
        taken = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", []):
            for message in batch:
                body = json.loads(message["Body"])
                letter = DeadLetter(url, message["ReceiptHandle"], message["MessageId"], body, classify(body))
                letters.append({**body, "letterTable": letter.table})
                taken.append(message["ReceiptHandle"])
        for receipt in taken if release else []:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt, VisibilityTimeout=0)
    return letters


def failed_executions_of(aws: EmbeddedAws, table: str) -> int:
    sfn = client("stepfunctions")
    failed = [e for e in aws.executions() if e["status"] == "FAILED"]
    inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in failed]
    return sum(1 for given in inputs if table_of_arn(given.get("batch", {}).get("eventSourceArn", "")) == table)


def wait_for_table(aws: EmbeddedAws, table: str, timeout: float = 120.0) -> None:
    """Until no execution of ``table``'s changes is running (the other table's may go on retrying)."""
    sfn, deadline = client("stepfunctions"), time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = sfn.list_executions(stateMachineArn=aws.outputs["state_machine_arn"], statusFilter="RUNNING")["executions"]
        inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in running]
        if not any(f"table/{table}/" in json.dumps(given.get("batch", {})) for given in inputs):
            return
        time.sleep(0.05)
    raise TimeoutError(f"executions of {table} still running after {timeout}s")


def misfiled(aws: EmbeddedAws, rows: list[dict[str, Any]], items: int, composite: bool, tables: tuple[str, ...]) -> int:
    """Rows in an item's history that belong to another item (each value's item is known); per table, as
    ``history --table`` reads them (two tables hold the same keys)."""
    ddb, by_id, wrong = client("dynamodb"), {row["id"]["S"]: row for row in rows}, 0
    for n in range(items):
        key = item_key([value["S"] for value in item_of(n, items, composite).values()])
        entries = history_entries(ddb, aws.outputs["audit_table_name"], aws.outputs["audit_history_index"], key)
        for table in tables:
            mine = [entry for entry in entries if entry["table"]["S"] == table]
            wrong += sum(1 for entry in mine if value_of(by_id[entry["id"]["S"]]) % items != n)
    return wrong


def with_sources(tables: tuple[str, ...], range_key: str | None) -> Any:
    """A ``before_deploy`` hook: the stack audits ``tables`` (the dev stack's own source when it is one)."""

    def configure(config: dict[str, Any]) -> dict[str, Any]:
        if tables == ONE_SOURCE:
            return config
        config = {key: value for key, value in config.items() if key != "changetrail:source"}
        config["changetrail:sources"] = [
            {"tableName": table, "hashKey": "key", **({"rangeKey": range_key} if range_key else {})} for table in tables
        ]
        return config

    return configure


def run_fault(name: str, changes: int, items: int = 50, tables: tuple[str, ...] = ONE_SOURCE) -> Row:
    """``changes`` per table; the fault hits the first table (every table when there is one)."""
    started = time.perf_counter()
    composite = name == "composite keys, separator in values"
    padding = LARGE_PADDING if name.startswith("large changes") else 0
    overrides = {**OVERRIDES, **FAULT_OVERRIDES.get(name, {})}
    if "changetrail:trigger" in FAULT_OVERRIDES.get(name, {}):
        overrides["changetrail:trigger"] = {**OVERRIDES["changetrail:trigger"], **FAULT_OVERRIDES[name]["changetrail:trigger"]}
    hit, others = (tables[0], tables[1:]) if len(tables) > 1 else (None, ())
    late = 0
    with EmbeddedAws("dev", overrides, before_deploy=with_sources(tables, "sk" if composite else None)) as aws:
        half = changes // 2
        inbox = subscribe(aws)
        with FAULTS[name](aws, hit) as raised:
            write(tables, range(0, half), items, composite, padding)
            aws.pump()
            if name not in THROTTLES:
                aws.wait_for_executions(timeout=600)
            else:  # a throttle clears while the writes it hit are still being retried
                deadline = time.monotonic() + 60
                while not raised["count"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)
            if others:  # what the other sources have of the window's changes as it closes
                for other in others:
                    wait_for_table(aws, other)
                done, _ = audited(aws)
                late = sum(1 for other in others for n in range(half) if (other, n) not in done)
        write(tables, range(half, changes), items, composite, padding)
        executions = aws.settle(timeout=600)
        other_letters = 0
        if others:
            before = dead_letters(aws, release=True)
            other_letters = sum(1 for letter in before if letter["letterTable"] in others)
            other_letters += sum(failed_executions_of(aws, other) for other in others)
        redriven = redrive_until_empty(aws)
        audited_changes, archived, rows = observed(aws)
        letters = dead_letters(aws)
        told = notified(inbox)
        wrongly_filed = misfiled(aws, rows, items, composite, tables)
        uploads = client("s3", ARCHIVE_ACCOUNT).list_multipart_uploads(Bucket=aws.outputs["archive_bucket_name"])
    if composite:  # the items whose keys, joined without escaping, would share a history with another's
        joined = Counter("|".join(v["S"] for v in item_of(n, items, composite).values()) for n in range(items))
        raised = {"count": sum(n for n in joined.values() if n > 1) * len(tables)}
    poisoned = {(hit or tables[0], value) for value in raised.get("poisoned", ())}
    expected = {(table, n) for table in tables for n in range(changes)} - poisoned
    return Row(
        fault=name,
        changes=changes * len(tables),
        lost=len(expected - set(audited_changes)) + len(expected - set(archived)),
        duplicated_rows=sum(n - 1 for n in audited_changes.values() if n > 1),
        duplicated_lines=sum(n - 1 for n in archived.values() if n > 1),
        poison=len(poisoned),
        dead_letters=len(letters),
        misfiled=wrongly_filed,
        unnotified=len({row["eventId"]["S"] for row in rows} - told),
        redriven=redriven,
        failed_executions=sum(1 for e in executions if e["status"] == "FAILED"),
        injected=raised.get("count"),
        seconds=round(time.perf_counter() - started, 1),
        other_late=late if others else None,
        other_dead_lettered=other_letters if others else None,
        detail={
            "poison audited": len(poisoned & set(audited_changes)),
            "letters": [letter.get("only") for letter in letters],
            "letter tables": sorted({letter["letterTable"] for letter in letters}),
            "incomplete uploads": len(uploads.get("Uploads", [])),  # left by crashes; the lifecycle aborts them
        },
    )


COLUMNS = (
    ("fault", 52),
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
OTHER_COLUMNS = (("other late", 10), ("other DLQ", 9))
"""Two sources: what the source the fault did not hit saw."""


def line(cells: tuple[Any, ...], columns: tuple[tuple[str, int], ...] = COLUMNS) -> str:
    """The fault name left-aligned, every count right-aligned under its column."""
    return " ".join(
        f"{cell:<{width}}" if i == 0 else f"{cell:>{width}}"
        for i, (cell, (_, width)) in enumerate(zip(cells, columns, strict=True))
    )


def table(rows: list[Row]) -> str:
    two = any(r.other_late is not None for r in rows)
    columns = (*COLUMNS[:-1], *OTHER_COLUMNS, COLUMNS[-1]) if two else COLUMNS
    lines = [line(tuple(title for title, _ in columns), columns)]
    for r in rows:
        cells: tuple[Any, ...] = (r.fault, r.changes, r.lost, r.duplicated_rows, r.duplicated_lines, r.poison, r.dead_letters)
        cells += (r.misfiled, r.unnotified, r.redriven, r.failed_executions, "-" if r.injected is None else r.injected)
        if two:
            cells += (r.other_late, r.other_dead_lettered)
        lines.append(line((*cells, r.seconds), columns))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=1000, help="changes per source (default: 1000)")
    parser.add_argument("--sources", type=int, choices=(1, 2), default=1, help="1, or 2 written at once, the fault hitting one")
    parser.add_argument("--fault", action="append", choices=sorted(FAULTS), help="run only these faults")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    quiet_handlers()
    tables = ONE_SOURCE if args.sources == 1 else TWO_SOURCES
    rows = []
    for name in args.fault or list(FAULTS):
        rows.append(run_fault(name, args.changes, tables=tables))
        print(table(rows[-1:]).splitlines()[-1], flush=True)
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
