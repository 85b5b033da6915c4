"""Reading the archive (as the archive account's reader role): replay and restore build on this."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from changetrail.outputs import aws_client


def parse_time(text: str) -> datetime:
    """ISO 8601 (``2026-11-22T10:00``, ``...Z``, a date) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as error:
        raise ValueError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-22T10:00:00Z") from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reader_client(outputs: dict[str, Any], sts: Any | None = None) -> Any:
    """An S3 client acting as the archive reader role (cross-account)."""
    sts = sts or aws_client("sts", outputs)
    credentials = sts.assume_role(RoleArn=outputs["archive_reader_role_arn"], RoleSessionName="changetrail-operator")[
        "Credentials"
    ]
    return aws_client(
        "s3",
        outputs,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )


def json_lines(body: str) -> list[str]:
    """The lines of a JSON Lines body: split at ``\\n`` only, as it was written.

    ``str.splitlines`` also splits at U+2028, U+0085 and the other Unicode line breaks, which a
    JSON string holds unescaped: a legal value would cut its line in two.
    """
    return [line for line in body.split("\n") if line]


@dataclass
class ArchivedObject:
    key: str
    first_sequence: str
    last_sequence: str
    lines: list[dict[str, Any]]


class Archive:
    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, prefix.strip("/")

    def _table_prefix(self, table: str) -> str:
        return "/".join(part for part in (self.prefix, table) if part) + "/"

    def keys(self, table: str, start: datetime, end: datetime) -> Iterator[str]:
        """Object keys whose hour folder is within [start, end], in time order.

        Keys sort by time (``YYYY/MM/DD/HH/...``), so one listing from the start hour, stopped past
        the end hour, serves any window, however wide.
        """
        base = self._table_prefix(table)
        first_hour = f"{base}{start.astimezone(UTC):%Y/%m/%d/%H}/"
        last_hour = f"{base}{end.astimezone(UTC):%Y/%m/%d/%H}/"
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, StartAfter=first_hour[:-1])
        for page in pages:
            for entry in page.get("Contents", []):
                if entry["Key"][: len(last_hour)] > last_hour:
                    return
                yield entry["Key"]

    def read(self, key: str) -> ArchivedObject:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
        first, last = sequence_range(key)
        return ArchivedObject(key, first, last, [json.loads(line) for line in json_lines(body)])

    def objects(self, table: str, start: datetime, end: datetime) -> Iterator[ArchivedObject]:
        for key in self.keys(table, start, end):
            yield self.read(key)

    def locate(
        self, table: str, moment: datetime, sequence: str, event_id: str, key: str | None = None
    ) -> tuple[ArchivedObject, int] | None:
        """The archive object holding one change and the index of its line, or None (not archived yet).

        ``key``: the object the change's claim row names. Without it (rows written before claims
        named their object), objects are searched: one lies in the hour folder of its chunk's
        first change, so the hour before the change's own is searched too, and only objects
        whose sequence range holds the change are read.
        """
        keys = [key] if key else self.keys(table, moment - timedelta(hours=1), moment)
        for candidate in keys:
            first, last = sequence_range(candidate)
            if not (first.isdigit() and last.isdigit() and int(first) <= int(sequence) <= int(last)):
                continue
            archived = self.read(candidate)
            for index, line in enumerate(archived.lines):
                if line.get("eventId") == event_id:
                    return archived, index
        return None


def sequence_range(key: str) -> tuple[str, str]:
    """``.../<first>-<last>[-<digest>].jsonl`` -> (first, last): the stream range the object's changes came from."""
    first, last, *_ = key.rsplit("/", 1)[-1].removesuffix(".jsonl").split("-")
    return first, last


def in_window(line: dict[str, Any], start: datetime, end: datetime, item_key: str | None) -> bool:
    moment = parse_time(line["modificationTime"])
    return start <= moment <= end and (item_key is None or line["itemKey"] == item_key)
