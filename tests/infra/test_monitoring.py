"""Operations monitoring under Pulumi mocks: the ops topic and its key, each alarm's metric and
actions, the dashboard body, console URLs, and the ``changetrail:monitoring`` config section."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.config import ConfigError, MonitoringConfig, load_settings
from components.console_urls import (
    console_urls,
    dashboard_console_url,
    log_group_console_url,
    queue_console_url,
    state_machine_console_url,
)
from components.dashboard import SourceRow, dashboard_body, shared_widgets, source_row
from components.encryption import ADMINISTER_ACTIONS, USE_ACTIONS
from tests.infra.conftest import ARCHIVE_ACCOUNT as ARCHIVE
from tests.infra.conftest import PIPELINE_ACCOUNT, REGION, Recorded, run, with_overrides

ACCOUNT = PIPELINE_ACCOUNT
PREFIX = "changetrail-dev"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"


class Program:
    """The dev stack's program run under the suite's recording mocks, with stack-config overrides."""

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        found = run(overrides)
        self.outputs, self.resources = found.outputs, found.resources
        self.urns = [resource.urn for resource in found.resources]

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name: str) -> Recorded:
        (found,) = [r for r in self.of_type(typ) if r.name == name]
        return found

    def alarms(self) -> dict[str, Recorded]:
        """Alarm name -> the alarm."""
        return {a.inputs["name"]: a for a in self.of_type(ALARM)}

    def queue(self, queue_name: str) -> Recorded:
        (found,) = [q for q in self.of_type("aws:sqs/queue:Queue") if q.inputs["name"] == queue_name]
        return found


@pytest.fixture(scope="module")
def program() -> Program:
    return Program()


def machine_arn(program: Program) -> str:
    return program.outputs["state_machine_arn"]


# -- alarms --------------------------------------------------------------------------------
EXPECTED_ALARMS = {
    # alarm name: (namespace, metric, statistic, dimension name, dimension value key, threshold)
    f"{PREFIX}-trigger-iterator-age": ("AWS/Lambda", "IteratorAge", "Maximum", "FunctionName", "function", 60000),
    f"{PREFIX}-trigger-errors": ("AWS/Lambda", "Errors", "Sum", "FunctionName", "function", 0),
    f"{PREFIX}-trigger-throttles": ("AWS/Lambda", "Throttles", "Sum", "FunctionName", "function", 0),
    f"{PREFIX}-executions-failed": ("AWS/States", "ExecutionsFailed", "Sum", "StateMachineArn", "machine", 0),
    f"{PREFIX}-dlq-depth": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "QueueName", "dlq", 0),
    f"{PREFIX}-dlq-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", "QueueName", "dlq", 3600),
    f"{PREFIX}-stream-failures-depth": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", "QueueName", "failures", 0,
    ),
    f"{PREFIX}-stream-failures-age": ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum", "QueueName", "failures", 3600),
}  # fmt: skip


def dimension_values(program: Program) -> dict[str, str]:
    return {
        "function": program.outputs["trigger_function_name"],
        "machine": machine_arn(program),
        "dlq": f"{PREFIX}-dlq",
        "failures": f"{PREFIX}-stream-failures",
    }


def test_each_alarm_watches_its_metric_with_the_configured_threshold(program):
    alarms = program.alarms()
    assert set(alarms) == set(EXPECTED_ALARMS)
    values = dimension_values(program)
    for alarm_name, (namespace, metric, statistic, dimension, value, threshold) in EXPECTED_ALARMS.items():
        inputs = alarms[alarm_name].inputs
        assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == (namespace, metric, statistic), alarm_name
        assert inputs["dimensions"] == {dimension: values[value]}, alarm_name
        assert inputs["threshold"] == threshold, alarm_name
        assert inputs["comparisonOperator"] == "GreaterThanThreshold", alarm_name
        assert (inputs["period"], inputs["evaluationPeriods"]) == (300, 1), alarm_name
        assert inputs["treatMissingData"] == "notBreaching", alarm_name
        assert inputs["alarmDescription"], alarm_name


def test_every_alarm_notifies_the_ops_topic_when_it_fires_and_when_it_clears(program):
    ops = program.outputs["ops_topic_arn"]
    assert ops == f"arn:aws:sns:{REGION}:{ACCOUNT}:{PREFIX}-ops"
    for alarm_name, alarm in program.alarms().items():
        assert alarm.inputs["alarmActions"] == [ops], alarm_name
        assert alarm.inputs["okActions"] == [ops], alarm_name
        assert not alarm.inputs.get("insufficientDataActions"), alarm_name


def test_both_dead_letter_queues_have_a_depth_and_an_age_alarm(program):
    for queue_name in (f"{PREFIX}-dlq", f"{PREFIX}-stream-failures"):
        program.queue(queue_name)  # the queue the alarms name exists
        watched = {a.inputs["metricName"] for a in program.of_type(ALARM) if a.inputs["dimensions"] == {"QueueName": queue_name}}
        assert watched == {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"}, queue_name


def test_thresholds_follow_config():
    program = Program({"changetrail:monitoring": {"iteratorAgeMs": 120000, "dlqAgeSeconds": 600}})
    alarms = program.alarms()
    assert alarms[f"{PREFIX}-trigger-iterator-age"].inputs["threshold"] == 120000
    assert alarms[f"{PREFIX}-dlq-age"].inputs["threshold"] == 600
    assert alarms[f"{PREFIX}-stream-failures-age"].inputs["threshold"] == 600


def test_monitoring_resources_are_children_of_the_component(program):
    component = [urn for urn in program.urns if urn.endswith("changetrail:monitoring:Monitoring::monitoring")]
    assert len(component) == 1
    children = [urn for urn in program.urns if "changetrail:monitoring:Monitoring$" in urn]
    kinds = {urn.split("::")[-2].split("$")[-1] for urn in children}
    assert {ALARM, DASHBOARD, "aws:sns/topic:Topic", "aws:sns/topicPolicy:TopicPolicy", "aws:kms/key:Key"} <= kinds
    assert all(urn.split("::")[-1].startswith("monitoring-") for urn in children)


# -- the ops topic and its key -------------------------------------------------------------
def alarm_arns(program: Program) -> list[str]:
    return sorted(a.outputs["arn"] for a in program.of_type(ALARM))


def test_ops_topic_is_encrypted_with_a_key_cloudwatch_may_use_only_for_these_alarms(program):
    topic = program.one("aws:sns/topic:Topic", "monitoring-topic")
    key = program.one("aws:kms/key:Key", "monitoring-key")
    # Not alias/aws/sns: CloudWatch alarms cannot use the AWS managed key, so they could not publish.
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert set(statements) == {"AccountAdministersKey", "IamPoliciesGrantUse", "AlarmsEncryptNotifications"}
    assert statements["AccountAdministersKey"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    # The same account statements as the stack key: named actions, no kms:*.
    assert statements["AccountAdministersKey"]["Action"] == ADMINISTER_ACTIONS
    assert statements["IamPoliciesGrantUse"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statements["IamPoliciesGrantUse"]["Action"] == USE_ACTIONS
    alarms = statements["AlarmsEncryptNotifications"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(alarms["Condition"]["ArnEquals"]["aws:SourceArn"]) == alarm_arns(program)


def test_ops_topic_policy_lets_only_these_alarms_publish_and_refuses_plain_http(program):
    topic = program.one("aws:sns/topic:Topic", "monitoring-topic")
    policy = program.one("aws:sns/topicPolicy:TopicPolicy", "monitoring-topic-policy")
    assert policy.inputs["arn"] == topic.outputs["arn"]
    allow, deny = json.loads(policy.inputs["policy"])["Statement"]
    assert allow["Effect"] == "Allow" and allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert (allow["Action"], allow["Resource"]) == ("sns:Publish", topic.outputs["arn"])
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(allow["Condition"]["ArnEquals"]["aws:SourceArn"]) == alarm_arns(program)
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"] == [topic.outputs["arn"]]


def test_ops_email_subscriptions_follow_config_and_stay_off_the_change_topic():
    program = Program({"changetrail:monitoring": {"emails": ["oncall@example.com"]}})
    (subscription,) = program.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.name == "monitoring-email-0"
    assert (subscription.inputs["protocol"], subscription.inputs["endpoint"]) == ("email", "oncall@example.com")
    assert subscription.inputs["topic"] == program.outputs["ops_topic_arn"]


# -- disabled ------------------------------------------------------------------------------
def test_disabled_monitoring_creates_nothing_and_exports_nothing():
    program = Program({"changetrail:monitoring": {"enabled": False, "emails": ["oncall@example.com"]}})
    assert (
        not program.of_type(ALARM)
        and not program.of_type(DASHBOARD)
        and not [k for k in program.of_type("aws:kms/key:Key") if k.name.startswith("monitoring")]
    )
    assert [t.inputs["name"] for t in program.of_type("aws:sns/topic:Topic")] == [f"{PREFIX}-changes"]
    assert not [urn for urn in program.urns if "changetrail:monitoring:Monitoring" in urn]
    assert not {"ops_topic_arn", "dashboard_name", "console_urls"} & set(program.outputs)
    assert program.outputs["state_machine_arn"]  # the pipeline itself is untouched


# -- dashboard -----------------------------------------------------------------------------
def dashboard(program: Program) -> dict[str, Any]:
    (board,) = program.of_type(DASHBOARD)
    assert board.inputs["dashboardName"] == PREFIX == program.outputs["dashboard_name"]
    text = board.inputs["dashboardBody"]
    assert "null" not in text and "None" not in text
    return json.loads(text)


def graphed(body: dict[str, Any]) -> set[tuple[str, ...]]:
    return {tuple(m) for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]}


def test_dashboard_graphs_every_alarmed_metric_plus_throughput(program):
    body = dashboard(program)
    metrics = graphed(body)
    machine, function = machine_arn(program), program.outputs["trigger_function_name"]
    for namespace, metric, _, dimension, value, _ in EXPECTED_ALARMS.values():
        assert (namespace, metric, dimension, dimension_values(program)[value]) in metrics
    assert ("AWS/States", "ExecutionsStarted", "StateMachineArn", machine) in metrics
    assert ("AWS/States", "ExecutionsSucceeded", "StateMachineArn", machine) in metrics
    assert ("AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", "Audit") in metrics
    assert ("AWS/Lambda", "Errors", "FunctionName", function) in metrics


def test_dashboard_widgets_name_their_region_and_each_alarm_widget_lists_its_alarms(program):
    body = dashboard(program)
    for widget in body["widgets"]:
        assert {"x", "y", "width", "height"} <= set(widget)
        assert widget["x"] + widget["width"] <= 24, widget
        if widget["type"] == "metric":
            assert widget["properties"]["region"] == REGION
    listed = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
    assert len(listed) == 2, "the shared alarms, then the source's"
    shared, source = listed
    assert sorted(shared + source) == alarm_arns(program)
    assert all(arn.split(":alarm:")[1].startswith((f"{PREFIX}-trigger-", f"{PREFIX}-stream-failures-")) for arn in source)


def test_dashboard_body_is_a_deterministic_pure_function_of_names():
    shared = {
        "region": "eu-west-1",
        "stack": "prod",
        "stack_prefix": "changetrail-prod",
        "state_machine_arn": "arn:aws:states:eu-west-1:111111111111:stateMachine:m",
        "dlq_name": "q1",
        "audit_table_name": "Audit",
        "topic_name": "changetrail-prod-changes",
        "notify_function_name": "changetrail-prod-notify",
        "dlq_age_seconds": 120,
    }
    row = SourceRow("Orders", "fn", "q2", ("arn:b", "arn:a"))

    def body(alarms: list[str]) -> str:
        return dashboard_body(shared_widgets(**shared, alarm_arns=alarms), [source_row(row, "eu-west-1", 5000, 120)])

    text = body(["b", "a"])
    widgets = json.loads(text)["widgets"]
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "q2") in graphed({"widgets": widgets})
    assert ("changetrail/prod", "ArchiveObjectsWritten") in graphed({"widgets": widgets})
    annotated = [w["properties"]["annotations"]["horizontal"][0]["value"] for w in widgets if "annotations" in w["properties"]]
    assert annotated == [120, 5000, 120], "the pipeline DLQ's age, then the source's iterator age and queue age"
    # Same names, same body: no spurious dashboard diffs on `pulumi up`.
    assert text == body(["a", "b"])


# -- console URLs --------------------------------------------------------------------------
def test_console_url_functions_produce_the_exact_console_addresses():
    arn = "arn:aws:states:eu-west-1:111111111111:stateMachine:changetrail-dev-pipeline"
    assert state_machine_console_url("eu-west-1", arn) == (
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/statemachines/view/"
        "arn%3Aaws%3Astates%3Aeu-west-1%3A111111111111%3AstateMachine%3Achangetrail-dev-pipeline"
    )
    assert log_group_console_url("eu-west-1", "/aws/vendedlogs/states/changetrail-dev-pipeline") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:log-groups/log-group/"
        "$252Faws$252Fvendedlogs$252Fstates$252Fchangetrail-dev-pipeline"
    )
    assert queue_console_url("eu-west-1", "https://sqs.eu-west-1.amazonaws.com/111111111111/changetrail-dev-dlq") == (
        "https://eu-west-1.console.aws.amazon.com/sqs/v3/home?region=eu-west-1#/queues/"
        "https%3A%2F%2Fsqs.eu-west-1.amazonaws.com%2F111111111111%2Fchangetrail-dev-dlq"
    )
    assert dashboard_console_url("eu-west-1", "changetrail-dev") == (
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/changetrail-dev"
    )


def test_console_urls_output_points_at_this_stacks_resources(program):
    o = program.outputs
    assert o["console_urls"] == console_urls(REGION, o["state_machine_arn"], o["log_group_name"], o["dlq_url"], PREFIX)
    assert set(o["console_urls"]) == {"state_machine", "log_group", "dlq", "dashboard"}
    assert o["console_urls"]["state_machine"].endswith(
        f"#/statemachines/view/arn%3Aaws%3Astates%3A{REGION}%3A{ACCOUNT}%3AstateMachine%3A{PREFIX}-pipeline"
    )


# -- config --------------------------------------------------------------------------------
def settings(overrides: dict[str, Any]) -> Any:
    base = {"archive": {"accountId": ARCHIVE, "deployRoleArn": f"arn:aws:iam::{ARCHIVE}:role/deploy"}}
    return load_settings(with_overrides(base, overrides).get, "dev", REGION)


def test_monitoring_defaults():
    assert settings({}).monitoring == MonitoringConfig(enabled=True, emails=(), iterator_age_ms=60000, dlq_age_seconds=3600)


def test_monitoring_config_is_parsed():
    parsed = settings(
        {"monitoring": {"enabled": "false", "emails": ["a@example.com"], "iteratorAgeMs": "1000", "dlqAgeSeconds": 60.0}}
    ).monitoring
    assert parsed == MonitoringConfig(enabled=False, emails=("a@example.com",), iterator_age_ms=1000, dlq_age_seconds=60)


@pytest.mark.parametrize(
    ("monitoring", "message"),
    [
        ({"enabled": "yes"}, r"^changetrail:monitoring\.enabled must be true or false, got 'yes'; fix: write true or false$"),
        ({"emails": ["oncall"]}, r"^changetrail:monitoring\.emails is \['oncall'\]; fix: list e-mail addresses"),
        ({"emails": "oncall@example.com"}, r"^changetrail:monitoring\.emails is 'oncall@example.com'; fix: "),
        (
            {"iteratorAgeMs": 999},
            r"^changetrail:monitoring\.iteratorAgeMs must be an integer from 1000 to 86400000, got 999; fix: use a value in",
        ),
        ({"iteratorAgeMs": 86_400_001}, r"^changetrail:monitoring\.iteratorAgeMs must be an integer from 1000 to 86400000"),
        ({"dlqAgeSeconds": 59}, r"^changetrail:monitoring\.dlqAgeSeconds must be an integer from 60 to 1209600, got 59"),
        ({"dlqAgeSeconds": 1_209_601}, r"^changetrail:monitoring\.dlqAgeSeconds must be an integer from 60 to 1209600"),
        ({"dlqAgeSeconds": "soon"}, r"^changetrail:monitoring\.dlqAgeSeconds must be an integer .* got 'soon'"),
        ({"iteratorAge": 5}, r"^changetrail:monitoring\.iteratorAge is not a setting; known settings: dlqAgeSeconds, emails"),
    ],
)
def test_wrong_monitoring_values_fail_with_the_key_and_the_fix(monitoring, message):
    with pytest.raises(ConfigError, match=message):
        settings({"monitoring": monitoring})


def test_monitoring_must_be_an_object():
    with pytest.raises(ConfigError, match=r"^changetrail:monitoring must be an object of settings"):
        settings({"monitoring": "on"})


def test_an_age_threshold_the_dlq_retention_would_outlive_is_refused():
    # GIVEN a DLQ that keeps messages one day, WHEN the age alarm waits a day or more, THEN it could never fire
    with pytest.raises(ConfigError, match=r"^changetrail:monitoring\.dlqAgeSeconds is 86400, not below the DLQ's retention"):
        settings({"workflow": {"dlqRetentionDays": 1}, "monitoring": {"dlqAgeSeconds": 86400}})
    assert settings({"workflow": {"dlqRetentionDays": 1}, "monitoring": {"dlqAgeSeconds": 86399}}).monitoring.dlq_age_seconds
    # unless monitoring is off, when the threshold is unused
    off = {"workflow": {"dlqRetentionDays": 1}, "monitoring": {"enabled": False, "dlqAgeSeconds": 86400}}
    assert not settings(off).monitoring.enabled


def test_a_broken_monitoring_config_fails_the_program_naming_the_key():
    with pytest.raises(ConfigError, match=r"^changetrail:monitoring\.iteratorAgeMs must be an integer"):
        Program({"changetrail:monitoring": {"iteratorAgeMs": 0}})
