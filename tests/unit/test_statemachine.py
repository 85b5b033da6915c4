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
    """Every state, including those of Map item processors, as (path, state)."""
    for name, state in states.items():
        yield f"{inside}{name}", state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor["States"], f"{inside}{name}/")


def failure_pass(states: dict, name: str) -> str:
    """Follow a state's States.ALL catch (through a Choice's default) to the Pass that records it."""
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

    assert {path for path, _ in tasks} >= {"Decode", "Diff", "WriteAudit/PutAuditRow", "Archive", "Notify/Publish", DLQ}
    for path, task in tasks:
        assert task.get("Retry"), path
        for retry in task["Retry"]:
            assert retry["BackoffRate"] > 1, path
            assert retry["JitterStrategy"] == "FULL", path
            assert retry["MaxAttempts"] >= 1, path


# ---------------------------------------------------------------- failure path


def test_given_every_top_level_task_or_map_when_it_fails_then_a_pass_names_it_and_sends_to_the_dlq(states):
    workers = [name for name, state in states.items() if state["Type"] in ("Task", "Map") and name not in (DLQ, FALLBACK)]

    assert workers == ["Decode", "Diff", "WriteAudit", "Archive", "ArchiveByCopy", "Notify"]
    for name in workers:
        recorder = states[failure_pass(states, name)]
        assert recorder["Type"] == "Pass", name
        assert recorder["ResultPath"] == "$.failedState", name
        assert recorder["Result"] == name.removesuffix("ByCopy"), "one name per step for the DLQ and redrive"
        assert recorder["Next"] == "DeadLetter", name
    assert states["DeadLetter"]["Next"] == DLQ


def test_given_the_dlq_message_when_inspected_then_it_carries_everything_redrive_needs(states):
    letter = states["DeadLetter"]
    body = letter["Parameters"]["deadLetter"]
    send = states[DLQ]

    assert letter["Type"] == "Pass" and "ResultPath" not in letter and "OutputPath" not in letter
    assert set(letter["Parameters"]) == {"deadLetter", "error.$"}, "the letter replaces the state data, the error stays"
    assert letter["Parameters"]["error.$"] == "$.error" and states["Failed"]["ErrorPath"] == "$.error.Error"
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


def test_given_the_end_of_the_failure_path_when_inspected_then_it_is_a_fail_state_with_the_error(states):
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


@pytest.mark.parametrize("name", ["Archive", "ArchiveByCopy"])
def test_given_the_archive_write_when_inspected_then_it_runs_as_the_target_role_and_never_overwrites(states, name):
    archive = states[name]

    assert archive["Credentials"]["RoleArn"] == "${ArchiveRoleArn}"
    assert archive["Parameters"]["IfNoneMatch"] == "*"
    assert archive["Parameters"]["ExpectedBucketOwner"] == "${ArchiveAccountId}"
    choice = states[archive["Catch"][0]["Next"]]
    assert choice["Type"] == "Choice"
    assert [c["Next"] for c in choice["Choices"]] == ["Notify"], "only an already-written object may skip the DLQ"
    assert archive["Next"] == "Notify"


def test_given_a_body_left_in_the_payload_bucket_when_archiving_then_it_is_copied_from_the_pipeline_account(states):
    choice = states[states["WriteAudit"]["Next"]]
    assert choice["Type"] == "Choice" and choice["Default"] == "Archive"
    (by_reference,) = choice["Choices"]
    assert by_reference == {"Variable": "$.archive.bodyRef", "IsPresent": True, "Next": "ArchiveByCopy"}
    copy = states["ArchiveByCopy"]["Parameters"]
    assert copy["CopySource.$"] == "States.Format('{}/{}', $.archive.bodyRef.bucket, $.archive.bodyRef.key)"
    assert copy["ExpectedSourceBucketOwner"] == "${PipelineAccountId}"


def test_given_the_audit_write_when_inspected_then_a_row_already_written_is_left_alone(states):
    put = states["WriteAudit"]["ItemProcessor"]["States"]["PutAuditRow"]

    assert put["Parameters"]["ConditionExpression"] == "attribute_not_exists(id)"
    [catch] = put["Catch"]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert states["WriteAudit"]["ItemProcessor"]["States"][catch["Next"]]["Type"] == "Succeed"


def test_given_every_next_when_followed_then_it_names_a_state_in_the_same_scope(states):
    def check(scope: dict) -> None:
        for name, state in scope.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])]
            for target in filter(None, targets):
                assert target in scope, f"{name} -> {target}"
            if "ItemProcessor" in state:
                check(state["ItemProcessor"]["States"])

    check(states)
