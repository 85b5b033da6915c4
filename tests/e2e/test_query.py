"""``changetrail query``: SQL over the archive answers what the archive's lines say, read one by one.

Through the CLI, with the reader role, on a stack with a composite key: binary values, sets and
38-digit numbers come back exact, counts and groupings agree with a Python reading of every
archived line, the window and ``--table`` cut exactly, and bad SQL is a user error.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from changetrail import cli
from changetrail.embedded import ARCHIVE_ACCOUNT, client
from tests.e2e.conftest import archive_objects

pytestmark = pytest.mark.e2e
BIG = "12345678901234567890123456789012345678"


@pytest.fixture
def archived(deploy, tmp_path):
    """A composite-key stack with inserts, modifies and deletes archived; returns (outputs file, archive lines)."""
    aws = deploy({"changetrail:source": {"rangeKey": "sk"}})
    ddb = client("dynamodb")
    for n in range(6):
        key = {"key": {"S": f"a|{n % 3}"}, "sk": {"S": f"s\\{n}"}}
        item = {**key, "n": {"N": BIG if n == 0 else str(n)}, "blob": {"B": bytes([0, 255, n])}, "tags": {"SS": ["x", "y"]}}
        ddb.put_item(TableName="Configuration", Item=item)
        ddb.put_item(TableName="Configuration", Item={**item, "price": {"N": f"{n}.50"}})
        if n % 2:
            ddb.delete_item(TableName="Configuration", Key=key)
    aws.settle()
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    return outputs, [line for body in archive_objects(aws).values() for line in body]


def query(outputs, sql: str, *options: str, capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["query", "--outputs", str(outputs), sql, *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_counts_and_groupings_agree_with_the_archive_read_line_by_line(archived, capsys):
    outputs, lines = archived
    code, out, _ = query(
        outputs, "SELECT eventName, itemKey, count(*) AS n FROM changes GROUP BY ALL ORDER BY ALL", "--json", capsys=capsys
    )

    assert code == 0
    found = {(row["eventName"], row["itemKey"]): row["n"] for row in map(json.loads, out.splitlines())}
    assert found == Counter((line["eventName"], line["itemKey"]) for line in lines)
    assert sum(found.values()) == len(lines) == 6 + 6 + 3


def test_binary_sets_38_digit_numbers_and_key_parts_come_back_exact(archived, capsys):
    outputs, lines = archived
    sql = (
        "SELECT eventId, itemKeyParts['sk'] AS sk, newImage->>'$.n.N' AS n, newImage->>'$.blob.B' AS blob, "
        "newImage->'$.tags.SS' AS tags, changedAttributes FROM changes WHERE eventName = 'INSERT'"
    )
    code, out, _ = query(outputs, sql, "--json", capsys=capsys)

    assert code == 0
    found = {row["eventId"]: row for row in map(json.loads, out.splitlines())}
    inserts = [line for line in lines if line["eventName"] == "INSERT"]
    assert len(found) == len(inserts) == 6
    for line in inserts:
        row, image = found[line["eventId"]], line["newImage"]
        assert (row["sk"], row["n"], row["blob"]) == (line["itemKeyParts"]["sk"], image["n"]["N"], image["blob"]["B"])
        assert json.loads(row["tags"]) == image["tags"]["SS"] and row["changedAttributes"] == []
    assert BIG in {row["n"] for row in found.values()}, "38 digits, not a float"


def test_modified_attributes_are_a_list_and_csv_has_a_header(archived, capsys):
    outputs, lines = archived
    sql = "SELECT itemKey, unnest(changedAttributes) AS attribute FROM changes WHERE eventName = 'MODIFY' ORDER BY 1"
    code, out, _ = query(outputs, sql, "--csv", capsys=capsys)

    assert code == 0
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header == ["itemKey", "attribute"]
    expected = sorted(
        (line["itemKey"], name) for line in lines if line["eventName"] == "MODIFY" for name in line["changedAttributes"]
    )
    assert sorted(map(tuple, rows)) == expected and {name for _, name in expected} == {"price"}


def test_the_window_and_the_table_cut_exactly(archived, capsys):
    outputs, lines = archived
    latest = max(line["modificationTime"] for line in lines)
    after = (datetime.fromisoformat(latest) + timedelta(milliseconds=1)).astimezone(UTC).isoformat()

    assert query(outputs, "SELECT count(*) FROM changes", "--from", after, capsys=capsys)[1].splitlines()[1] == "0"
    assert query(outputs, "SELECT count(*) FROM changes", "--to", latest, capsys=capsys)[1].splitlines()[1] == str(len(lines))
    code, _, err = query(outputs, "SELECT 1", "--table", "Nope", capsys=capsys)
    assert code == 2 and "Nope" in err


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT nope FROM changes", "SELECT * FROM elsewhere"])
def test_bad_sql_is_a_user_error_with_a_clear_message_and_no_traceback(archived, capsys, sql):
    outputs, _ = archived
    code, out, err = query(outputs, sql, capsys=capsys)

    assert code == 2 and out == ""
    assert "the query could not run" in err and "Traceback" not in err


def test_a_broken_object_neither_takes_the_query_down_nor_passes_unnoticed(archived, capsys):
    outputs, lines = archived
    settings = json.loads(outputs.read_text())
    bucket, prefix = settings["archive_bucket_name"], settings["archive_prefix"]
    hour = lines[0]["modificationTime"][:13].replace("-", "/").replace("T", "/")
    key = f"{prefix}/Configuration/{hour}/1-2-broken.jsonl"
    body = json.dumps(lines[0]) + "\n{oops\n[1]\n"
    client("s3", ARCHIVE_ACCOUNT).put_object(Bucket=bucket, Key=key, Body=body.encode(), IfNoneMatch="*")

    code, out, err = query(outputs, "SELECT count(*) FROM changes", capsys=capsys)

    assert code == 0 and out.splitlines()[1] == str(len(lines) + 1)  # the broken object's one good line counts
    assert f"left out 2 lines that are no JSON object ({key}:2, {key}:3)" in err and "changetrail verify" in err


def sequence_order(line: dict) -> tuple:
    return line["modificationTime"], len(line["sequenceNumber"]), line["sequenceNumber"]


def json_rows(out: str) -> list[dict]:
    return [json.loads(text) for text in out.splitlines()]


def test_the_named_queries_answer_as_a_python_reading_of_the_same_lines(archived, capsys):
    outputs, lines = archived
    item = lines[0]["itemKey"]  # a composite key, its '|' and '\' escaped

    code, out, _ = query(outputs, "item-history", "--param", f"item={item}", "--json", capsys=capsys)
    mine = sorted((line for line in lines if line["itemKey"] == item), key=sequence_order)
    assert code == 0 and [row["eventName"] for row in json_rows(out)] == [line["eventName"] for line in mine]

    code, out, _ = query(outputs, "attribute-changes", "--param", "attribute=price", "--json", capsys=capsys)
    found = sorted((row["itemKey"], row["oldValue"], json.loads(row["newValue"])) for row in json_rows(out))
    expected = sorted(
        (line["itemKey"], None, line["newImage"]["price"])
        for line in lines
        if line["eventName"] == "MODIFY" and "price" in line["changedAttributes"]
    )
    assert code == 0 and found == expected and len(found) == 6

    code, out, _ = query(outputs, "changes-per-hour", "--json", capsys=capsys)
    found_hours = {(row["table"], row["hour"][:13], row["eventName"]): row["changes"] for row in json_rows(out)}
    assert code == 0 and found_hours == Counter(
        (line["table"], line["modificationTime"][:13], line["eventName"]) for line in lines
    )

    code, out, _ = query(outputs, "removes", "--json", capsys=capsys)
    removed = [line for line in lines if line["eventName"] == "REMOVE"]
    assert code == 0 and sorted(row["itemKey"] for row in json_rows(out)) == sorted(line["itemKey"] for line in removed)


def test_a_named_query_without_its_parameter_is_a_user_error_and_the_list_names_them(archived, capsys):
    outputs, _ = archived
    code, out, err = query(outputs, "item-history", capsys=capsys)
    assert code == 2 and out == "" and "item-history takes --param item=VALUE" in err

    assert cli.main(["query", "--list"]) == 0
    listed = capsys.readouterr().out
    assert {line.split("\t")[0] for line in listed.splitlines()} == {
        "attribute-changes", "changes-per-hour", "item-history", "removes"
    }  # fmt: skip
