"""The archive cannot be rewritten by the pipeline's principals, and `changetrail verify` names every tampering.

GIVEN the dev stack on the embedded AWS (archive locked in GOVERNANCE mode, the writer allowed
only conditional creates), WHEN someone overwrites, deletes, alters, forges or drops, THEN the
write is refused, or verify exits 1 naming exactly what changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from changetrail import cli, verify
from changetrail.archive import Archive
from changetrail.embedded import ARCHIVE_ACCOUNT, authorization, client, faults, stepfunctions, trust
from changetrail.embedded.accounts import role_credentials
from tests.e2e.conftest import archive_objects, archive_versions, audit_rows, clean_environment, free_port
from tests.e2e.test_redrive import break_archive, fix_archive

pytestmark = pytest.mark.e2e
LOCAL_KEYS = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "aws_region": "us-east-1"}


def writer_s3(aws):
    """A plain S3 client holding a session of the writer role as the Archive task gets it (its keys leaked, say).

    Nothing on the client's side checks it: the embedded AWS holds each request to the session's
    role policies, the bucket policy and the lock, as S3 does.
    """
    session = trust.assume_role(aws.outputs["archive_role_arn"], stepfunctions.execution_role_arn)
    return boto3.client("s3", region_name="us-east-1", **session)


def reader_s3(aws):
    return boto3.client("s3", region_name="us-east-1", **role_credentials(aws.outputs["archive_reader_role_arn"]))


def reader_archive(aws) -> Archive:
    return Archive(reader_s3(aws), aws.outputs["archive_bucket_name"], aws.outputs["archive_prefix"])


def code_of(raised: pytest.ExceptionInfo[ClientError]) -> str:
    return raised.value.response["Error"]["Code"]


def some_changes(aws) -> None:
    ddb = client("dynamodb")
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "A"}, "value": {"N": "1"}, "blob": {"B": b"\x00\xff"}})
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "B"}, "value": {"S": "x"}})
    aws.settle()
    ddb.put_item(TableName="Configuration", Item={"key": {"S": "A"}, "value": {"N": "2"}, "blob": {"B": b"\x00\xff"}})
    ddb.delete_item(TableName="Configuration", Key={"key": {"S": "B"}})
    aws.settle()


def run_verify(aws, *argv: str, capsys, tmp_path) -> tuple[int, dict]:
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    capsys.readouterr()  # what the pipeline's functions logged before
    code = cli.main(["verify", "--outputs", str(outputs), "--json", *argv])
    return code, json.loads(capsys.readouterr().out)


def findings(aws, **options) -> list[verify.Finding]:
    return verify.verify(aws.outputs, reader_archive(aws), client("dynamodb"), **options).findings


# -- the archive cannot be rewritten ---------------------------------------------------------------
def test_the_writer_role_can_neither_overwrite_nor_delete_an_archived_object(aws):
    some_changes(aws)
    objects, versions = archive_objects(aws), archive_versions(aws)
    key = next(iter(objects))
    bucket, s3 = aws.outputs["archive_bucket_name"], writer_s3(aws)

    with pytest.raises(ClientError) as overwrite:
        s3.put_object(Bucket=bucket, Key=key, Body=b"forged\n")
    assert code_of(overwrite) == "AccessDenied"
    with pytest.raises(ClientError) as conditional:
        s3.put_object(Bucket=bucket, Key=key, Body=b"forged\n", IfNoneMatch="*", ChecksumAlgorithm="CRC32")
    assert code_of(conditional) == "PreconditionFailed"  # allowed to try a create; S3 refuses: the key exists
    version = s3_versions(aws, key)[0]
    for attempt in (
        {"Key": key},
        {"Key": key, "VersionId": version},
        {"Key": key, "VersionId": version, "BypassGovernanceRetention": True},
    ):
        with pytest.raises(ClientError) as deleted:
            s3.delete_object(Bucket=bucket, **attempt)
        assert code_of(deleted) == "AccessDenied", attempt
    assert archive_objects(aws) == objects and archive_versions(aws) == versions


def test_the_bucket_policy_refuses_overwrites_and_removals_even_if_the_writer_role_were_widened(aws):
    some_changes(aws)
    key = next(iter(archive_objects(aws)))
    bucket = aws.outputs["archive_bucket_name"]
    widened = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
    }
    role = aws.outputs["archive_role_arn"].rsplit("/", 1)[-1]
    client("iam", ARCHIVE_ACCOUNT).put_role_policy(RoleName=role, PolicyName="mistake", PolicyDocument=json.dumps(widened))
    s3 = writer_s3(aws)
    s3.get_object(Bucket=bucket, Key=key)  # the widened grant is in force...
    with pytest.raises(ClientError) as overwrite:
        s3.put_object(Bucket=bucket, Key=key, Body=b"forged\n")
    with pytest.raises(ClientError) as deleted:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=s3_versions(aws, key)[0], BypassGovernanceRetention=True)
    # ...and the bucket's own denies still win
    assert code_of(overwrite) == code_of(deleted) == "AccessDenied"
    assert any("s3:DeleteObjectVersion" in refusal for refusal in authorization.denied)


def test_a_locked_version_survives_the_archive_account_unless_it_lifts_governance(aws):
    some_changes(aws)
    key = next(iter(archive_objects(aws)))
    bucket, admin = aws.outputs["archive_bucket_name"], client("s3", ARCHIVE_ACCOUNT)
    version = s3_versions(aws, key)[0]
    assert admin.head_object(Bucket=bucket, Key=key, VersionId=version)["ObjectLockMode"] == "GOVERNANCE"
    with pytest.raises(ClientError) as refused:
        admin.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert code_of(refused) == "AccessDenied"
    # S3 lifts governance retention only for the header's value "true" (moto alone took any value).
    request = {"Bucket": bucket, "Key": key, "VersionId": version}
    with pytest.raises(ClientError):
        admin.delete_object(**request, BypassGovernanceRetention=False)
    admin.delete_object(**request, BypassGovernanceRetention=True)
    assert key not in archive_objects(aws)


def s3_versions(aws, key: str) -> list[str]:
    listed = client("s3", ARCHIVE_ACCOUNT).list_object_versions(Bucket=aws.outputs["archive_bucket_name"], Prefix=key)
    return [v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key]


def test_the_reader_may_read_and_list_the_archive_prefix_but_not_the_bucket_root_nor_write(aws):
    some_changes(aws)
    bucket, s3 = aws.outputs["archive_bucket_name"], reader_s3(aws)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ddb-changes/").get("Contents", [])]
    assert sorted(keys) == sorted(archive_objects(aws))
    s3.get_object(Bucket=bucket, Key=keys[0])
    for call in (
        lambda: s3.list_objects_v2(Bucket=bucket),
        lambda: s3.put_object(Bucket=bucket, Key="ddb-changes/x.jsonl", Body=b"x", IfNoneMatch="*"),
        lambda: s3.delete_object(Bucket=bucket, Key=keys[0]),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert code_of(refused) == "AccessDenied"


def test_an_existing_unlocked_bucket_gains_the_lock_in_place(deploy):
    aws = deploy({"changetrail:archive": {"lockMode": "OFF"}})
    some_changes(aws)
    bucket, admin = aws.outputs["archive_bucket_name"], client("s3", ARCHIVE_ACCOUNT)
    before = archive_objects(aws)
    # What `pulumi up` does when lockMode is set on a stack whose bucket already holds the archive.
    admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}},
    )
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "AFTER"}, "value": {"N": "1"}})
    aws.settle()
    (new,) = set(archive_objects(aws)) - set(before)
    assert admin.head_object(Bucket=bucket, Key=new)["ObjectLockMode"] == "GOVERNANCE"
    old = next(iter(before))  # objects written before the lock keep no retention: S3 applies it to new versions only
    assert "ObjectLockMode" not in admin.head_object(Bucket=bucket, Key=old)


# -- verify names what changed -----------------------------------------------------------------------
def test_verify_on_a_clean_run_exits_0(aws, capsys, tmp_path):
    some_changes(aws)
    code, report = run_verify(aws, "--source", capsys=capsys, tmp_path=tmp_path)
    assert code == 0 and report["clean"] and report["findings"] == []
    assert report["archived_changes"] == 4 and report["expected_rows"] == report["audit_rows"] == 4
    assert report["source_items"] == 1


def test_verify_names_an_altered_audit_row(aws, capsys, tmp_path):
    some_changes(aws)
    (row,) = [r for r in audit_rows(aws) if r["eventName"]["S"] == "MODIFY"]
    client("dynamodb").update_item(
        TableName="Audit",
        Key={"id": row["id"]},
        UpdateExpression="SET newValue = :v",
        ExpressionAttributeValues={":v": {"N": "3"}},
    )
    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)
    assert code == 1
    (finding,) = report["findings"]
    assert (finding["kind"], finding["audit_id"], finding["item_key"]) == ("row-differs", row["id"]["S"], "A")
    assert "newValue differ" in finding["detail"]


def test_verify_names_a_deleted_audit_row(aws):
    some_changes(aws)
    (row,) = [r for r in audit_rows(aws) if r["eventName"]["S"] == "REMOVE"]
    client("dynamodb").delete_item(TableName="Audit", Key={"id": row["id"]})
    (finding,) = findings(aws)
    assert (finding.kind, finding.audit_id, finding.item_key, finding.event_id) == (
        "missing-row",
        row["id"]["S"],
        "B",
        row["eventId"]["S"],
    )


def test_verify_names_a_forged_audit_row(aws):
    some_changes(aws)
    forged = {**audit_rows(aws)[0], "id": {"S": str(uuid.uuid4())}, "eventId": {"S": "forged"}}
    client("dynamodb").put_item(TableName="Audit", Item=forged)
    (finding,) = findings(aws)
    assert (finding.kind, finding.audit_id, finding.event_id) == ("unexpected-row", forged["id"]["S"], "forged")


def test_verify_names_the_rows_of_an_archive_object_removed_with_governance_bypass(aws, capsys, tmp_path):
    some_changes(aws)
    key, lines = next(iter(archive_objects(aws).items()))
    bucket, admin = aws.outputs["archive_bucket_name"], client("s3", ARCHIVE_ACCOUNT)
    for version in s3_versions(aws, key):
        admin.delete_object(Bucket=bucket, Key=key, VersionId=version, BypassGovernanceRetention=True)
    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)
    assert code == 1
    removed = {line["eventId"] for line in lines}
    orphans = {r["id"]["S"] for r in audit_rows(aws) if r["eventId"]["S"] in removed}
    assert orphans and {f["audit_id"] for f in report["findings"]} == orphans
    assert {f["kind"] for f in report["findings"]} == {"unexpected-row"}


def test_verify_source_names_an_item_written_while_its_stream_record_was_dropped(aws, capsys, tmp_path):
    some_changes(aws)
    ddb = client("dynamodb")
    with faults.stream_records_dropped(aws) as dropped:
        ddb.put_item(TableName="Configuration", Item={"key": {"S": "A"}, "value": {"N": "99"}, "blob": {"B": b"\x00\xff"}})
        ddb.put_item(TableName="Configuration", Item={"key": {"S": "GHOST"}, "value": {"N": "1"}})
    assert dropped["count"] == 2
    aws.settle()
    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)
    assert code == 0, "the Audit table agrees with the archive: neither saw the writes"
    code, report = run_verify(aws, "--source", capsys=capsys, tmp_path=tmp_path)
    assert code == 1
    named = {f["item_key"]: f for f in report["findings"]}
    assert set(named) == {"A", "GHOST"} and {f["kind"] for f in named.values()} == {"source-unexplained"}
    assert named["A"]["detail"].startswith("value differ") and "archive holds no change" in named["GHOST"]["detail"]


def test_verify_filters_by_table_and_window_and_refuses_what_it_cannot_serve(aws, capsys, tmp_path):
    some_changes(aws)
    (row,) = [r for r in audit_rows(aws) if r["eventName"]["S"] == "REMOVE"]
    client("dynamodb").delete_item(TableName="Audit", Key={"id": row["id"]})
    code, report = run_verify(aws, "--to", "2001-01-01T00:00Z", capsys=capsys, tmp_path=tmp_path)
    assert code == 0 and report["archived_changes"] == 0  # the deleted row's change is outside the window
    code, report = run_verify(aws, "--table", "Configuration", capsys=capsys, tmp_path=tmp_path)
    assert code == 1 and [f["kind"] for f in report["findings"]] == ["missing-row"]
    outputs = tmp_path / "out.json"
    assert cli.main(["verify", "--outputs", str(outputs), "--table", "Nope"]) == 2
    assert "no table 'Nope'" in capsys.readouterr().err
    assert cli.main(["verify", "--outputs", str(outputs), "--from", "2026-01-02", "--to", "2026-01-01"]) == 2
    assert cli.main(["verify", "--outputs", str(outputs), "--from", "yesterday"]) == 2


def test_verify_prints_a_table_by_default(aws, capsys, tmp_path):
    some_changes(aws)
    (row,) = [r for r in audit_rows(aws) if r["eventName"]["S"] == "REMOVE"]
    client("dynamodb").delete_item(TableName="Audit", Key={"id": row["id"]})
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    assert cli.main(["verify", "--outputs", str(outputs)]) == 1
    out = capsys.readouterr().out
    assert "1 finding(s): missing-row 1" in out and row["id"]["S"][:8] in out and "REMOVE row is not in the Audit table" in out


def test_verify_tells_a_row_waiting_in_the_dlq_pending_from_a_forged_one_in_one_run(aws, capsys, tmp_path):
    some_changes(aws)
    # GIVEN a change whose rows were written but whose archive write failed: it waits in the DLQ
    policy = break_archive(aws)
    client("dynamodb").put_item(TableName="Configuration", Item={"key": {"S": "LATE"}, "value": {"N": "7"}})
    aws.settle()
    fix_archive(aws, policy)
    (late,) = [r for r in audit_rows(aws) if r["itemKey"]["S"] == "LATE"]
    # AND a forged row
    forged = {**audit_rows(aws)[0], "id": {"S": str(uuid.uuid4())}, "eventId": {"S": "forged"}}
    client("dynamodb").put_item(TableName="Audit", Item=forged)

    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)

    assert code == 1
    kinds = {f["audit_id"]: f["kind"] for f in report["findings"]}
    assert kinds == {late["id"]["S"]: "pending", forged["id"]["S"]: "unexpected-row"}
    (pending,) = [f for f in report["findings"] if f["kind"] == "pending"]
    assert "waiting in changetrail-dev-dlq" in pending["detail"] and pending["event_id"] == late["eventId"]["S"]
    assert report["waiting_changes"] == 1 and not report["only_pending"]
    code, _ = run_verify(aws, "--allow-pending", capsys=capsys, tmp_path=tmp_path)
    assert code == 1, "a forged row fails verify whatever waits"

    # WHEN only the pending row is left, THEN verify still exits 1, and 0 only when asked to allow it
    client("dynamodb").delete_item(TableName="Audit", Key={"id": forged["id"]})
    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)
    assert code == 1 and report["only_pending"] and report["counts"] == {"pending": 1}
    code, _ = run_verify(aws, "--allow-pending", capsys=capsys, tmp_path=tmp_path)
    assert code == 0
    assert cli.main(["verify", "--outputs", str(tmp_path / "out.json")]) == 1
    assert "changetrail redrive --table Configuration --dry-run, then --wait" in capsys.readouterr().out

    # AND once redriven, it is archived and explained
    assert cli.main(["redrive", "--outputs", str(tmp_path / "out.json"), "--wait"]) == 0
    capsys.readouterr()
    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)
    assert code == 0 and report["clean"] and report["waiting_changes"] == 0


# -- verify reads every row and every object (issue 28) ---------------------------------------------
def forge_row(aws, drop: tuple[str, ...] = (), **replaced: str) -> str:
    """A plain put_item of a copy of a row of item A under a new id, without ``drop``, with ``replaced`` text values."""
    rows = audit_rows(aws)  # in no order, and perhaps holding rows forged before: copy a genuine one
    genuine = next(row for row in rows if row["itemKey"]["S"] == "A" and not row["eventId"]["S"].startswith("forged-"))
    row = {**genuine, "id": {"S": str(uuid.uuid4())}, "eventId": {"S": f"forged-{uuid.uuid4()}"}}
    row = {name: value for name, value in row.items() if name not in drop} | {k: {"S": v} for k, v in replaced.items()}
    client("dynamodb").put_item(TableName="Audit", Item=row)
    return row["id"]["S"]


def forge_object(aws, key: str, body: bytes) -> None:
    """A new object, put as the archive account (the bucket's owner: on AWS too it may create keys that do not exist)."""
    s3 = client("s3", ARCHIVE_ACCOUNT)
    s3.put_object(Bucket=aws.outputs["archive_bucket_name"], Key=key, Body=body, IfNoneMatch="*", ChecksumAlgorithm="CRC32")


def test_verify_names_forged_rows_of_no_table_a_foreign_table_or_no_time_whatever_the_window(aws, capsys, tmp_path):
    some_changes(aws)
    no_table = forge_row(aws, drop=("table",), modificationTime="2099-01-01T00:00:00.000Z")
    foreign = forge_row(aws, table="NoSuchSource")
    no_time = forge_row(aws, drop=("modificationTime",))
    bad_time = forge_row(aws, modificationTime="yesterday")

    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)

    assert code == 1
    kinds = {f["audit_id"]: f["kind"] for f in report["findings"]}
    assert kinds == {no_table: "malformed-row", foreign: "unexpected-row", no_time: "malformed-row", bad_time: "malformed-row"}
    named = {f["audit_id"]: f["detail"] for f in report["findings"]}
    assert "lacking table" in named[no_table] and "no source of this stack" in named[foreign]
    # a window narrows what is reported, not what is read: a row of no time is in every window, one of no table of the
    # stack in every --table
    code, report = run_verify(aws, "--from", "2098-12-31T00:00Z", "--table", "Configuration", capsys=capsys, tmp_path=tmp_path)
    reported = {f["audit_id"]: (f["kind"], f["table"], f["time"], f["detail"]) for f in report["findings"]}
    assert code == 1 and set(reported) == {no_table, no_time, bad_time}, reported
    assert report["audit_rows_read"] == 8 and report["audit_rows"] == 3 and report["archived_changes_read"] == 4


def test_a_forged_row_of_no_table_never_tops_the_history(aws, capsys, tmp_path):
    some_changes(aws)
    forge_row(aws, drop=("table",), modificationTime="2099-01-01T00:00:00.000Z", historySortKey="2099-01-01T00:00:00.000Z#9")
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps(aws.outputs))
    capsys.readouterr()
    assert cli.main(["history", "--outputs", str(outputs), "--key", "A", "--json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["table"] for r in rows] == ["Configuration", "Configuration"] and rows[0]["eventName"] == "MODIFY"
    assert "left out 1 row(s) naming no table of this stack" in captured.err


def test_verify_reports_unreadable_and_misplaced_objects_and_blames_a_copy_on_the_later_writer(aws, capsys, tmp_path):
    some_changes(aws)
    genuine_key, genuine_lines = next(iter(archive_objects(aws).items()))
    genuine_body = "".join(json.dumps(line) + "\n" for line in genuine_lines).encode()
    prefix, table = aws.outputs["archive_prefix"], "Configuration"
    name = genuine_key.rsplit("/", 1)[-1]
    garbled = f"{prefix}/{table}/2026/01/01/00/{name}"
    forge_object(aws, garbled, b"{not json\n" + genuine_body)  # line 1 unreadable, the rest a copy
    forge_object(aws, f"{prefix}/{table}/evil.jsonl", genuine_body)
    forge_object(aws, f"{prefix}/{table}/1999/01/01/00/{name}", genuine_body)

    code, report = run_verify(aws, capsys=capsys, tmp_path=tmp_path)

    assert code == 1, "no crash: a report, and exit 1"
    by_kind: dict[str, set[str]] = {}
    for finding in report["findings"]:
        by_kind.setdefault(finding["kind"], set()).add(finding["archive_key"])
    assert by_kind == {
        "unreadable-object": {garbled},
        "misplaced-object": {f"{prefix}/{table}/evil.jsonl"},
        "duplicate-line": {garbled, f"{prefix}/{table}/1999/01/01/00/{name}"},
    }, "the genuine object and its rows are never blamed"
    (unreadable,) = [f for f in report["findings"] if f["kind"] == "unreadable-object"]
    assert unreadable["detail"].startswith("line 1 is not JSON")
    assert report["counts"]["duplicate-line"] == 2 * len(genuine_lines)


def test_verify_exits_3_with_a_reason_when_aws_cannot_be_reached(tmp_path):
    port = free_port()  # nothing listens on it
    outputs = tmp_path / "out.json"
    outputs.write_text(json.dumps({
        "state_machine_arn": "arn:aws:states:us-east-1:111111111111:stateMachine:x", "region": "us-east-1",
        "dlq_url": f"http://127.0.0.1:{port}/111111111111/dlq", "audit_table_name": "Audit", "archive_bucket_name": "b",
        "archive_reader_role_arn": "arn:aws:iam::222222222222:role/r", "archive_prefix": "ddb-changes",
    }))  # fmt: skip
    env = {**clean_environment(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", **{k.upper(): v for k, v in LOCAL_KEYS.items()}}
    process = subprocess.run(
        [sys.executable, "-m", "changetrail.cli", "verify", "--outputs", str(outputs), "--json"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert process.returncode == verify.EXIT_COULD_NOT_VERIFY
    (reason,) = process.stderr.strip().splitlines()
    assert reason.startswith("changetrail verify: could not verify: AWS unreachable") and "Traceback" not in process.stderr
    assert json.loads(process.stdout) == {"verified": False, "clean": False, "could_not_verify": reason.split(": ", 2)[2]}


def test_verify_exits_3_when_access_is_denied_or_it_crashes_or_is_interrupted_and_2_for_a_user_error(
    aws, capsys, tmp_path, monkeypatch
):
    some_changes(aws)
    outputs = tmp_path / "out.json"
    # the reader may list the archive prefix, not the bucket root: outputs with no prefix make it list the root
    outputs.write_text(json.dumps({**aws.outputs, "archive_prefix": ""}))
    capsys.readouterr()
    assert cli.main(["verify", "--outputs", str(outputs), "--json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["could_not_verify"].startswith("AWS refused ListObjectsV2: AccessDenied")
    assert captured.err.count("\n") == 1

    outputs.write_text(json.dumps(aws.outputs))
    for raised in (RuntimeError("boom"), KeyboardInterrupt()):

        def fail(*_args, error=raised, **_kwargs):
            raise error

        monkeypatch.setattr(verify, "read_archive", fail)
        assert cli.main(["verify", "--outputs", str(outputs)]) == 3
        assert capsys.readouterr().err.strip().splitlines()[-1] in {
            "changetrail verify: could not verify: RuntimeError: boom",
            "changetrail verify: could not verify: interrupted",
        }
    assert cli.main(["verify", "--outputs", str(outputs), "--json", "--table", "Nope"]) == 2
