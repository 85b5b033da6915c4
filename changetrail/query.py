"""``changetrail query``: SQL over the archive with DuckDB, on this machine.

The archive objects of the time window's hour folders are read through the reader role and
their lines written, as they are, to one local JSON Lines file, which DuckDB reads as the view ``changes``:
one row per archived change, of the window and tables asked for, columns named as the archive
line's fields. Images and keys stay DynamoDB JSON (``JSON`` columns), the one form that keeps
sets, binary and 38-digit numbers exact; DuckDB's JSON operators reach into them
(``newImage->>'$.price.N'``). Rows stream out in batches, so a large result is never held whole.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import duckdb

from changetrail.archive import Archive

COLUMNS = {
    "eventId": "VARCHAR",
    "eventName": "VARCHAR",
    "table": "VARCHAR",
    "keys": "JSON",
    "itemKey": "VARCHAR",
    "itemKeyParts": "MAP(VARCHAR, VARCHAR)",
    "sequenceNumber": "VARCHAR",  # up to 40 digits: wider than any DuckDB number keeps exactly
    "modificationTime": "VARCHAR",
    "expiredByTtl": "BOOLEAN",
    "oldImage": "JSON",
    "newImage": "JSON",
    "changedAttributes": "VARCHAR[]",
}
"""The archive line's fields; a field a line lacks (an INSERT's oldImage) is NULL."""
FETCH_ROWS = 1000
MAX_LINE_BYTES = 16 * 1024 * 1024
"""More than any archive line holds (both images of a 400 KB item, as JSON)."""


QUERIES = Path(__file__).with_name("queries")
"""The named queries: one ``.sql`` file each, its first line a ``--`` comment saying what it answers."""


class QueryError(ValueError):
    """The SQL could not run (a syntax error, an unknown column, a parameter not given): the user's to fix."""


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    sql: str

    @property
    def parameters(self) -> list[str]:
        return sorted(set(re.findall(r"\$([A-Za-z_]\w*)", self.sql)))


def named_queries() -> dict[str, NamedQuery]:
    found = {}
    for path in sorted(QUERIES.glob("*.sql")):
        text = path.read_text()
        found[path.stem] = NamedQuery(path.stem, text.splitlines()[0].removeprefix("--").strip(), text)
    return found


def resolve(sql_or_name: str, parameters: dict[str, str]) -> str:
    """The SQL to run: a named query's (with every parameter it takes given), or the SQL itself."""
    named = named_queries().get(sql_or_name)
    if named is None:
        return sql_or_name
    missing = [name for name in named.parameters if name not in parameters]
    if missing:
        raise QueryError(f"{named.name} takes " + ", ".join(f"--param {name}=VALUE" for name in missing))
    return named.sql


@dataclass
class Collected:
    objects: int = 0
    unreadable: list[str] = field(default_factory=list)
    """``key:line`` of each line that is not a JSON object: left out (``changetrail verify`` names them too)."""


def collect(archive: Archive, tables: list[str], start: datetime, end: datetime, into: TextIO) -> Collected:
    """Copy the lines of the window's objects of ``tables`` into ``into``, each checked to be a JSON object.

    One forged or broken object must not take the query down, nor pass unnoticed: its bad lines are
    left out and named.
    """
    collected = Collected()
    for table in tables:
        for key in archive.keys(table, start, end):
            body = archive.s3.get_object(Bucket=archive.bucket, Key=key)["Body"].read().decode(errors="replace")
            for number, line in enumerate(body.split("\n"), 1):
                if line and _is_object(line):
                    into.write(line + "\n")
                elif line:
                    collected.unreadable.append(f"{key}:{number}")
            collected.objects += 1
    return collected


def _is_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def connect(lines: Path, tables: list[str], start: datetime, end: datetime) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the view ``changes``; it never installs or loads an extension from the network."""
    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    connection.execute(
        f"CREATE VIEW lines AS SELECT * FROM read_json({_literal(str(lines))}, format='newline_delimited', "
        f"columns={COLUMNS!r}, maximum_object_size={MAX_LINE_BYTES})"
    )
    # An hour folder holds the changes of executions that started in that hour: the window is cut exactly here.
    # A view takes no parameters; the literals are the window's own times and the stack's table names, quoted.
    window = f"TIMESTAMP {_literal(_naive_utc(start).isoformat())} AND TIMESTAMP {_literal(_naive_utc(end).isoformat())}"
    names = ", ".join(_literal(table) for table in tables)
    connection.execute(
        "CREATE VIEW changes AS SELECT * FROM "
        "(SELECT * REPLACE (CAST(rtrim(modificationTime, 'Z') AS TIMESTAMP) AS modificationTime) FROM lines) "
        f'WHERE modificationTime BETWEEN {window} AND "table" IN ({names})'
    )
    return connection


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def rows(
    connection: duckdb.DuckDBPyConnection, sql: str, parameters: dict[str, str] | None = None
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The result's column names, and its rows in batches of ``FETCH_ROWS``; ``$name`` in the SQL takes ``parameters``."""
    try:
        result = connection.execute(sql, parameters or None)
    except duckdb.Error as error:
        raise QueryError(str(error).strip()) from None
    names = [column[0] for column in result.description or []]

    def batches() -> Iterator[tuple[Any, ...]]:
        while batch := result.fetchmany(FETCH_ROWS):
            yield from batch

    return names, batches()


def _text(value: Any) -> Any:
    """A value as JSON or CSV hold it: times in ISO 8601 UTC, numbers and JSON columns as they are."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    return value


def write(names: list[str], found: Iterator[tuple[Any, ...]], form: str, out: TextIO) -> int:
    """Write the rows as ``table`` (tab-separated with a header), ``csv`` or ``json`` (JSON Lines); how many."""
    writer = csv.writer(out)

    def emit(values: list[Any]) -> None:
        if form == "csv":
            writer.writerow(values)
        elif form == "json":
            print(json.dumps(dict(zip(names, values, strict=True)), ensure_ascii=False, default=str), file=out)
        else:
            print("\t".join("" if value is None else str(value) for value in values), file=out)

    if form != "json":
        emit(list(names))  # the header
    count = 0
    for row in found:
        emit([_text(value) for value in row])
        count += 1
    return count


def run(
    archive: Archive,
    tables: list[str],
    start: datetime,
    end: datetime,
    sql: str,
    form: str,
    out: TextIO,
    parameters: dict[str, str] | None = None,
) -> tuple[Collected, int]:
    """Run ``sql`` over the window's changes and write its rows; what was read, and how many rows were written."""
    with tempfile.TemporaryDirectory(prefix="changetrail-query-") as scratch:
        lines = Path(scratch) / "changes.jsonl"
        with lines.open("w", encoding="utf-8") as into:
            collected = collect(archive, tables, start, end, into)
        connection = connect(lines, tables, start, end)
        try:
            names, found = rows(connection, sql, parameters)
            return collected, write(names, found, form, out)
        finally:
            connection.close()
