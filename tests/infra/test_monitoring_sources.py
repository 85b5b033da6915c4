"""Every source watched, under Pulumi mocks: with 2 and with 20 source tables each trigger and each
stream-failure queue has the alarms the first one has, named and described by its table; the dashboard
has a row per table beside the shared parts once; and a stack stays within CloudWatch's, SNS's and
KMS's limits up to ``MAX_MONITORED_SOURCES``, one more being refused before anything is created."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import MAX_MONITORED_SOURCES, ConfigError
from components.dashboard import MAX_ALARMS_PER_WIDGET, MAX_METRICS, MAX_METRICS_PER_WIDGET, MAX_WIDGETS
from tests.infra.conftest import REMOVE, Recorded, Run, run

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
PREFIX = "changetrail-dev"
TWENTY = ["Alpha", "Beta", "orders.v2", "orders-v2", *(f"Table{n:02d}" for n in range(16))]
SNS_POLICY_BYTES = 30 * 1024
"""https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-language-api-permissions-reference.html"""
BODY_BYTES = 1024 * 1024
KMS_POLICY_BYTES = 32 * 1024
"""https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html"""


def sources(tables: list[str]) -> dict[str, Any]:
    return {"changetrail:source": REMOVE, "changetrail:sources": [{"tableName": t, "hashKey": "key"} for t in tables]}


@pytest.fixture(scope="module")
def two() -> Run:
    return run(sources(["Alpha", "Beta"]))


@pytest.fixture(scope="module")
def twenty() -> Run:
    return run(sources(TWENTY))


@pytest.fixture(params=["two", "twenty"])
def stack(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(request.param)


def alarms_on(program: Run, dimension: str, value: str) -> dict[str, Recorded]:
    return {a.inputs["metricName"]: a for a in program.of_type(ALARM) if a.inputs["dimensions"] == {dimension: value}}


def body(program: Run) -> dict[str, Any]:
    (board,) = program.of_type("aws:cloudwatch/dashboard:Dashboard")
    return json.loads(board.inputs["dashboardBody"])


def metrics_of(widget: dict[str, Any]) -> set[tuple[str, ...]]:
    return {tuple(metric) for metric in widget["properties"].get("metrics", [])}


def row_of(program: Run, table: str) -> list[dict[str, Any]]:
    """The widgets from the table's heading up to the next heading."""
    widgets, row = body(program)["widgets"], []
    start = next(
        i for i, w in enumerate(widgets) if w["type"] == "text" and f"Source table `{table}`" in w["properties"]["markdown"]
    )
    for widget in widgets[start + 1 :]:
        if widget["type"] == "text":
            break
        row.append(widget)
    return row


# -- alarms ----------------------------------------------------------------------------------
def test_each_source_has_the_first_sources_alarms_on_its_trigger_and_its_queue_naming_its_table(stack):
    entries = stack.outputs["sources"]
    ops = stack.outputs["ops_topic_arn"]
    for entry in entries:
        table, function, queue = entry["table_name"], entry["trigger_function_name"], entry["stream_failures_queue_name"]
        on_trigger, on_queue = alarms_on(stack, "FunctionName", function), alarms_on(stack, "QueueName", queue)
        assert set(on_trigger) == {"IteratorAge", "Errors", "Throttles"}, table
        assert set(on_queue) == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, table
        watching = [*on_trigger.values(), *on_queue.values()]
        assert sorted(a.inputs["name"] for a in watching) == sorted(entry["alarm_names"]), table
        for alarm in watching:
            assert alarm.inputs["alarmDescription"].startswith(f"Source table {table}: "), alarm.inputs["name"]
            assert alarm.inputs["alarmActions"] == alarm.inputs["okActions"] == [ops]
        assert all(name.startswith((function, queue)) or entry is entries[0] for name in entry["alarm_names"])
    names = [a.inputs["name"] for a in stack.of_type(ALARM)]
    assert len(names) == len(set(names)) == 3 + 5 * len(entries), "the shared three, and five per source"
    assert all(len(name) <= 255 for name in names), "CloudWatch's limit for an alarm name"


def test_the_first_source_keeps_the_alarm_names_of_a_stack_with_one_source(two, dev):
    (first, _) = two.outputs["sources"]
    single = {a.inputs["name"] for a in dev.of_type(ALARM)}
    kept = {f"{PREFIX}-trigger-{what}" for what in ("iterator-age", "errors", "throttles")}
    kept |= {f"{PREFIX}-stream-failures-{what}" for what in ("depth", "age")}
    assert set(first["alarm_names"]) == kept
    assert kept <= single
    assert {a.inputs["name"] for a in two.of_type(ALARM)} >= single


@pytest.mark.parametrize("variant", ["dev", "two", "twenty"])
def test_every_trigger_and_every_failure_queue_in_the_graph_is_alarmed(variant, request):
    """From the resources alone, not the outputs: a mapping's function and its on-failure queue have their alarms."""
    program: Run = request.getfixturevalue(variant)
    functions = {f.outputs["arn"]: f.inputs["name"] for f in program.of_type("aws:lambda/function:Function")}
    queues = {q.outputs["arn"]: q.inputs["name"] for q in program.of_type("aws:sqs/queue:Queue")}
    mappings = program.of_type(MAPPING)
    assert mappings
    for mapping in mappings:
        function = functions[mapping.inputs["functionName"]]
        queue = queues[mapping.inputs["destinationConfig"]["onFailure"]["destinationArn"]]
        assert set(alarms_on(program, "FunctionName", function)) == {"IteratorAge", "Errors", "Throttles"}, function
        assert len(alarms_on(program, "QueueName", queue)) == 2, queue


def test_the_ops_topic_and_its_key_let_every_sources_alarms_publish(twenty):
    arns = sorted(a.outputs["arn"] for a in twenty.of_type(ALARM))
    key = twenty.named("monitoring-key")
    (statement,) = [s for s in json.loads(key.inputs["policy"])["Statement"] if s["Sid"] == "AlarmsEncryptNotifications"]
    assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == arns
    allow, _ = json.loads(twenty.named("monitoring-topic-policy").inputs["policy"])["Statement"]
    assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == arns


# -- dashboard -------------------------------------------------------------------------------
def test_the_dashboard_has_a_row_per_source_table_with_its_trigger_queue_changes_and_alarms(stack):
    alarm_arns = {a.inputs["name"]: a.outputs["arn"] for a in stack.of_type(ALARM)}
    for entry in stack.outputs["sources"]:
        table, function, queue = entry["table_name"], entry["trigger_function_name"], entry["stream_failures_queue_name"]
        row = row_of(stack, table)
        graphed = set().union(*(metrics_of(w) for w in row))
        assert graphed == {
            ("AWS/Lambda", "IteratorAge", "FunctionName", function),
            ("AWS/Lambda", "Errors", "FunctionName", function),
            ("AWS/Lambda", "Throttles", "FunctionName", function),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", queue),
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", queue),
            ("changetrail", "ChangesStarted", "FunctionName", function),
        }, table
        assert all(w["properties"].get("title", "").startswith(f"{table}: ") for w in row), table
        (alarms,) = [w for w in row if w["type"] == "alarm"]
        assert alarms["properties"]["alarms"] == sorted(alarm_arns[name] for name in entry["alarm_names"]), table


def test_the_shared_parts_are_on_the_dashboard_once(stack):
    widgets = body(stack)["widgets"]
    machine, dlq = stack.outputs["state_machine_arn"], f"{PREFIX}-dlq"
    every = [metric for w in widgets for metric in metrics_of(w)]
    for shared in (
        ("AWS/States", "ExecutionsFailed", "StateMachineArn", machine),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", dlq),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", dlq),
        ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", "Audit"),
        ("changetrail/dev", "ArchiveObjectsWritten"),
        ("AWS/SNS", "NumberOfMessagesPublished", "TopicName", f"{PREFIX}-changes"),
    ):
        assert every.count(shared) == 1, shared
    headings = [w["properties"]["markdown"] for w in widgets if w["type"] == "text"]
    assert len(headings) == 1 + len(stack.outputs["sources"])


def test_twenty_sources_stay_within_cloudwatchs_dashboard_limits(twenty):
    text = twenty.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]
    within_limits(json.loads(text))
    assert len(text.encode()) < 80 * 1024, "about 3 KB a source"


def within_limits(board: dict[str, Any]) -> None:
    widgets = board["widgets"]
    assert len(widgets) <= MAX_WIDGETS
    assert all(len(w["properties"].get("metrics", [])) <= MAX_METRICS_PER_WIDGET for w in widgets)
    assert sum(len(w["properties"].get("metrics", [])) for w in widgets) <= MAX_METRICS
    assert all(1 <= len(w["properties"]["alarms"]) <= MAX_ALARMS_PER_WIDGET for w in widgets if w["type"] == "alarm")
    # AWS documents no size for the body; 1 MB is the bound this was once assumed to have.
    assert len(json.dumps(board).encode()) < BODY_BYTES


# -- as many sources as a monitored stack may have ----------------------------------------
def longest_names(count: int, length: int = 60) -> list[str]:
    """Table names that make every alarm name as long as it gets (the trigger's 64 characters, the queue's 80), each
    needing a digest; 60 characters, so that 40 of them still fit the Decode function's environment."""
    return [f"{'t' * (length - 4)}.{n:03d}" for n in range(count)]


def test_the_most_sources_with_the_longest_names_stay_within_every_policy_and_dashboard_limit():
    program = run(sources(longest_names(MAX_MONITORED_SOURCES)))

    functions = [s["trigger_function_name"] for s in program.outputs["sources"][1:]]
    queues = [s["stream_failures_queue_name"] for s in program.outputs["sources"][1:]]
    assert {len(f) for f in functions} == {64} and {len(q) for q in queues} == {80}, "the longest alarm names there are"
    assert len(program.of_type(MAPPING)) == MAX_MONITORED_SOURCES
    assert len(program.of_type(ALARM)) == 3 + 5 * MAX_MONITORED_SOURCES
    # PutMetricAlarm's limits (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html)
    assert all(len(a.inputs["name"]) <= 255 and len(a.inputs["alarmDescription"]) <= 1024 for a in program.of_type(ALARM))
    assert len(program.named("monitoring-key").inputs["policy"].encode()) < KMS_POLICY_BYTES
    assert len(program.named("monitoring-topic-policy").inputs["policy"].encode()) < SNS_POLICY_BYTES
    within_limits(json.loads(program.one("aws:cloudwatch/dashboard:Dashboard").inputs["dashboardBody"]))


def test_tables_whose_names_and_keys_pass_a_functions_environment_are_refused_naming_the_key():
    """Decode's SOURCE_KEYS names every table and its keys; Lambda allows a function 4 KB of variables."""
    assert len(run(sources(longest_names(11, length=255))).of_type(MAPPING)) == 11
    with pytest.raises(ConfigError, match=r"^changetrail:sources lists 12 tables whose names, keys and attribute rules take "):
        run(sources(longest_names(12, length=255)))


def test_one_source_more_than_a_monitored_stack_can_watch_is_refused_naming_the_key_and_the_fix():
    with pytest.raises(ConfigError, match=rf"^changetrail:sources lists {MAX_MONITORED_SOURCES + 1} tables, more than the "):
        run(sources([f"T{n:03d}" for n in range(MAX_MONITORED_SOURCES + 1)]))
    unmonitored = {
        **sources([f"T{n:03d}" for n in range(MAX_MONITORED_SOURCES + 1)]),
        "changetrail:monitoring": {"enabled": False},
    }
    assert len(run(unmonitored).of_type(MAPPING)) == MAX_MONITORED_SOURCES + 1, "without monitoring the policies name no alarm"
