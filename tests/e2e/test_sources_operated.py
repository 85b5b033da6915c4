"""Operating a stack of two sources (Alpha, Beta) on the embedded AWS: executions, dead letters and
redrive by source table, from the CLI and from the console's API, as an operator would use them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from changetrail import cli
from changetrail.console import Clients, Console, ConsoleError
from changetrail.embedded import EmbeddedAws, client, faults, lambdas
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


# -- dead letters and redrive ----------------------------------------------------------------
def depth(url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def depths(stack: EmbeddedAws) -> dict[str, int]:
    return {"dlq": depth(stack.outputs["dlq_url"]), **{t: depth(source(stack, t)["stream_failures_queue_url"]) for t in TABLES}}


@pytest.fixture
def letters_of_each(stack, one_failure_each) -> None:
    """GIVEN also each table's next change given up on by its trigger (its stream-failures queue holds it)."""
    triggers = {source(stack, table)["trigger_function_name"] for table in TABLES}

    def down(function_name: str, event: Any) -> None:
        if function_name in triggers:
            raise RuntimeError("trigger unavailable")

    lambdas.hooks.append(down)
    try:
        for table in TABLES:
            put(table, "DOWN", value={"N": "3"})
        stack.pump()
    finally:
        lambdas.hooks.remove(down)
    assert depths(stack) == {"dlq": 2, "Alpha": 1, "Beta": 1}


def audited(stack: EmbeddedAws) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {table: [] for table in TABLES}
    for row in audit_rows(stack):
        found[row["table"]["S"]].append(row["itemKey"]["S"])
    return {table: sorted(keys) for table, keys in found.items()}


def test_redrive_table_dry_run_first_then_moves_only_that_sources_messages(stack, outputs_file, letters_of_each, capsys):
    code, out, _ = run(capsys, "redrive", "--outputs", str(outputs_file), "--table", "Beta", "--dry-run", "--json")
    dry = json.loads(out)
    assert code == 0 and dry["table"] == "Beta"
    assert (dry["totals"]["would_redrive"], dry["totals"]["other_tables"]) == (2, 1), "Beta's letter in the DLQ and its stream's"
    assert depths(stack) == {"dlq": 2, "Alpha": 1, "Beta": 1}, "a dry run moves nothing"

    code, out, _ = run(
        capsys, "redrive", "--outputs", str(outputs_file), "--table", "Beta", "--wait", "--visibility-timeout", "1"
    )
    assert code == 0 and "redriven 2, succeeded 2, failed again 0, left 0" in out
    assert "left alone 1 letter(s) of other tables" in out
    assert depths(stack) == {"dlq": 1, "Alpha": 1, "Beta": 0}, "only Beta's messages moved"
    assert audited(stack) == {"Alpha": ["OK"], "Beta": ["DOWN", "LATE", "OK"]}
    (alpha_letter,) = [json.loads(m["Body"]) for m in peek(stack.outputs["dlq_url"])]
    assert alpha_letter["table"] == "Alpha"


def peek(url: str) -> list[dict[str, Any]]:
    sqs = client("sqs")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    return messages


def test_redrive_of_a_table_the_stack_does_not_audit_is_a_user_error_and_moves_nothing(stack, outputs_file, capsys):
    code, _, err = run(capsys, "redrive", "--outputs", str(outputs_file), "--table", "Gamma", "--dry-run")
    assert code == 2 and err.strip() == "changetrail: --table 'Gamma' is not audited by this stack; its tables: Alpha, Beta"


def test_the_console_filters_dead_letters_by_table_and_redrives_only_that_tables(stack, console, letters_of_each):
    alpha = console.dead_letters(table="Alpha")
    letters = [letter for group in alpha["groups"] for letter in group["letters"]]
    assert sorted((letter["source"], letter["table"]) for letter in letters) == [("dlq", "Alpha"), ("stream-failures", "Alpha")]
    assert [q["name"] for q in alpha["queues"]] == ["changetrail-dev-dlq", "changetrail-dev-stream-failures"]
    every = console.dead_letters()
    assert sorted(letter["table"] for group in every["groups"] for letter in group["letters"]) == [
        "Alpha",
        "Alpha",
        "Beta",
        "Beta",
    ]
    with pytest.raises(ConsoleError) as refused:
        console.dead_letters(table="Gamma")
    assert refused.value.status == 400

    dry = console.redrive({"table": "Alpha"})
    assert (dry["dryRun"], dry["table"], dry["totals"]["would_redrive"]) == (True, "Alpha", 2)
    done = console.redrive({"confirm": dry["confirmation"]})
    assert (done["totals"]["succeeded"], done["table"]) == (2, "Alpha")
    assert depths(stack) == {"dlq": 1, "Alpha": 0, "Beta": 1}
    assert audited(stack) == {"Alpha": ["DOWN", "LATE", "OK"], "Beta": ["OK"]}
