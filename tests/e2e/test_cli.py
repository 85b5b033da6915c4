"""The operator CLI end to end, in-process against the embedded AWS: exit codes, output, queue depths."""

from __future__ import annotations

import json

import pytest

from changetrail import cli
from changetrail.embedded import ARCHIVE_ACCOUNT, client
from tests.e2e.test_redrive import break_archive, dlq_depth, fix_archive

pytestmark = pytest.mark.e2e


@pytest.fixture
def failed_change(aws, tmp_path):
    """One change archived, one failed into the DLQ; returns the outputs file."""
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "OK"}, "value": {"N": "1"}})
    aws.settle()
    policy = break_archive(aws)
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "LATE"}, "value": {"N": "2"}})
    aws.settle()
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    return outputs, policy


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_executions_lists_the_failure_and_shows_where_it_failed(aws, failed_change, capsys):
    outputs, _ = failed_change
    code, out, _ = run(capsys, "executions", "--outputs", str(outputs), "--source", "history", "--status", "failed")
    assert code == 0 and out.count("FAILED") == 1 and " in Archive" in out
    name = out.splitlines()[1].split()[4]
    code, out, _ = run(capsys, "executions", name, "--outputs", str(outputs))
    assert code == 0 and "failed in Archive" in out and "Archive" in out.splitlines()[4]
    code, out, _ = run(capsys, "executions", "--outputs", str(outputs), "--source", "logs", "--json")
    assert code == 0 and sorted(e["status"] for e in json.loads(out)) == ["FAILED", "SUCCEEDED"]


def test_redrive_dry_run_changes_nothing_then_redrive_empties_the_dlq(aws, failed_change, capsys):
    outputs, policy = failed_change
    code, out, _ = run(capsys, "redrive", "--outputs", str(outputs), "--dry-run")
    assert code == 0 and "would redrive 1 message(s)" in out and " in Archive" in out and "dry run" in out
    assert dlq_depth(aws) == 1
    fix_archive(aws, policy)
    code, out, _ = run(capsys, "redrive", "--outputs", str(outputs), "--wait")
    assert code == 0 and "redriven 1, succeeded 1, failed again 0, left 0" in out
    assert dlq_depth(aws) == 0


def test_replay_to_stdout_and_restore_dry_run(aws, failed_change, capsys):
    outputs, policy = failed_change
    fix_archive(aws, policy)
    code, out, _ = run(capsys, "replay", "--outputs", str(outputs), "--from", "2000-01-01T00:00Z", "--stdout", "--key", "OK")
    assert code == 0 and [json.loads(line)["itemKey"] for line in out.splitlines()] == ["OK"]
    client("dynamodb").delete_item(TableName="Configuration", Key={"key": {"S": "OK"}})
    aws.settle()
    code, out, _ = run(capsys, "restore", "--outputs", str(outputs), "--key", "OK", "--dry-run")
    assert code == 0 and "restoring the deleted item" in out and "dry run: nothing written" in out
    assert "Item" not in client("dynamodb").get_item(TableName="Configuration", Key={"key": {"S": "OK"}})
    code, out, _ = run(capsys, "restore", "--outputs", str(outputs), "--key", "OK")
    assert code == 0 and client("dynamodb").get_item(TableName="Configuration", Key={"key": {"S": "OK"}})["Item"]["value"] == {
        "N": "1"
    }


def test_user_errors_are_one_line_with_exit_code_2(aws, tmp_path, capsys):
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    code, _, err = run(capsys, "restore", "--outputs", str(outputs), "--key", "NEVER-SEEN")
    assert code == 2 and err.strip() == "changetrail: no audited change of 'NEVER-SEEN' in Configuration"
    code, _, err = run(capsys, "replay", "--outputs", str(outputs), "--from", "yesterday")
    assert code == 2 and "is not an ISO 8601 time" in err
    for flag, value in (("--max", "-3"), ("--max-attempts", "0"), ("--visibility-timeout", "50000")):
        with pytest.raises(SystemExit) as refused:
            run(capsys, "redrive", "--outputs", str(outputs), flag, value)
        assert refused.value.code == 2 and value in capsys.readouterr().err
    outputs.write_text("{}")
    code, _, err = run(capsys, "redrive", "--outputs", str(outputs))
    assert code == 2 and "stack outputs lack" in err
    assert client("s3", ARCHIVE_ACCOUNT)  # the embedded AWS is still up
