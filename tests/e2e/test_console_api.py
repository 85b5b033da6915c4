"""The console's API on the embedded AWS: what the page shows comes from the CLI's library, whole."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from changetrail import cli
from changetrail.archive import reader_client
from changetrail.console import Clients, Console, ConsoleError
from changetrail.embedded import client
from changetrail.embedded.accounts import ENVIRONMENT_LOCK
from changetrail.executions import InterpreterHistory
from changetrail.local import archive_hint
from tests.e2e.test_redrive import break_archive, dlq_depth, fix_archive

pytestmark = pytest.mark.e2e


@pytest.fixture
def console(aws) -> Console:
    outputs = aws.outputs
    return Console(
        outputs,
        Clients(outputs, ENVIRONMENT_LOCK),
        lambda: InterpreterHistory(client("stepfunctions"), outputs["state_machine_arn"]),
    )


@pytest.fixture
def one_of_each(aws) -> str:
    """GIVEN one item inserted then modified (succeeded) and one change failed in the archive; returns the policy to restore."""
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "3600"}})
    aws.settle()
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "CACHE_TTL_SEC"}, "value": {"N": "1800"}})
    aws.settle()
    policy = break_archive(aws)
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "LATE"}, "value": {"N": "1"}})
    aws.settle()
    return policy


def test_the_failed_execution_shows_where_it_failed_why_and_what_it_was_given(aws, console, one_of_each):
    listed = console.executions(limit=10)["executions"]
    assert sorted(e["status"] for e in listed) == ["FAILED", "SUCCEEDED", "SUCCEEDED"]
    (failed,) = console.executions(status="failed")["executions"]
    assert failed["failed_state"] == "Archive" and failed["records"] == 1

    view = console.execution(failed["name"])
    outcomes = {name: found["outcome"] for name, found in view["graph"]["outcomes"].items()}
    # Archive's error was caught into the dead-letter path; the Fail state ended the execution
    assert outcomes["Archive"] == "caught" and 'data-state="Archive"' in view["graph"]["svg"]
    assert 'data-failed-state="true"' in view["graph"]["svg"]
    assert [n for n, o in outcomes.items() if o == "failed"] == ["Failed"], "the Fail state it ended in"
    assert outcomes["ChangesRejected"] == "not_reached"
    assert outcomes["Notify"] == "not_reached" and outcomes["Decode"] == "succeeded"
    assert "Status Code: 403" in view["execution"]["cause"]
    # the event timeline, with the data the interpreter logged
    types = [event["type"] for event in view["events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionFailed" and "TaskFailed" in types
    assert json.loads(view["input"])["batch"]["recordCount"] == 1
    entered = next(e for e in view["events"] if e["type"] == "TaskStateEntered" and e["state"] == "Archive")
    assert entered["input"] and next(e for e in view["events"] if e["type"] == "TaskStateExited")["output"]
    with pytest.raises(LookupError):
        console.execution("chg-never-ran")


def test_dead_letters_are_grouped_with_their_context_and_a_redrive_needs_the_dry_runs_confirmation(aws, console, one_of_each):
    letters = console.dead_letters()
    assert letters["listed"] == 1 and letters["depth"] == 1
    (group,) = letters["groups"]
    assert (group["failedState"], group["count"]) == ("Archive", 1)
    (letter,) = group["letters"]
    assert letter["keys"] == ["LATE"] and letter["source"] == "dlq" and letter["execution"].startswith("chg-")
    assert console.dead_letters()["listed"] == 1, "looking takes nothing away"
    with console._redrive_lock, pytest.raises(ConsoleError) as busy:
        console.dead_letters()  # a look while a redrive runs would hide letters from it
    assert busy.value.status == 409

    # WHEN the dry run is done, nothing changes and a confirmation comes back
    dry = console.redrive({})
    assert dry["dryRun"] and dry["totals"]["would_redrive"] == 1 and dry["confirmation"]
    assert dlq_depth(aws) == 1
    with pytest.raises(ConsoleError) as refused:
        console.redrive({"confirm": "made-up"})
    assert refused.value.status == 409 and dlq_depth(aws) == 1

    # THEN the confirmed redrive (archive fixed) gets the change through, and the confirmation is spent
    fix_archive(aws, one_of_each)
    done = console.redrive({"confirm": dry["confirmation"]})
    assert done["totals"] == {
        "redriven": 1, "succeeded": 1, "failed_again": 0, "left": 0, "would_redrive": 0, "in_flight": 0, "other_tables": 0
    }  # fmt: skip
    assert dlq_depth(aws) == 0 and console.dead_letters()["groups"] == []
    with pytest.raises(ConsoleError):
        console.redrive({"confirm": dry["confirmation"]})
    assert console.redrive({})["confirmation"] is None, "nothing left to confirm"


def test_item_history_is_newest_first_with_old_and_new_values_and_its_archive_line(aws, console, one_of_each, tmp_path, capsys):
    found = console.history("CACHE_TTL_SEC")["rows"]
    assert [(r["eventName"], r["oldText"], r["newText"]) for r in found] == [
        ("MODIFY", "3600", "1800"),
        ("INSERT", None, '{"key": "CACHE_TTL_SEC", "value": 3600}'),
    ]
    assert console.history("CACHE_TTL_SEC", table="Other")["rows"] == []
    assert len(console.history("CACHE_TTL_SEC", table="Configuration", limit=1)["rows"]) == 1

    newest = found[0]
    line = console.archive_line(newest["table"], newest["modificationTime"], newest["sequenceNumber"], newest["eventId"])
    assert line["record"]["eventId"] == newest["eventId"] and line["record"]["changedAttributes"] == ["value"]
    assert line["uri"].startswith(f"s3://{aws.outputs['archive_bucket_name']}/") and line["line"] >= 1
    assert line["readAs"] == aws.outputs["archive_reader_role_arn"]
    late = console.history("LATE")["rows"][0]  # audited, but its archive write failed
    with pytest.raises(ConsoleError) as missing:
        console.archive_line(late["table"], late["modificationTime"], late["sequenceNumber"], late["eventId"])
    assert missing.value.status == 404 and "redrive" in str(missing.value)

    # AND `changetrail history` prints the same rows
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    assert cli.main(["history", "--outputs", str(outputs), "--key", "CACHE_TTL_SEC"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] for line in lines] == ["MODIFY", "INSERT"] and lines[0].endswith("value  3600 -> 1800")
    assert cli.main(["history", "--outputs", str(outputs), "--key", "CACHE_TTL_SEC", "--limit", "1", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["oldValue"] == {"N": "3600"} and row["newValue"] == {"N": "1800"} and row["updatedAttribute"] == "value"
    assert cli.main(["history", "--outputs", str(outputs), "--key", "NEVER"]) == 0
    assert capsys.readouterr().out.strip() == "no audit rows for 'NEVER'"
    with pytest.raises(SystemExit) as usage:
        cli.main(["history", "--outputs", str(outputs), "--key", "K", "--limit", "0"])
    assert usage.value.code == 2 and "use a whole number of at least 1" in capsys.readouterr().err


def test_the_archive_refuses_the_pipeline_account_and_opens_to_the_reader_role(aws):
    # What `changetrail local` and the README tell a new user, held true.
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "K"}, "value": {"N": "1"}})
    aws.settle()
    bucket = aws.outputs["archive_bucket_name"]
    with pytest.raises(ClientError) as refused:
        client("s3").list_objects_v2(Bucket=bucket)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    reader = reader_client(aws.outputs)
    assert reader.list_objects_v2(Bucket=bucket, Prefix=f"{aws.outputs['archive_prefix']}/")["KeyCount"] == 1
    with pytest.raises(ClientError) as root:  # its policy lists the archive prefix only, as on AWS
        reader.list_objects_v2(Bucket=bucket)
    assert root.value.response["Error"]["Code"] == "AccessDenied"
    hint = "\n".join(archive_hint({**aws.outputs, "endpoint_url": "http://127.0.0.1:4599"}))
    assert f"--role-arn {aws.outputs['archive_reader_role_arn']}" in hint and "refuses the pipeline account" in hint
