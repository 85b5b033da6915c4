"""Operations monitoring on the embedded AWS: the alarms and dashboard the program creates exist in
CloudWatch, route to the ops topic, and the dashboard names the stack's real resources."""

from __future__ import annotations

import json

import pytest

from changetrail.embedded import client

pytestmark = pytest.mark.e2e
PREFIX = "changetrail-dev"
ALARMS = {
    f"{PREFIX}-{role}"
    for role in (
        "trigger-iterator-age",
        "trigger-errors",
        "trigger-throttles",
        "executions-failed",
        "dlq-depth",
        "dlq-age",
        "stream-failures-depth",
        "stream-failures-age",
    )
}


def test_alarms_exist_in_cloudwatch_and_notify_the_ops_topic(aws):
    # GIVEN the deployed stack, WHEN CloudWatch lists its alarms
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}

    # THEN every alarm is there, routed to the ops topic that exists in SNS
    ops = aws.outputs["ops_topic_arn"]
    assert set(alarms) == ALARMS
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [ops] and alarm["OKActions"] == [ops], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["ActionsEnabled"] is True, name
    attributes = client("sns").get_topic_attributes(TopicArn=ops)["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")
    key = client("kms").describe_key(KeyId=attributes["KmsMasterKeyId"])["KeyMetadata"]
    assert key["KeyState"] == "Enabled"


def test_alarm_dimensions_name_the_deployed_resources(aws):
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}
    queues = {url.rsplit("/", 1)[1] for url in (aws.outputs["dlq_url"], aws.outputs["stream_failures_queue_url"])}

    def dimensions(name: str) -> dict[str, str]:
        return {d["Name"]: d["Value"] for d in alarms[name]["Dimensions"]}

    assert dimensions(f"{PREFIX}-trigger-iterator-age") == {"FunctionName": aws.outputs["trigger_function_name"]}
    assert dimensions(f"{PREFIX}-executions-failed") == {"StateMachineArn": aws.outputs["state_machine_arn"]}
    queue_alarms = [name for name in alarms if name.startswith((f"{PREFIX}-dlq-", f"{PREFIX}-stream-failures-"))]
    assert len(queue_alarms) == 4
    assert {dimensions(name)["QueueName"] for name in queue_alarms} == queues
    assert alarms[f"{PREFIX}-trigger-iterator-age"]["Threshold"] == 60000
    assert alarms[f"{PREFIX}-dlq-age"]["Threshold"] == 3600


def test_dashboard_body_is_stored_and_names_the_stack(aws):
    dashboard = client("cloudwatch").get_dashboard(DashboardName=aws.outputs["dashboard_name"])
    body = json.loads(dashboard["DashboardBody"])
    text = json.dumps(body)
    assert aws.outputs["state_machine_arn"] in text
    assert aws.outputs["trigger_function_name"] in text
    assert f"{PREFIX}-dlq" in text and f"{PREFIX}-stream-failures" in text
    listed = {arn.rsplit(":", 1)[1] for w in body["widgets"] if w["type"] == "alarm" for arn in w["properties"]["alarms"]}
    assert listed == ALARMS
    assert aws.outputs["console_urls"]["dashboard"].endswith(f"#dashboards/dashboard/{aws.outputs['dashboard_name']}")


def test_monitoring_can_be_turned_off(deploy):
    aws = deploy({"changetrail:monitoring": {"enabled": False}})
    assert not client("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]
    assert not client("cloudwatch").list_dashboards()["DashboardEntries"]
    assert "ops_topic_arn" not in aws.outputs


def test_with_two_sources_cloudwatch_holds_both_triggers_and_both_queues_alarms_and_the_dashboard_names_both(deploy):
    sources = [{"tableName": "Alpha", "hashKey": "key"}, {"tableName": "Beta", "hashKey": "key"}]
    aws = deploy({"changetrail:source": None, "changetrail:sources": sources})
    alarms = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=PREFIX)["MetricAlarms"]}

    assert set(alarms) == ALARMS | set(aws.outputs["sources"][1]["alarm_names"])
    beta = aws.outputs["sources"][1]
    watched = {d["Value"] for name in beta["alarm_names"] for d in alarms[name]["Dimensions"]}
    assert watched == {beta["trigger_function_name"], beta["stream_failures_queue_name"]}
    assert all("Source table Beta: " in alarms[name]["AlarmDescription"] for name in beta["alarm_names"])
    text = client("cloudwatch").get_dashboard(DashboardName=aws.outputs["dashboard_name"])["DashboardBody"]
    assert "Source table `Alpha`" in text and "Source table `Beta`" in text
