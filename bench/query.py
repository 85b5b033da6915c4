"""How long ``changetrail query`` takes over 100,000 archived changes, on the embedded AWS (``make bench-query``).

The changes are written straight into the archive bucket as the pipeline lays them out (objects of
100 lines, ~1 KB items, one hour folder per 10,000 changes), then read back through the reader role
and queried: the time to read the objects, and the time of two queries over them (a count by
event, and a grouping into the JSON images), each the median of three runs.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from changetrail import query
from changetrail.archive import Archive, reader_client
from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client

LINES_PER_OBJECT = 100
QUERIES = {
    "count by event": "SELECT eventName, count(*) FROM changes GROUP BY ALL",
    "price changes per hour": (
        "SELECT date_trunc('hour', modificationTime) AS hour, count(*), sum(CAST(newImage->>'$.price.N' AS DECIMAL(38, 2))) "
        "FROM changes WHERE list_contains(changedAttributes, 'price') GROUP BY ALL ORDER BY ALL"
    ),
}


def line(number: int) -> str:
    key = {"key": {"S": f"item-{number % 5000:05d}"}}
    image = {**key, "price": {"N": f"{number % 997}.25"}, "note": {"S": "x" * 900}}
    hour, second = divmod(number, 10_000)
    return json.dumps({
        "eventId": f"{number:032x}", "eventName": "MODIFY", "table": "Configuration", "keys": key,
        "itemKey": key["key"]["S"], "itemKeyParts": {"key": key["key"]["S"]}, "sequenceNumber": str(10**20 + number),
        "modificationTime": f"2026-01-01T{hour:02d}:{second // 600 % 60:02d}:{second // 10 % 60:02d}.000Z",
        "expiredByTtl": False, "oldImage": image, "newImage": image, "changedAttributes": ["price"],
    })  # fmt: skip


def fill(aws: EmbeddedAws, changes: int) -> None:
    s3, bucket = client("s3", ARCHIVE_ACCOUNT), aws.outputs["archive_bucket_name"]
    for first in range(0, changes, LINES_PER_OBJECT):
        last = min(changes, first + LINES_PER_OBJECT) - 1
        hour = first // 10_000
        key = f"{aws.outputs['archive_prefix']}/Configuration/2026/01/01/{hour:02d}/{10**20 + first}-{10**20 + last}-bench.jsonl"
        body = "\n".join(line(number) for number in range(first, last + 1)) + "\n"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), IfNoneMatch="*")


def main(changes: int) -> None:
    with EmbeddedAws("dev") as aws:
        fill(aws, changes)
        archive = Archive(reader_client(aws.outputs), aws.outputs["archive_bucket_name"], aws.outputs["archive_prefix"])
        start, end = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
        with TemporaryDirectory() as scratch:
            lines = Path(scratch) / "changes.jsonl"
            began = time.perf_counter()
            with lines.open("w") as into:
                objects = query.collect(archive, ["Configuration"], start, end, into).objects
            read_seconds = time.perf_counter() - began
            megabytes = round(lines.stat().st_size / 1e6, 1)
            connection = query.connect(lines, ["Configuration"], start, end)
            timings = {}
            for name, sql in QUERIES.items():
                runs = []
                for _ in range(3):
                    began = time.perf_counter()
                    names, found = query.rows(connection, sql)
                    query.write(names, found, "table", io.StringIO())
                    runs.append(time.perf_counter() - began)
                timings[name] = round(statistics.median(runs), 3)
    report = {"changes": changes, "objects": objects, "megabytes": megabytes, "read_seconds": round(read_seconds, 2)}
    print(json.dumps({**report, "query_seconds": timings}, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
