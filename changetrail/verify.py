"""Verify: does the Audit table (and, optionally, each source table) say what the archive says?

The archive is the evidence: locked, written only by conditional creates, in another account.
For every archived change this rebuilds the Audit rows WriteAudit must have written for it, with
the pipeline's own code (``functions.diff`` to diff, ``functions.write_audit.plan`` for the rows:
ids, masking, values left to the archive), and compares them with the Audit table:

- ``missing-row``: a row the change must have is not in the table (deleted);
- ``unexpected-row``: a row no archived change explains, nor a change waiting in a dead-letter queue (forged, or of a
  change not archived and not waiting: still running, or lost);
- ``pending``: a row of a change not archived yet because it waits in a dead-letter queue (the pipeline DLQ, a
  stream-failures queue or the fallback, named): a redrive archives it, and then it is explained;
- ``row-differs``: a row whose attributes differ from what the change gives (altered);
- ``duplicate-line``: a change (``eventId``) archived more than once;
- ``source-unexplained`` (``--source``): a source item whose current state is not the newest
  archived image of it (a write whose stream record never reached the pipeline), or an item the
  archive says exists that the table does not hold.

Only boto3 calls: the same code runs against ``changetrail local`` and AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from changetrail.archive import Archive, parse_time
from changetrail.outputs import source_tables
from functions.decode import item_key, key_text, table_from_arn
from functions.diff import REDACTED, AttributeRules, DiffSettings, attribute_rules, changed_attributes, diff_changes
from functions.write_audit import WriteSettings, plan

if TYPE_CHECKING:
    from functions.contracts import Change, DynamoItem

PENDING = "pending"
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 12, 31, 23, tzinfo=UTC)
CHUNK_SPAN = timedelta(hours=1)
"""An object lies in the hour folder of its chunk's first change: a window's changes may sit in the hour before."""
PROGRESS_EVERY = 50
_DESERIALIZE = TypeDeserializer()
Progress = Callable[[str], None]


class VerifyError(ValueError):
    """A request verify cannot serve (a table the stack does not audit, a window that ends before it starts)."""


@dataclass(frozen=True)
class Finding:
    kind: str
    table: str
    item_key: str
    detail: str
    event_id: str = ""
    audit_id: str = ""
    archive_key: str = ""


@dataclass
class Report:
    start: str
    end: str
    tables: list[str]
    archive_objects: int = 0
    archived_changes: int = 0
    expected_rows: int = 0
    audit_rows: int = 0
    source_items: int | None = None
    waiting_changes: int | None = None
    """Changes the dead letters hold (None: the queues were not read)."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    @property
    def only_pending(self) -> bool:
        """Nothing is wrong but changes waiting to be redriven (``--allow-pending`` accepts them)."""
        return bool(self.findings) and all(f.kind == PENDING for f in self.findings)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class ArchivedChange:
    archive_key: str
    line: dict[str, Any]

    @property
    def table(self) -> str:
        return line_table(self.line)


@dataclass(frozen=True)
class Expected:
    row: DynamoItem
    change: ArchivedChange


# ---------------------------------------------------------------- pure: what the archive implies


def line_table(line: dict[str, Any]) -> str:
    """The source table of an archive line: its ``table``, or the table its stream ARN names."""
    return line.get("table") or table_from_arn(line.get("eventSourceARN", ""))


def is_masked(line: dict[str, Any]) -> bool:
    return any(value == REDACTED for image in ("oldImage", "newImage") for value in (line.get(image) or {}).values())


def rediff(line: dict[str, Any], rules: dict[str, Any] | None = None) -> Change:
    """The pipeline's Diff of one archived change: the one place verify diffs, so attribute rules can be passed here.

    A line whose images are masked (redaction) keeps the attributes the pipeline found on the real
    values: masked values would all compare equal.
    """
    change: Change = {key: value for key, value in line.items() if key != "changedAttributes"}  # type: ignore[assignment]
    batch = {"eventSourceArn": "", "firstSequenceNumber": "", "lastSequenceNumber": "", "recordCount": 1}
    settings = DiffSettings(rules=attribute_rules(json.dumps(rules or {})))
    diffed = diff_changes({"batch": batch, "changes": [change]}, settings)  # type: ignore[typeddict-item]
    if diffed["rejected"]:
        raise ValueError(diffed["rejected"][0]["cause"])
    # A change the rules ignore is never archived; one archived before the rules changed implies no rows now.
    result = diffed["changes"][0] if diffed["changes"] else {**change, "changedAttributes": []}
    if is_masked(line) and "changedAttributes" in line:
        result = {**result, "changedAttributes": list(line["changedAttributes"])}
    return result


def write_settings(outputs: dict[str, Any]) -> WriteSettings:
    """WriteAudit's masking, as the stack configures it."""
    redaction = outputs.get("redaction") or {}
    return WriteSettings(
        audit_table=outputs["audit_table_name"],
        redact=frozenset(redaction.get("attributes", [])),
        redact_in_archive=not redaction.get("keep_in_archive", False),
    )


def expected_rows(
    changes: Iterable[ArchivedChange], settings: WriteSettings, rules: dict[str, Any] | None = None
) -> tuple[dict[str, Expected], list[Finding]]:
    """Audit id -> the row each archived change must have; and the changes archived twice."""
    expected: dict[str, Expected] = {}
    seen: dict[str, ArchivedChange] = {}
    findings: list[Finding] = []
    for archived in changes:
        line = archived.line
        event_id = line.get("eventId", "")
        if event_id in seen:
            first = seen[event_id]
            findings.append(
                Finding(
                    "duplicate-line",
                    archived.table,
                    line.get("itemKey", ""),
                    f"change archived again (first in {first.archive_key})",
                    event_id=event_id,
                    archive_key=archived.archive_key,
                )
            )
            continue
        seen[event_id] = archived
        # In the archive the line may be masked already; masking twice changes nothing.
        for row in plan(rediff(line, rules), archived.archive_key, settings).rows:
            expected[row["id"]["S"]] = Expected(row, archived)
    return expected, findings


def compare_rows(expected: dict[str, Expected], actual: dict[str, DynamoItem]) -> list[Finding]:
    """Rows missing, rows no archived change explains, rows whose values differ (compared by meaning, as Diff does)."""
    findings: list[Finding] = []
    for audit_id, want in expected.items():
        line, key = want.change.line, want.change.archive_key
        common = {"event_id": line.get("eventId", ""), "audit_id": audit_id, "archive_key": key}
        attribute = want.row.get("updatedAttribute", {}).get("S")
        what = f"{line['eventName']} row" + (f" of attribute {attribute!r}" if attribute else "")
        have = actual.get(audit_id)
        if have is None:
            findings.append(
                Finding("missing-row", want.change.table, line["itemKey"], f"{what} is not in the Audit table", **common)
            )
            continue
        differing = changed_attributes({"oldImage": want.row, "newImage": have})  # type: ignore[typeddict-item]
        if differing:
            findings.append(
                Finding(
                    "row-differs",
                    want.change.table,
                    line["itemKey"],
                    f"{what}: {', '.join(differing)} differ from the archived change",
                    **common,
                )
            )
    for audit_id, row in actual.items():
        if audit_id not in expected:
            attribute = row.get("updatedAttribute", {}).get("S")
            what = f"{row.get('eventName', {}).get('S', '?')} row" + (f" of attribute {attribute!r}" if attribute else "")
            findings.append(
                Finding(
                    "unexpected-row",
                    row.get("table", {}).get("S", ""),
                    row.get("itemKey", {}).get("S", ""),
                    f"{what} that no archived change explains",
                    event_id=row.get("eventId", {}).get("S", ""),
                    audit_id=audit_id,
                )
            )
    return findings


def explain_pending(findings: list[Finding], waiting: Mapping[tuple[str, str], str]) -> list[Finding]:
    """An unexpected row of a change a dead letter holds is ``pending``, naming where it waits: it is not forged, it
    is not archived yet. Every other finding stays as it is."""
    explained = []
    for finding in findings:
        where = waiting.get((finding.table, finding.event_id)) if finding.kind == "unexpected-row" else None
        if where is None:
            explained.append(finding)
            continue
        what = finding.detail.removesuffix(" that no archived change explains")
        detail = (
            f"{what} of a change waiting in {where}, not archived yet: redrive it (changetrail redrive --table {finding.table})"
        )
        explained.append(replace(finding, kind=PENDING, detail=detail))
    return explained


def newest_images(changes: Iterable[ArchivedChange]) -> dict[tuple[str, str], dict[str, Any]]:
    """(table, itemKey) -> the item's newest archived line, by stream order."""
    newest: dict[tuple[str, str], dict[str, Any]] = {}
    for archived in changes:
        line = archived.line
        key = (archived.table, line["itemKey"])
        known = newest.get(key)
        if known is None or _order(line) > _order(known):
            newest[key] = line
    return newest


def _order(line: dict[str, Any]) -> tuple[str, int]:
    sequence = line.get("sequenceNumber", "0")
    return line.get("modificationTime", ""), int(sequence) if sequence.isdigit() else 0


def compare_source(
    table: str, items: dict[str, DynamoItem], newest: dict[tuple[str, str], dict[str, Any]], rules: AttributeRules | None = None
) -> list[Finding]:
    """Each item as the table holds it against its newest archived image; masked attributes cannot be compared,
    and attributes the table's rules leave out change without an archived change, by design."""
    findings: list[Finding] = []
    for key, item in items.items():
        line = newest.get((table, key))
        if line is None:
            findings.append(Finding("source-unexplained", table, key, "item exists but the archive holds no change of it"))
            continue
        common = {"event_id": line["eventId"]}
        if line["eventName"] == "REMOVE":
            detail = f"item exists but its newest archived change is a REMOVE at {line['modificationTime']}"
            findings.append(Finding("source-unexplained", table, key, detail, **common))
            continue
        image = line.get("newImage", {})
        visible = {name: value for name, value in item.items() if image.get(name) != REDACTED}
        archived = {name: value for name, value in image.items() if value != REDACTED}
        differing = changed_attributes({"oldImage": archived, "newImage": visible})  # type: ignore[typeddict-item]
        if rules is not None:
            differing = rules.audited(differing)
        if differing:
            newest_change = f"{line['eventName']} at {line['modificationTime']}"
            detail = f"{', '.join(differing)} differ from the newest archived image ({newest_change})"
            findings.append(Finding("source-unexplained", table, key, detail, **common))
    for (line_table_name, key), line in newest.items():
        if line_table_name == table and key not in items and line["eventName"] != "REMOVE":
            detail = f"item is missing but the archive's newest change is a {line['eventName']} at {line['modificationTime']}"
            findings.append(Finding("source-unexplained", table, key, detail, event_id=line["eventId"]))
    return findings


def in_window(line: dict[str, Any], start: datetime, end: datetime) -> bool:
    return start <= parse_time(line["modificationTime"]) <= end


# ---------------------------------------------------------------- reading (boto3 only)


def archived_tables(archive: Archive) -> list[str]:
    """The tables the archive holds objects of: its first level of folders under the prefix."""
    base = f"{archive.prefix}/" if archive.prefix else ""
    tables: list[str] = []
    for page in archive.s3.get_paginator("list_objects_v2").paginate(Bucket=archive.bucket, Prefix=base, Delimiter="/"):
        tables += [entry["Prefix"][len(base) :].rstrip("/") for entry in page.get("CommonPrefixes", [])]
    return tables


def archived_changes(
    archive: Archive, tables: list[str], start: datetime, end: datetime, progress: Progress, report: Report
) -> Iterator[ArchivedChange]:
    """Every archived change of ``tables`` with its time in [start, end], object by object."""
    for table in tables:
        for key in archive.keys(table, max(start - CHUNK_SPAN, BEGINNING), end):
            report.archive_objects += 1
            if report.archive_objects % PROGRESS_EVERY == 0:
                progress(f"read {report.archive_objects} archive objects ({table})")
            for line in archive.read(key).lines:
                if line_table(line) == table and in_window(line, start, end):
                    yield ArchivedChange(key, line)


def audit_rows(
    ddb: Any, audit_table: str, tables: list[str], start: datetime, end: datetime, progress: Progress
) -> dict[str, Any]:
    """Audit id -> row, for the tables' changes with modificationTime in [start, end]."""
    values: dict[str, Any] = {":start": {"S": _iso(start)}, ":end": {"S": _iso(end)}}
    names = []
    for index, table in enumerate(tables):
        values[f":t{index}"] = {"S": table}
        names.append(f":t{index}")
    rows: dict[str, Any] = {}
    pages = ddb.get_paginator("scan").paginate(
        TableName=audit_table,
        FilterExpression=f"modificationTime BETWEEN :start AND :end AND #table IN ({', '.join(names)})",
        ExpressionAttributeNames={"#table": "table"},
        ExpressionAttributeValues=values,
    )
    for page in pages:
        for row in page["Items"]:
            rows[row["id"]["S"]] = row
        if len(rows) and len(rows) % 5000 < len(page["Items"]):
            progress(f"read {len(rows)} audit rows")
    return rows


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def source_items(ddb: Any, table: str) -> dict[str, DynamoItem]:
    """itemKey -> item, the whole table (a Scan), keyed as the pipeline keys its history."""
    schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    key_names = [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH")]
    items: dict[str, DynamoItem] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            parts = [key_text(_DESERIALIZE.deserialize(item[name])) for name in key_names]
            items[item_key(parts)] = item
    return items


def verify(
    outputs: dict[str, Any],
    archive: Archive,
    ddb: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    table: str | None = None,
    check_source: bool = False,
    progress: Progress = lambda _message: None,
    waiting: Mapping[tuple[str, str], str] | None = None,
) -> Report:
    """Compare the Audit table (and with ``check_source`` the source tables) with what the archive implies; ``waiting``
    (``redrive.waiting_changes``) says which changes the dead letters hold, so their rows are ``pending``."""
    start, end = start or BEGINNING, end or END_OF_TIME
    if end < start:
        raise VerifyError(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    known = sorted({*source_tables(outputs), *archived_tables(archive)})
    if table is not None and table not in known:
        raise VerifyError(f"no table {table!r} in this stack or its archive; known: {', '.join(known)}")
    tables = [table] if table else known
    report = Report(_iso(start), _iso(end) if end != END_OF_TIME else "now", tables)
    # The source check needs each item's whole history, so it reads from the beginning.
    changes = list(archived_changes(archive, tables, BEGINNING if check_source else start, end, progress, report))
    window = [change for change in changes if in_window(change.line, start, end)]
    report.archived_changes = len(window)
    progress(f"read {report.archive_objects} archive objects, {len(window)} changes")
    expected, duplicates = expected_rows(window, write_settings(outputs), outputs.get("attribute_rules"))
    actual = audit_rows(ddb, outputs["audit_table_name"], tables, start, end, progress)
    report.expected_rows, report.audit_rows = len(expected), len(actual)
    report.findings = duplicates + compare_rows(expected, actual)
    if waiting is not None:
        report.waiting_changes = len(waiting)
        report.findings = explain_pending(report.findings, waiting)
    if check_source:
        newest = newest_images(changes)
        report.source_items = 0
        for name in [t for t in tables if t in source_tables(outputs)]:
            items = source_items(ddb, name)
            report.source_items += len(items)
            progress(f"compared {len(items)} items of {name}")
            rules = attribute_rules(json.dumps(outputs.get("attribute_rules") or {})).get(name)
            report.findings += compare_source(name, items, newest, rules)
    return report


# ---------------------------------------------------------------- rendering


def to_json(report: Report) -> str:
    document = {**asdict(report), "clean": report.clean, "only_pending": report.only_pending, "counts": report.counts()}
    return json.dumps(document, indent=2, ensure_ascii=False)


def render(report: Report) -> str:
    lines = [
        f"verified {', '.join(report.tables)} from {report.start} to {report.end}: "
        f"{report.archived_changes} archived changes in {report.archive_objects} objects, "
        f"{report.expected_rows} audit rows expected, {report.audit_rows} found"
        + (f", {report.source_items} source items" if report.source_items is not None else ""),
    ]
    if report.clean:
        lines.append("clean: the Audit table says exactly what the archive says")
        return "\n".join(lines)
    lines.append(f"{len(report.findings)} finding(s): " + ", ".join(f"{kind} {n}" for kind, n in report.counts().items()))
    pending = [f for f in report.findings if f.kind == PENDING]
    if pending:
        tables = sorted({f.table for f in pending})
        redrive = " and ".join(f"changetrail redrive --table {table}" for table in tables)
        lines.append(
            f"pending: {len(pending)} row(s) of changes waiting in dead-letter queues, explained once they are redriven "
            f"({redrive} --dry-run, then --wait); verify --allow-pending accepts them"
        )
    header = ("kind", "table", "item", "event", "audit id", "detail")
    rows = [
        (
            f.kind,
            f.table,
            f.item_key,
            f.event_id[:12],
            f.audit_id[:8],
            f.detail + (f" [{f.archive_key}]" if f.archive_key else ""),
        )
        for f in report.findings
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    return "\n".join(lines)
