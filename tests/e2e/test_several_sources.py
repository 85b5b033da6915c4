"""Several source tables in one stack: two created, one attached, all holding the same key values.

Each table's changes are audited, archived under its own prefix, notified with its table, and kept
apart in history and restore; attribute rules decide which modifications count; one source's failing
batches leave the others alone and are redriven from that source's own failure queue.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from changetrail import cli, history, restore, verify
from changetrail.archive import Archive
from changetrail.console import Clients, Console, ConsoleError
from changetrail.embedded import ARCHIVE_ACCOUNT, EmbeddedAws, client, faults, lambdas
from changetrail.embedded.accounts import ENVIRONMENT_LOCK
from changetrail.executions import InterpreterHistory
from changetrail.redrive import SERVICES, Redriver, RedriveSettings
from tests.e2e.conftest import archive_objects, audit_rows, drain, subscribe_queue

pytestmark = pytest.mark.e2e

TABLES = ("Configuration", "Orders", "Legacy")


def with_legacy_table(config: dict[str, Any]) -> dict[str, Any]:
    """Create the table the stack attaches to, then list all three sources."""
    table = client("dynamodb").create_table(
        TableName="Legacy",
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    config = {key: value for key, value in config.items() if key != "changetrail:source"}
    config["changetrail:sources"] = [
        {"tableName": "Configuration", "hashKey": "key", "ignoreAttributes": ["updatedAt"]},
        {"tableName": "Orders", "hashKey": "key", "auditAttributes": ["status"]},
        {"tableName": "Legacy", "hashKey": "key", "create": False, "streamArn": table["LatestStreamArn"]},
    ]
    config["changetrail:trigger"] = {**config.get("changetrail:trigger", {}), "maximumRetryAttempts": 1}
    return config


@pytest.fixture
def stack():
    aws = EmbeddedAws("dev", before_deploy=with_legacy_table)
    aws.start()
    yield aws
    aws.stop()


def put(table: str, key: str, **attributes: dict[str, Any]) -> None:
    client("dynamodb").put_item(TableName=table, Item={"key": {"S": key}, **attributes})


def rows_by_table(aws: EmbeddedAws) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in audit_rows(aws):
        grouped.setdefault(row["table"]["S"], []).append(row)
    return grouped


def test_each_table_is_audited_archived_and_notified_as_its_own(stack):
    topic = subscribe_queue(stack, "every-change")
    for table in TABLES:
        put(table, "A", value={"S": f"{table}-1"})
    stack.settle()

    rows = rows_by_table(stack)
    assert sorted(rows) == sorted(TABLES)
    assert {table: [r["newValue"]["M"]["value"]["S"] for r in rows[table]] for table in TABLES} == {
        table: [f"{table}-1"] for table in TABLES
    }
    archived = archive_objects(stack)
    prefixes = Counter(key.split("/")[1] for key in archived)
    assert prefixes == Counter(TABLES), "each table's changes under its own prefix"
    for key, lines in archived.items():
        assert {line["table"] for line in lines} == {key.split("/")[1]}
    notes = drain(topic)
    assert sorted(n["Body"]["MessageAttributes"]["table"]["Value"] for n in notes) == sorted(TABLES)


def test_the_same_key_in_three_tables_has_three_histories_and_restores_into_its_own_table(stack, capsys, tmp_path):
    for table in TABLES:
        put(table, "A", value={"S": f"{table}-1"})
        put(table, "A", value={"S": f"{table}-2"})
    stack.settle()
    client("dynamodb").delete_item(TableName="Orders", Key={"key": {"S": "A"}})
    stack.settle()
    ddb, outputs = client("dynamodb"), stack.outputs
    audit, index = outputs["audit_table_name"], outputs["audit_history_index"]

    for table in ("Configuration", "Legacy"):
        rows = history.item_history(ddb, audit, index, "A", table=table)
        assert [(row["table"]["S"], row["eventName"]["S"]) for row in rows] == [(table, "MODIFY"), (table, "INSERT")]
        modify, insert = rows
        assert modify["newValue"] == {"S": f"{table}-2"} and insert["newValue"]["M"]["value"] == {"S": f"{table}-1"}
    assert len(history.item_history(ddb, audit, index, "A")) == 6, "without --table: every table's rows of the key"
    # the CLI never interleaves them: without --table it asks for one, as restore does
    outputs_file = tmp_path / "out.json"
    outputs_file.write_text(json.dumps(outputs))
    capsys.readouterr()
    assert cli.main(["history", "--outputs", str(outputs_file), "--key", "A"]) == 2
    assert "several audited tables (Configuration, Legacy, Orders): give --table" in capsys.readouterr().err
    assert cli.main(["history", "--outputs", str(outputs_file), "--key", "A", "--table", "Legacy", "--json"]) == 0
    assert {row["table"] for row in json.loads(capsys.readouterr().out)} == {"Legacy"}
    # nor does the console: it asks for a table too
    console = Console(outputs, Clients(outputs, ENVIRONMENT_LOCK), lambda: None)
    with pytest.raises(ConsoleError, match=r"several audited tables \(Configuration, Legacy, Orders\): choose a table"):
        console.history("A")
    assert {row["table"] for row in console.history("A", "Orders")["rows"]} == {"Orders"}

    archive = Archive(client("s3", ARCHIVE_ACCOUNT), outputs["archive_bucket_name"], outputs.get("archive_prefix", "ddb-changes"))
    with pytest.raises(restore.RestoreError, match=r"several audited tables \(Configuration, Legacy, Orders\): give --table"):
        restore.plan(outputs, ddb, archive, "A", None)
    found = restore.plan(outputs, ddb, archive, "A", None, "Orders")
    assert (found.table, found.change["eventName"]) == ("Orders", "REMOVE")
    restore.apply(ddb, found)
    item = ddb.get_item(TableName="Orders", Key={"key": {"S": "A"}}, ConsistentRead=True)["Item"]
    assert item["value"] == {"S": "Orders-2"}
    assert ddb.get_item(TableName="Legacy", Key={"key": {"S": "A"}})["Item"]["value"] == {"S": "Legacy-2"}


def test_attribute_rules_decide_which_modifications_are_audited(stack):
    topic = subscribe_queue(stack, "every-change")
    put("Configuration", "A", value={"N": "1"}, updatedAt={"S": "t1"})
    put("Orders", "A", status={"S": "new"}, note={"S": "n1"})
    stack.settle()
    before_rows, before_objects = len(audit_rows(stack)), len(archive_objects(stack))
    drain(topic)

    put("Configuration", "A", value={"N": "1"}, updatedAt={"S": "t2"})  # only the ignored attribute
    put("Orders", "A", status={"S": "new"}, note={"S": "n2"})  # only an attribute not audited
    executions = stack.settle()

    assert all(e["status"] == "SUCCEEDED" for e in executions)
    assert len(audit_rows(stack)) == before_rows and len(archive_objects(stack)) == before_objects
    assert drain(topic) == [], "nothing notified for ignored changes"

    put("Configuration", "A", value={"N": "2"}, updatedAt={"S": "t3"})
    put("Orders", "A", status={"S": "paid"}, note={"S": "n3"})
    stack.settle()

    modified = [row for row in audit_rows(stack) if row["eventName"]["S"] == "MODIFY"]
    assert sorted((r["table"]["S"], r["updatedAttribute"]["S"]) for r in modified) == [
        ("Configuration", "value"),
        ("Orders", "status"),
    ]
    lines = [line for body in archive_objects(stack).values() for line in body if line["eventName"] == "MODIFY"]
    assert {line["table"]: line["newImage"] for line in lines}["Orders"]["note"] == {"S": "n3"}, "whole images archived"
    assert len(drain(topic)) == 2
    outputs = stack.outputs
    archive = Archive(client("s3", ARCHIVE_ACCOUNT), outputs["archive_bucket_name"], outputs.get("archive_prefix", "ddb-changes"))
    report = verify.verify(outputs, archive, client("dynamodb"), None, None, None, True, lambda message: None)
    assert report.findings == [] and report.clean, "verify applies the same rules: ignored changes are explained"


def test_one_sources_failing_batches_leave_the_others_alone_and_redrive_from_its_own_queue(stack):
    with faults.function_raises(stack.outputs, "trigger-Orders") as raised:
        for table in TABLES:
            put(table, "A", value={"S": table})
        stack.settle()

        assert raised["count"] >= 1
        assert sorted(rows_by_table(stack)) == ["Configuration", "Legacy"], "the others did not wait for Orders"

    [orders] = [source for source in stack.outputs["sources"] if source["table_name"] == "Orders"]
    assert orders["stream_failures_queue_url"] != stack.outputs["stream_failures_queue_url"]
    clients = {name: client(name) for name in SERVICES}
    redriver = Redriver(stack.outputs, clients, InterpreterHistory(clients["stepfunctions"], stack.outputs["state_machine_arn"]))
    assert orders["stream_failures_queue_url"] in redriver.queues()
    summary = redriver.run(RedriveSettings(wait=True))

    assert [outcome.action for outcome in summary.outcomes] == ["succeeded"]
    assert sorted(rows_by_table(stack)) == sorted(TABLES)
    assert len(audit_rows(stack)) == 3


def test_dead_letters_name_the_table_of_their_change(stack):
    def corrupt_orders(function_name: str, event: Any) -> None:
        if function_name.endswith("trigger-Orders"):
            for record in event.get("Records", []):
                record["dynamodb"]["NewImage"]["value"] = {"N": "not a number"}

    lambdas.hooks.append(corrupt_orders)
    try:
        with faults.function_raises(stack.outputs, "-write-audit", on_key="table/Legacy/"):
            put("Orders", "A", value={"S": "x"})
            put("Legacy", "B", value={"S": "y"})
            put("Configuration", "C", value={"S": "z"})
            stack.settle()
    finally:
        lambdas.hooks.remove(corrupt_orders)
    letters = {letter["Body"]["table"]: letter for letter in drain(stack.outputs["dlq_url"])}

    assert sorted(letters) == ["Legacy", "Orders"]
    assert (letters["Orders"]["Body"]["failedState"], letters["Orders"]["Body"]["error"]) == (
        "Decode",
        "MalformedStreamRecordError",
    )
    assert letters["Legacy"]["Body"]["failedState"] == "WriteAudit", "a whole chunk's letter names its table too"
    for table, letter in letters.items():
        assert letter["MessageAttributes"]["table"]["StringValue"] == table
    assert [row["itemKey"]["S"] for row in audit_rows(stack)] == ["C"]
