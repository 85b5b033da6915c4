"""The ASL definition: placeholders render, and every state is retried, caught and dead-lettered."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from statemachine import DEFINITION_PATH, SUBSTITUTIONS, placeholders, render

VALUES = {name: f"<{name}>" for name in SUBSTITUTIONS}
DLQ = "SendToDLQ"
FALLBACK = "SendToFallback"


@pytest.fixture(scope="module")
def definition() -> dict:
    return json.loads(DEFINITION_PATH.read_text())


@pytest.fixture(scope="module")
def states(definition) -> dict:
    return definition["States"]


def all_states(states: dict, inside: str = "") -> Iterator[tuple[str, dict]]:
    """Every state, including those of Map item processors and Parallel branches, as (path, state)."""
    for name, state in states.items():
        yield f"{inside}{name}", state
        for scope in [state.get("ItemProcessor") or state.get("Iterator"), *state.get("Branches", [])]:
            if scope:
                yield from all_states(scope["States"], f"{inside}{name}/")


def failure_pass(states: dict, name: str) -> str:
    """Follow a state's States.ALL catch (through an AlreadyArchived choice's default) to the Pass that records it."""
    [catch] = [c for c in states[name].get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
    assert catch["ResultPath"] == "$.error", name
    target = catch["Next"]
    if states[target]["Type"] == "Choice":
        target = states[target]["Default"]
    return target


# ---------------------------------------------------------------- render


def test_given_the_definition_when_scanned_then_its_placeholders_are_exactly_the_substitutions():
    assert placeholders() == set(SUBSTITUTIONS)


def test_given_every_substitution_when_rendered_then_no_placeholder_is_left_and_jsonpath_is_untouched():
    rendered = render(VALUES)

    assert "${" not in rendered
    definition = json.loads(rendered)
    for name, value in VALUES.items():
        assert value in rendered, name
    assert definition["States"]["Decode"]["Parameters"]["FunctionName"] == "<DecodeFunctionArn>"
    assert definition["States"]["Archive"]["Credentials"]["RoleArn"] == "<ArchiveRoleArn>"
    body = definition["States"]["DeadLetter"]["Parameters"]["deadLetter"]
    assert body["input.$"] == "$$.Execution.Input"


@pytest.mark.parametrize("missing", SUBSTITUTIONS)
def test_given_a_missing_substitution_when_rendered_then_key_error(missing):
    values = {name: value for name, value in VALUES.items() if name != missing}

    with pytest.raises(KeyError, match=missing):
        render(values)


def test_given_an_unknown_substitution_when_rendered_then_key_error_names_it():
    with pytest.raises(KeyError, match="QueueArnTypo"):
        render({**VALUES, "QueueArnTypo": "x"})


# ---------------------------------------------------------------- retries


def test_given_every_task_when_inspected_then_it_retries_with_backoff_and_jitter(states):
    tasks = [(path, state) for path, state in all_states(states) if state["Type"] == "Task"]

    assert {path for path, _ in tasks} >= {
        "Decode",
        "Diff",
        "WriteAudit",
        "Archive",
        "ArchiveByParts/CompleteArchiveUpload",
        "Notify",
        DLQ,
    }
    for path, task in tasks:
        assert task.get("Retry"), path
        for retry in task["Retry"]:
            assert retry["BackoffRate"] > 1, path
            assert retry["JitterStrategy"] == "FULL", path
            assert retry["MaxAttempts"] >= 1, path


# ---------------------------------------------------------------- failure path


def test_given_every_top_level_task_when_it_fails_then_a_pass_names_it_and_sends_to_the_dlq(states):
    workers = [name for name, state in states.items() if state["Type"] in ("Task", "Parallel") and name not in (DLQ, FALLBACK)]

    assert workers == ["Decode", "Diff", "WriteAudit", "Archive", "ArchiveByParts", "Notify"]
    for name in workers:
        recorder = states[failure_pass(states, name)]
        assert recorder["Type"] == "Pass", name
        assert recorder["ResultPath"] == "$.failedState", name
        assert recorder["Result"] == name.removesuffix("ByParts"), "one name per step for the DLQ and redrive"
        assert recorder["Next"] == "DescribeFailure", name
    describe = states["DescribeFailure"]
    [described] = describe["Choices"]
    assert described["Next"] == "DeadLetter"
    assert described["And"] == [
        {"Variable": "$.batch.recordCount", "IsPresent": True},
        {"Variable": "$.batch.eventSourceArn", "StringMatches": "arn:*:table/*/stream/*"},
    ], "the letter names its chunk's size and table only when the input has both"
    assert states["DeadLetter"]["Parameters"]["deadLetter"]["table.$"].startswith("States.ArrayGetItem(States.StringSplit(")
    assert describe["Default"] == "DeadLetterOfUnknownSize", "an input without batch coordinates still gets its letter"
    assert states["DeadLetter"]["Next"] == states["DeadLetterOfUnknownSize"]["Next"] == DLQ


def test_given_the_happy_path_when_followed_then_there_is_no_map_and_nothing_per_row(states):
    maps = [name for name, state in states.items() if state["Type"] == "Map"]

    assert maps == ["DeadLetterRejected"], "only rejected changes are iterated, one dead letter each"
    assert states["WriteAudit"]["Resource"] == "arn:aws:states:::lambda:invoke"
    assert states["WriteAudit"]["Parameters"]["FunctionName"] == "${WriteAuditFunctionArn}"
    assert states["Notify"]["Parameters"]["FunctionName"] == "${NotifyFunctionArn}"


def test_given_each_state_when_it_finishes_then_it_drops_what_the_next_states_do_not_need(states):
    # Lambda states replace the state data with their output; Archive and Notify replace what they consumed.
    for name in ("Decode", "Diff", "WriteAudit"):
        assert states[name]["OutputPath"] == "$.Payload", name
    assert states["Archive"]["ResultPath"] == states["ArchiveByParts"]["ResultPath"] == "$.archive", "the body is dropped"
    assert states["Notify"]["ResultPath"] == "$.notifications", "the messages are dropped"
    assert states["Done"] == {"Type": "Succeed", "OutputPath": "$.summary"}


@pytest.mark.parametrize("name", ["DeadLetter", "DeadLetterOfUnknownSize"])
def test_given_the_dlq_message_when_inspected_then_it_carries_everything_redrive_needs(states, name):
    letter = states[name]
    body = letter["Parameters"]["deadLetter"]
    send = states[DLQ]

    assert letter["Type"] == "Pass" and "ResultPath" not in letter and "OutputPath" not in letter
    assert set(letter["Parameters"]) == {"deadLetter", "failure"}, "the letter replaces the state data"
    assert states["Failed"]["ErrorPath"] == "$.deadLetter.error", "the error once, in the letter"
    assert letter["Parameters"]["failure"]["failedState.$"] == "$.failedState"
    assert body["input.$"] == "$$.Execution.Input"
    assert body["error.$"] == "$.error.Error"
    assert body["cause.$"] == "$.error.Cause"
    assert body["failedState.$"] == "$.failedState"
    assert body["executionArn.$"] == "$$.Execution.Id"
    assert "failedAt.$" in body
    assert send["Resource"] == "arn:aws:states:::sqs:sendMessage"
    assert send["Parameters"]["QueueUrl"] == "${DeadLetterQueueUrl}"
    assert send["Parameters"]["MessageBody.$"] == "$.deadLetter"
    assert send["Next"] == "Failed"


def test_given_the_dlq_unavailable_when_sending_fails_then_the_same_letter_goes_to_the_payload_bucket(states):
    (catch,) = states[DLQ]["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == FALLBACK
    assert catch["ResultPath"] == "$.deadLetterError", "the original error stays for the Fail state"
    fallback = states[FALLBACK]
    assert fallback["Resource"] == "arn:aws:states:::aws-sdk:s3:putObject"
    assert fallback["Parameters"]["Bucket"] == "${PayloadBucketName}"
    assert fallback["Parameters"]["Key.$"] == "States.Format('payloads/dead-letters/{}.json', $$.Execution.Name)"
    assert fallback["Parameters"]["Body.$"] == "States.JsonToString($.deadLetter)"
    assert "Catch" not in fallback, "a failing last resort must fail the execution, not loop"
    assert fallback["Next"] == "Failed"


def test_given_the_end_of_the_failure_path_when_inspected_then_it_fails_with_the_error_and_a_summary(states):
    # The cause names the failed state, the chunk's size and its table, so ERROR-level logs (no state events) and
    # logs without execution data tell them.
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.deadLetter.error", "CausePath": "States.JsonToString($.failure)"}
    assert states["DeadLetter"]["Parameters"]["failure"] == {
        "failedState.$": "$.failedState",
        "cause.$": "$.error.Cause",
        "records.$": "$.batch.recordCount",
        "table.$": "States.ArrayGetItem(States.StringSplit($.batch.eventSourceArn, '/'), 1)",
    }
    assert states["DeadLetterOfUnknownSize"]["Parameters"]["failure"]["table"] == "unknown"


def test_given_rejected_changes_when_the_execution_ends_then_each_gets_its_own_dead_letter_and_it_fails(states):
    finish = states["Finish"]
    assert finish["Choices"] == [{"Variable": "$.rejected[0]", "IsPresent": True, "Next": "DeadLetterRejected"}]
    assert finish["Default"] == "Done"
    letters = states["DeadLetterRejected"]
    assert letters["ItemsPath"] == "$.rejected" and letters["Next"] == "ChangesRejected"
    body = letters["ItemSelector"]["deadLetter"]
    assert body["input.$"] == "$$.Execution.Input"
    assert body["only.$"] == "States.Array($$.Map.Item.Value.eventId)", "redrive re-runs that change alone"
    assert (body["error.$"], body["failedState.$"]) == ("$$.Map.Item.Value.error", "$$.Map.Item.Value.state")
    send = letters["ItemProcessor"]["States"]["SendRejectedToDLQ"]
    assert send["Parameters"]["MessageBody.$"] == "$.deadLetter"
    assert send["Catch"][0]["Next"] == "SendRejectedToFallback"
    assert "Catch" not in letters, "a letter neither SQS nor S3 takes fails the execution loudly"
    assert states["ChangesRejected"] == {"Type": "Fail", "Error": "ChangesRejected", "CausePath": "$.rejectedCause"}


def archive_writes(states: dict) -> dict[str, dict]:
    """Every task that writes into the archive bucket, by path."""
    return {
        path: state
        for path, state in all_states(states)
        if state["Type"] == "Task" and state.get("Parameters", {}).get("Bucket") == "${ArchiveBucketName}"
    }


def test_given_every_archive_write_when_inspected_then_it_runs_as_the_target_role_in_the_target_account(states):
    writes = archive_writes(states)

    assert sorted(writes) == [
        "Archive", "ArchiveByParts/CompleteArchiveUpload", "ArchiveByParts/CopyArchivePart", "ArchiveByParts/StartArchiveUpload",
    ]  # fmt: skip
    for path, task in writes.items():
        assert task["Credentials"]["RoleArn"] == "${ArchiveRoleArn}", path
        assert task["Parameters"]["ExpectedBucketOwner"] == "${ArchiveAccountId}", path


def test_given_an_archive_write_that_creates_the_object_then_it_never_overwrites(states):
    """The object appears only on PutObject or CompleteMultipartUpload: both conditional; no copy into the bucket."""
    creating = {
        path: task["Resource"].rsplit(":", 1)[-1]
        for path, task in archive_writes(states).items()
        if task["Resource"].endswith((":putObject", ":completeMultipartUpload", ":copyObject"))
    }

    assert creating == {"Archive": "putObject", "ArchiveByParts/CompleteArchiveUpload": "completeMultipartUpload"}
    # S3 asks a put into a bucket with Object Lock for an integrity checksum; a multipart completion carries no body
    assert states["Archive"]["Parameters"]["ChecksumAlgorithm"] == "CRC32"
    for path in creating:
        assert dict(all_states(states))[path]["Parameters"]["IfNoneMatch"] == "*", path


@pytest.mark.parametrize("name", ["Archive", "ArchiveByParts"])
def test_given_the_archive_step_when_it_fails_then_only_an_existing_object_skips_the_dlq(states, name):
    archive = states[name]

    choice = states[archive["Catch"][0]["Next"]]
    assert choice["Type"] == "Choice"
    (already,) = choice["Choices"]
    assert already["Next"] == "Notify" and already["Or"] == [
        {"Variable": "$.error.Cause", "StringMatches": "*Status Code: 412*"},
        {"Variable": "$.error.Cause", "StringMatches": "*pre-conditions you specified did not hold*"},
    ], "a 412, also when S3 reports it in the body of a 200 (CompleteMultipartUpload)"
    assert archive["Next"] == "Notify"


def test_given_a_body_left_in_the_payload_bucket_when_archiving_then_its_one_part_is_copied_from_the_pipeline_account(states):
    choice = states[states["WriteAudit"]["Next"]]
    assert choice["Type"] == "Choice" and choice["Default"] == "Archive"
    by_reference, nothing = choice["Choices"]
    assert by_reference == {"Variable": "$.archive.bodyRef", "IsPresent": True, "Next": "ArchiveByParts"}
    assert nothing == {"Variable": "$.archive.body", "StringEquals": "", "Next": "Notify"}, "no empty objects"
    (branch,) = states["ArchiveByParts"]["Branches"]
    steps = branch["States"]
    assert branch["StartAt"] == "StartArchiveUpload"
    assert [steps["StartArchiveUpload"]["Next"], steps["CopyArchivePart"]["Next"]] == ["CopyArchivePart", "CompleteArchiveUpload"]
    copy = steps["CopyArchivePart"]["Parameters"]
    assert copy["CopySource.$"] == "States.Format('{}/{}', $.archive.bodyRef.bucket, $.archive.bodyRef.key)"
    assert copy["ExpectedSourceBucketOwner"] == "${PipelineAccountId}"
    assert (copy["UploadId.$"], copy["PartNumber"]) == ("$.upload.uploadId", 1)
    complete = steps["CompleteArchiveUpload"]["Parameters"]
    assert complete["MultipartUpload"] == {"Parts": [{"ETag.$": "$.part.eTag", "PartNumber": 1}]}
    assert states["ArchiveByParts"]["ResultSelector"] == {"eTag.$": "$[0].eTag"}


def test_given_a_concurrent_create_or_a_server_error_when_completing_then_a_new_upload_is_started_a_few_times(states):
    """S3 answers 409 ConditionalRequestConflict (or 5xx) and asks for a new upload: the Parallel runs the branch again."""
    parts = states["ArchiveByParts"]
    steps = parts["Branches"][0]["States"]
    assert steps["CompleteArchiveUpload"]["Retry"][0]["ErrorEquals"] == ["States.Timeout"], "never retried in place"
    (catch,) = steps["CompleteArchiveUpload"]["Catch"]
    interrupted = steps[catch["Next"]]
    (rule,) = interrupted["Choices"]
    assert rule["Or"] == [
        {"Variable": "$.error.Cause", "StringMatches": "*Status Code: 409*"},
        {"Variable": "$.error.Cause", "StringMatches": "*Status Code: 5*"},
    ]
    assert steps[rule["Next"]]["Error"] == "ArchiveUploadInterrupted"
    failed = steps[interrupted["Default"]]
    assert (failed["Type"], failed["Error"], failed["CausePath"]) == ("Fail", "ArchiveUploadFailed", "$.error.Cause")
    (retry,) = parts["Retry"]
    assert retry["ErrorEquals"] == ["ArchiveUploadInterrupted"] and 1 <= retry["MaxAttempts"] <= 5


def test_given_an_s3_task_when_s3_fails_then_it_retries_under_the_name_aws_gives_s3_errors(states):
    """AWS names an S3 error its SDK does not model S3.S3Exception (SlowDown, InternalError, 503 among them)."""
    for path, task in all_states(states):
        if task.get("Resource", "").startswith("arn:aws:states:::aws-sdk:s3:") and path != "ArchiveByParts/CompleteArchiveUpload":
            names = {name for retry in task["Retry"] for name in retry["ErrorEquals"]}
            assert names & {"S3.S3Exception", "States.ALL"}, path
            assert not names & {"S3.InternalError", "S3.SlowDown", "S3.ServiceUnavailable"}, f"{path}: names AWS never raises"


def test_given_the_audit_writer_throttled_when_it_fails_then_the_state_retries_with_backoff(states):
    [throttled, *_] = states["WriteAudit"]["Retry"]

    assert throttled["ErrorEquals"] == ["AuditTableThrottledError"]
    assert throttled["MaxAttempts"] >= 6 and throttled["BackoffRate"] == 2


def test_given_every_next_when_followed_then_it_names_a_state_in_the_same_scope(states):
    def check(scope: dict) -> None:
        for name, state in scope.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])]
            for target in filter(None, targets):
                assert target in scope, f"{name} -> {target}"
            if "ItemProcessor" in state:
                check(state["ItemProcessor"]["States"])
            for branch in state.get("Branches", []):
                check(branch["States"])

    check(states)
