"""Operating a stack of two sources (Alpha, Beta) on the embedded AWS: executions, dead letters and
redrive by source table, from the CLI and from the console's API, as an operator would use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from changetrail import cli
from changetrail.console import Clients, Console, ConsoleError
from changetrail.embedded import EmbeddedAws, client, faults
from changetrail.embedded.accounts import ENVIRONMENT_LOCK
from changetrail.executions import InterpreterHistory
from tests.e2e.conftest import audit_rows

pytestmark = pytest.mark.e2e
TABLES = ("Alpha", "Beta")


def two_sources(config: dict[str, Any]) -> dict[str, Any]:
    config = {key: value for key, value in config.items() if key != "changetrail:source"}
    config["changetrail:sources"] = [{"tableName": table, "hashKey": "key", "ignoreAttributes": ["seen"]} for table in TABLES]
    config["changetrail:trigger"] = {**config.get("changetrail:trigger", {}), "maximumRetryAttempts": 1}
    return config


@pytest.fixture
def stack():
    aws = EmbeddedAws("dev", before_deploy=two_sources)
    aws.start()
    yield aws
    aws.stop()


@pytest.fixture
def outputs_file(stack, tmp_path) -> Path:
    path = tmp_path / "out.json"
    path.write_text(json.dumps(stack.outputs))
    return path


@pytest.fixture
def console(stack) -> Console:
    outputs = stack.outputs
    return Console(
        outputs,
        Clients(outputs, ENVIRONMENT_LOCK),
        lambda: InterpreterHistory(client("stepfunctions"), outputs["state_machine_arn"]),
    )


def put(table: str, key: str, **attributes: dict[str, Any]) -> None:
    client("dynamodb").put_item(TableName=table, Item={"key": {"S": key}, **attributes})


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def source(stack: EmbeddedAws, table: str) -> dict[str, Any]:
    (found,) = [s for s in stack.outputs["sources"] if s["table_name"] == table]
    return found


@pytest.fixture
def one_failure_each(stack) -> None:
    """GIVEN each table's first change audited, then each table's second change failed into the DLQ in Decode."""
    for table in TABLES:
        put(table, "OK", value={"N": "1"})
    stack.settle()
    with faults.function_raises(stack.outputs, "-decode"):
        for table in TABLES:
            put(table, "LATE", value={"N": "2"})
        stack.settle()


# -- executions ------------------------------------------------------------------------------
def test_executions_table_lists_only_that_sources_executions(stack, outputs_file, one_failure_each, capsys):
    code, out, _ = run(capsys, "executions", "--outputs", str(outputs_file), "--source", "history", "--json")
    assert code == 0 and sorted(e["table"] for e in json.loads(out)) == ["Alpha", "Alpha", "Beta", "Beta"]

    code, out, err = run(capsys, "executions", "--outputs", str(outputs_file), "--source", "history", "--table", "Beta", "--json")
    listed = json.loads(out)
    assert code == 0 and err == ""
    assert [(e["table"], e["status"]) for e in listed] == [("Beta", "FAILED"), ("Beta", "SUCCEEDED")]

    code, out, _ = run(capsys, "executions", "--outputs", str(outputs_file), "--source", "history", "--table", "Alpha")
    assert code == 0 and "Alpha" in out and "Beta" not in out and out.count("FAILED") == 1


def test_from_logs_without_execution_data_a_failed_execution_still_names_its_table(stack, outputs_file, one_failure_each, capsys):
    # The embedded AWS logs as the dev stack does: level ALL, no execution data, so no input in the logs.
    code, out, err = run(capsys, "executions", "--outputs", str(outputs_file), "--source", "logs", "--table", "Beta", "--json")
    listed = json.loads(out)

    assert code == 0 and [(e["table"], e["status"], e["failed_state"]) for e in listed] == [("Beta", "FAILED", "Decode")]
    assert "2 execution(s) name no table and are not listed for Beta" in err, "the succeeded ones, of both tables"


def test_executions_of_a_table_the_stack_does_not_audit_is_a_user_error(stack, outputs_file, capsys):
    code, _, err = run(capsys, "executions", "--outputs", str(outputs_file), "--table", "Gamma")
    assert code == 2 and err.strip() == "changetrail: --table 'Gamma' is not audited by this stack; its tables: Alpha, Beta"


def test_the_console_filters_executions_by_source_table(stack, console, one_failure_each):
    every = console.executions(limit=10)
    assert sorted(e["table"] for e in every["executions"]) == ["Alpha", "Alpha", "Beta", "Beta"]
    beta = console.executions(limit=10, table="Beta")
    assert [e["table"] for e in beta["executions"]] == ["Beta", "Beta"] and beta["table"] == "Beta"
    failed_alpha = console.executions(status="failed", limit=10, table="Alpha")["executions"]
    assert [(e["table"], e["failed_state"]) for e in failed_alpha] == [("Alpha", "Decode")]
    with pytest.raises(ConsoleError) as refused:
        console.executions(table="Gamma")
    assert refused.value.status == 400 and "not audited by this stack" in str(refused.value)
    assert sorted(row["table"]["S"] for row in audit_rows(stack)) == ["Alpha", "Beta"], "looking changed nothing"
