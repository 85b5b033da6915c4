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
- ``duplicate-line``: a change (``eventId``) archived more than once, named on the later writer's object (by
  ``LastModified``; in a tie, the object the change's claim row names is the genuine one);
- ``malformed-row``: a row that lacks a field WriteAudit always writes (``table``, ``modificationTime``, ...) or
  holds one of the wrong type: the pipeline cannot have written it;
- ``unexpected-row`` also names a row of a table no source of the stack has and the archive does not hold;
- ``misplaced-object``: an object under the archive prefix outside the layout the pipeline writes
  (``<table>/YYYY/MM/DD/HH/<first>-<last>-<digest>.jsonl``), or a line in an object of another table or outside
  its key's sequence range: it explains no row;
- ``unreadable-object``: an object, or a line of one (named by number), that is not an archive line; the other
  lines and objects are still verified;
- ``source-unexplained`` (``--source``): a source item whose current state is not the newest
  archived image of it (a write whose stream record never reached the pipeline), or an item the
  archive says exists that the table does not hold.

Every Audit row (a full Scan) and every object under the archive prefix are read whatever window is asked:
a window (``--from``/``--to``) and ``--table`` narrow what is reported, never what is compared.

Only boto3 calls: the same code runs against ``changetrail local`` and AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

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
PROGRESS_EVERY = 50
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USER_ERROR, EXIT_COULD_NOT_VERIFY = 0, 1, 2, 3
KEY_LAYOUT = re.compile(
    r"(?P<table>[A-Za-z0-9_.-]{3,255})/(?P<hour>\d{4}/\d{2}/\d{2}/\d{2})/(?P<first>\d+)-(?P<last>\d+)(-[0-9a-f]+)?\.jsonl"
)
"""``functions.diff.archive_key`` without its prefix (objects written before the digest have none)."""
ROW_FIELDS = ("table", "itemKey", "eventId", "eventName", "modificationTime", "sequenceNumber", "historySortKey")
"""Text attributes WriteAudit writes on every row (``functions.diff.audit_rows``)."""
LINE_TEXT_FIELDS = ("eventId", "eventName", "itemKey", "sequenceNumber", "modificationTime")
LINE_MAP_FIELDS = ("keys", "itemKeyParts")
EVENT_NAMES = frozenset({"INSERT", "MODIFY", "REMOVE"})
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
    time: str = ""
    """The change's modificationTime: what a window selects on ("" for an object or row with none)."""


@dataclass
class Report:
    start: str
    end: str
    tables: list[str]
    archive_objects: int = 0
    archived_changes: int = 0
    expected_rows: int = 0
    audit_rows: int = 0
    archived_changes_read: int = 0
    audit_rows_read: int = 0
    """Every archived change and Audit row is read and compared; the counts above are the reported scope's."""
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
    written: str = ""
    """When S3 created the object (its ``LastModified``, UTC ISO 8601): of two copies the later is the forged one."""
    line_number: int = 1

    @property
    def table(self) -> str:
        return line_table(self.line)


@dataclass(frozen=True)
class Expected:
    row: DynamoItem
    change: ArchivedChange


@dataclass(frozen=True)
class Placed:
    """Where the pipeline put an object: its table's folder and the stream range its name gives."""

    table: str
    first: int
    last: int


@dataclass(frozen=True)
class Scope:
    """What is reported: a window and ``--table``. Everything is read and compared whatever the scope."""

    start: datetime
    end: datetime
    table: str | None
    tables: Collection[str]
    """Every table of the stack and its archive: a finding of none of them belongs to every scope."""

    def holds(self, table: str, time: str) -> bool:
        if self.table is not None and table in self.tables and table != self.table:
            return False
        try:
            return not time or self.start <= parse_time(time) <= self.end
        except ValueError:
            return True


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


def placement(key: str, prefix: str) -> Placed | None:
    """The table and stream range of a key the pipeline could have written, or None (``misplaced-object``)."""
    base = f"{prefix}/" if prefix else ""
    match = KEY_LAYOUT.fullmatch(key[len(base) :]) if key.startswith(base) else None
    if match is None:
        return None
    try:
        datetime.strptime(match["hour"], "%Y/%m/%d/%H")
    except ValueError:
        return None
    first, last = int(match["first"]), int(match["last"])
    return Placed(match["table"], first, last) if first <= last else None


def archive_lines(key: str, body: bytes, placed: Placed, written: str = "") -> tuple[list[ArchivedChange], list[Finding]]:
    """The changes one object holds, and a finding for each line that is not one of them (the rest still count)."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return [], [Finding("unreadable-object", placed.table, "", "the object is not UTF-8 text", archive_key=key)]
    changes: list[ArchivedChange] = []
    findings: list[Finding] = []
    for number, raw in enumerate(text.split("\n"), 1):  # not splitlines: a JSON string holds U+2028 raw
        if not raw.strip():
            continue
        line, problem = parse_line(raw)
        if problem:
            findings.append(Finding("unreadable-object", placed.table, "", f"line {number} {problem}", archive_key=key))
            continue
        misplaced = misplaced_line(line, placed)
        if misplaced:
            common = {"event_id": line["eventId"], "archive_key": key, "time": line["modificationTime"]}
            findings.append(Finding("misplaced-object", placed.table, line["itemKey"], f"line {number} {misplaced}", **common))
            continue
        changes.append(ArchivedChange(key, line, written, number))
    return changes, findings


def parse_line(raw: str) -> tuple[dict[str, Any], str]:
    """One archive line, or what makes it none ("" when it is one)."""
    try:
        line = json.loads(raw)
    except json.JSONDecodeError as error:
        return {}, f"is not JSON ({error.msg})"
    if not isinstance(line, dict):
        return {}, "is not a JSON object"
    lacking = [name for name in LINE_TEXT_FIELDS if not isinstance(line.get(name), str)]
    lacking += [name for name in LINE_MAP_FIELDS if not isinstance(line.get(name), dict)]
    if not isinstance(line.get("table") or line.get("eventSourceARN"), str):
        lacking.insert(0, "table")
    if lacking:
        return {}, f"is not an archive line: lacks {', '.join(lacking)}"
    if line["eventName"] not in EVENT_NAMES or not line["sequenceNumber"].isdigit():
        return {}, f"is not an archive line: event {line['eventName']!r}, sequence number {line['sequenceNumber']!r}"
    try:
        parse_time(line["modificationTime"])
    except ValueError:
        return {}, f"is not an archive line: modificationTime {line['modificationTime']!r}"
    return line, ""


def misplaced_line(line: dict[str, Any], placed: Placed) -> str:
    """Why the pipeline could not have put this line in this object ("" when it could)."""
    if line_table(line) != placed.table:
        return f"is a change of table {line_table(line)!r} in the folder of {placed.table!r}"
    if not placed.first <= int(line["sequenceNumber"]) <= placed.last:
        return f"has sequence number {line['sequenceNumber']}, outside the object's range {placed.first}-{placed.last}"
    return ""


def writing_order(change: ArchivedChange, claimed: str | None) -> tuple[str, bool, str, int]:
    """Copies of one change, earliest writer first: by ``LastModified`` (S3's, one-second steps); in a tie, the
    object the change's claim row names, then by key."""
    return change.written, change.archive_key != claimed, change.archive_key, change.line_number


def claimed_objects(rows: Iterable[DynamoItem]) -> dict[tuple[str, str], str]:
    """(table, eventId) -> the archive object the change's claim row names."""
    return {
        (row.get("table", {}).get("S", ""), row.get("eventId", {}).get("S", "")): row["archiveKey"]["S"]
        for row in rows
        if "S" in row.get("archiveKey", {})
    }


def expected_rows(
    changes: Iterable[ArchivedChange],
    settings: WriteSettings,
    rules: dict[str, Any] | None = None,
    claims: Mapping[tuple[str, str], str] | None = None,
) -> tuple[dict[str, Expected], list[Finding]]:
    """Audit id -> the row each archived change must have; and each later copy of a change archived twice."""
    copies: dict[tuple[str, str], list[ArchivedChange]] = {}
    for archived in changes:
        copies.setdefault((archived.table, archived.line["eventId"]), []).append(archived)
    expected: dict[str, Expected] = {}
    findings: list[Finding] = []
    for change, found in copies.items():
        genuine, *later = sorted(found, key=lambda copy: writing_order(copy, (claims or {}).get(change)))
        findings += [duplicate(copy, genuine) for copy in later]
        try:
            # In the archive the line may be masked already; masking twice changes nothing.
            rows = plan(rediff(genuine.line, rules), genuine.archive_key, settings).rows
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            detail = f"line {genuine.line_number} is not an archive line: {type(error).__name__}: {error}"
            findings.append(
                Finding("unreadable-object", genuine.table, genuine.line["itemKey"], detail, archive_key=genuine.archive_key)
            )
            continue
        for row in rows:
            expected[row["id"]["S"]] = Expected(row, genuine)
    return expected, findings


def duplicate(copy: ArchivedChange, genuine: ArchivedChange) -> Finding:
    line = copy.line
    detail = f"line {copy.line_number}: change archived again, after {genuine.archive_key} (line {genuine.line_number})"
    common = {"event_id": line["eventId"], "archive_key": copy.archive_key, "time": line["modificationTime"]}
    return Finding("duplicate-line", copy.table, line["itemKey"], detail, **common)


def compare_rows(
    expected: dict[str, Expected], actual: dict[str, DynamoItem], tables: Collection[str] | None = None
) -> list[Finding]:
    """Rows missing, rows no archived change explains, rows whose values differ (compared by meaning, as Diff does).

    ``tables``: every table of the stack and its archive; a row of another table is one the stack cannot have written.
    """
    findings: list[Finding] = []
    for audit_id, want in expected.items():
        line, key = want.change.line, want.change.archive_key
        common = {"event_id": line["eventId"], "audit_id": audit_id, "archive_key": key, "time": line["modificationTime"]}
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
    findings += [unexplained_row(audit_id, row, tables) for audit_id, row in actual.items() if audit_id not in expected]
    return findings


def unexplained_row(audit_id: str, row: DynamoItem, tables: Collection[str] | None = None) -> Finding:
    """A row no archived change explains: ``malformed-row`` when WriteAudit cannot have written it as it is (a field
    it always writes is missing or not text, an unknown event, a time that is none), ``unexpected-row`` otherwise,
    saying so when its table is none the stack or its archive has."""

    def text(name: str) -> str:
        return _text(row, name)

    attribute = text("updatedAttribute")
    what = f"{text('eventName') or '?'} row" + (f" of attribute {attribute!r}" if attribute else "")
    common = {"event_id": text("eventId"), "audit_id": audit_id, "time": text("modificationTime")}
    table, key = text("table"), text("itemKey")
    lacking = [name for name in ROW_FIELDS if not text(name)]
    if lacking:
        return Finding("malformed-row", table, key, f"{what} lacking {', '.join(lacking)}: not written by the pipeline", **common)
    try:
        parse_time(common["time"])
    except ValueError:
        return Finding("malformed-row", table, key, f"{what} with modificationTime {common['time']!r}", **{**common, "time": ""})
    if text("eventName") not in EVENT_NAMES:
        return Finding("malformed-row", table, key, f"{what}: not an event the pipeline writes", **common)
    if tables is not None and table not in tables:
        return Finding("unexpected-row", table, key, f"{what} of a table no source of this stack has", **common)
    return Finding("unexpected-row", table, key, f"{what} that no archived change explains", **common)


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


# ---------------------------------------------------------------- reading (boto3 only)


def archived_tables(archive: Archive) -> list[str]:
    """The tables the archive holds objects of: its first level of folders under the prefix."""
    base = f"{archive.prefix}/" if archive.prefix else ""
    tables: list[str] = []
    for page in archive.s3.get_paginator("list_objects_v2").paginate(Bucket=archive.bucket, Prefix=base, Delimiter="/"):
        tables += [entry["Prefix"][len(base) :].rstrip("/") for entry in page.get("CommonPrefixes", [])]
    return tables


def read_archive(archive: Archive, progress: Progress, report: Report) -> tuple[list[ArchivedChange], list[Finding]]:
    """Every change of every object under the prefix (one listing of it all), and what is not where or what it should be."""
    base = f"{archive.prefix}/" if archive.prefix else ""
    changes: list[ArchivedChange] = []
    findings: list[Finding] = []
    for page in archive.s3.get_paginator("list_objects_v2").paginate(Bucket=archive.bucket, Prefix=base):
        for entry in page.get("Contents", []):
            key, written = entry["Key"], entry["LastModified"].astimezone(UTC).isoformat()
            report.archive_objects += 1
            if report.archive_objects % PROGRESS_EVERY == 0:
                progress(f"read {report.archive_objects} archive objects")
            placed = placement(key, archive.prefix)
            if placed is None:
                layout = f"{base}<table>/YYYY/MM/DD/HH/<first>-<last>-<digest>.jsonl"
                findings.append(Finding("misplaced-object", "", "", f"not where the pipeline writes ({layout})", archive_key=key))
                continue
            body = archive.s3.get_object(Bucket=archive.bucket, Key=key)["Body"].read()
            found, problems = archive_lines(key, body, placed, written)
            changes += found
            findings += problems
    return changes, findings


def audit_rows(ddb: Any, audit_table: str, progress: Progress) -> dict[str, Any]:
    """Audit id -> row, every row of the table (a Scan, page by page): a filter would hide the rows it does not name."""
    rows: dict[str, Any] = {}
    for page in ddb.get_paginator("scan").paginate(TableName=audit_table):
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
    (``redrive.waiting_changes``) says which changes the dead letters hold, so their rows are ``pending``.

    Every row and every object is read; the window and ``table`` select what is reported."""
    start, end = start or BEGINNING, end or END_OF_TIME
    if end < start:
        raise VerifyError(f"--to {end.isoformat()} is before --from {start.isoformat()}")
    known = sorted({*source_tables(outputs), *archived_tables(archive)})
    if table is not None and table not in known:
        raise VerifyError(f"no table {table!r} in this stack or its archive; known: {', '.join(known)}")
    scope = Scope(start, end, table, known)
    report = Report(_iso(start), _iso(end) if end != END_OF_TIME else "now", [table] if table else known)
    changes, findings = read_archive(archive, progress, report)
    progress(f"read {report.archive_objects} archive objects, {len(changes)} changes")
    actual = audit_rows(ddb, outputs["audit_table_name"], progress)
    expected, line_findings = expected_rows(
        changes, write_settings(outputs), outputs.get("attribute_rules"), claimed_objects(actual.values())
    )
    findings += line_findings + compare_rows(expected, actual, known)
    report.archived_changes_read, report.audit_rows_read = len(changes), len(actual)
    report.archived_changes = sum(scope.holds(c.table, c.line["modificationTime"]) for c in changes)
    report.expected_rows = sum(scope.holds(e.change.table, e.change.line["modificationTime"]) for e in expected.values())
    report.audit_rows = sum(scope.holds(_text(row, "table"), _text(row, "modificationTime")) for row in actual.values())
    if waiting is not None:
        report.waiting_changes = len(waiting)
        findings = explain_pending(findings, waiting)
    report.findings = [finding for finding in findings if scope.holds(finding.table, finding.time)]
    if check_source:
        report.findings += source_findings(outputs, ddb, report.tables, changes, progress, report)
    return report


def _text(row: DynamoItem, name: str) -> str:
    value = row.get(name, {}).get("S")
    return value if isinstance(value, str) else ""


def source_findings(
    outputs: dict[str, Any], ddb: Any, tables: list[str], changes: list[ArchivedChange], progress: Progress, report: Report
) -> list[Finding]:
    """Each source item against its newest archived image (the whole archive is read, so each item's whole history)."""
    newest = newest_images(changes)
    findings: list[Finding] = []
    report.source_items = 0
    for name in [t for t in tables if t in source_tables(outputs)]:
        items = source_items(ddb, name)
        report.source_items += len(items)
        progress(f"compared {len(items)} items of {name}")
        rules = attribute_rules(json.dumps(outputs.get("attribute_rules") or {})).get(name)
        findings += compare_source(name, items, newest, rules)
    return findings


def could_not_verify(error: BaseException) -> str:
    """One line saying why verify could not finish (nothing is proven either way): exit 3, never a traceback."""
    if isinstance(error, KeyboardInterrupt):
        reason = "interrupted"
    elif isinstance(error, ClientError):
        refusal = error.response.get("Error", {})
        reason = f"AWS refused {error.operation_name}: {refusal.get('Code', '?')}: {refusal.get('Message', '')}"
    elif isinstance(error, BotoCoreError):
        reason = f"AWS unreachable or unusable: {error}"
    else:
        reason = f"{type(error).__name__}: {error}"
    return " ".join(reason.split())


def could_not_verify_json(reason: str) -> str:
    return json.dumps({"verified": False, "clean": False, "could_not_verify": reason}, ensure_ascii=False)


# ---------------------------------------------------------------- rendering


def to_json(report: Report) -> str:
    document = {
        **asdict(report),
        "verified": True,
        "clean": report.clean,
        "only_pending": report.only_pending,
        "counts": report.counts(),
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def render(report: Report) -> str:
    lines = [
        f"verified {', '.join(report.tables)} from {report.start} to {report.end}: "
        f"{report.archived_changes} archived changes in {report.archive_objects} objects, "
        f"{report.expected_rows} audit rows expected, {report.audit_rows} found"
        + (f", {report.source_items} source items" if report.source_items is not None else "")
        + f" (compared all {report.archived_changes_read} changes and {report.audit_rows_read} rows)",
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
