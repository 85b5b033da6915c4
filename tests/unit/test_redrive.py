"""Redrive's reading of dead letters: the recorded ESM on-failure message and the pipeline's own."""

from __future__ import annotations

from changetrail.redrive import DeadLetter, classify


def test_given_the_esm_on_failure_message_when_classified_then_it_is_a_stream_range(esm_on_failure):
    body = esm_on_failure()

    letter = DeadLetter("https://sqs.us-east-1.amazonaws.com/123456789012/stream-failures", "r", "m", body, classify(body))

    assert letter.kind == "stream"
    assert letter.error == "Unhandled"
    assert letter.failed_state == "(event source mapping)"
    assert letter.attempt == 0


def test_given_an_on_failure_message_without_a_function_error_when_read_then_the_condition_explains_it(esm_on_failure):
    body = esm_on_failure()
    del body["responseContext"]["functionError"]
    body["requestContext"]["condition"] = "RecordAgeExceeded"

    letter = DeadLetter("q", "r", "m", body, classify(body))

    assert letter.error == "RecordAgeExceeded"


def test_given_a_pipeline_dead_letter_when_classified_then_it_is_an_execution(esm_on_failure):
    info = esm_on_failure()["DDBStreamBatchInfo"]
    body = {
        "version": 1,
        "input": {"version": 1, "batch": {"eventSourceArn": info["streamArn"]}, "records": []},
        "error": "MalformedStreamRecordError",
        "failedState": "Decode",
    }

    assert classify(body) == "execution"
    assert classify({"unexpected": True}) == "unknown"
