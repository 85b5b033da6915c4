"""Redrive's reading of dead letters: the recorded ESM on-failure message and the pipeline's own."""

from __future__ import annotations

import pytest

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


class PagedStream:
    """A DynamoDB Streams client answering ``pages`` in turn (lists of sequence numbers; [] is an empty page)."""

    class exceptions:  # as boto3 names it
        TrimmedDataAccessException = LookupError

    def __init__(self, pages: list[list[int]]) -> None:
        self.pages, self.calls = pages, 0

    def describe_stream(self, StreamArn):
        return {"StreamDescription": {"Shards": [{"ShardId": "s", "SequenceNumberRange": {"StartingSequenceNumber": "1"}}]}}

    def get_shard_iterator(self, **_):
        return {"ShardIterator": "0"}

    def get_records(self, ShardIterator, Limit):
        page = self.pages[int(ShardIterator)] if int(ShardIterator) < len(self.pages) else []
        self.calls += 1
        records = [{"eventID": f"e{n}", "dynamodb": {"SequenceNumber": str(n)}} for n in page]
        return {"Records": records, "NextShardIterator": str(int(ShardIterator) + 1)}


def test_given_empty_pages_inside_the_range_when_read_then_every_record_of_it_comes_back():
    from changetrail.streams import read_range

    stream = PagedStream([[], [1, 2], [], [], [3], [], [4, 5]])

    records = read_range(stream, "arn:aws:dynamodb:r:1:table/T/stream/L", "s", "1", "4")

    assert [r["dynamodb"]["SequenceNumber"] for r in records] == ["1", "2", "3", "4"]


def test_given_a_range_whose_end_never_comes_when_read_then_it_is_refused_not_cut_short():
    from changetrail.streams import IncompleteRangeError, read_range

    stream = PagedStream([[1, 2]])  # then empty pages for ever

    with pytest.raises(IncompleteRangeError, match="only up to 2"):
        read_range(stream, "arn:aws:dynamodb:r:1:table/T/stream/L", "s", "1", "4")
    assert stream.calls <= 1 + 20, "a bounded number of empty pages"
