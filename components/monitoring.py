"""Operations monitoring: the ops topic and its key, the alarms of what every source shares (failed
executions, the pipeline DLQ), the dashboard (its body: ``components.dashboard``) and the console URLs
output (``components.console_urls``).

Everything an operator needs to hear about ends in a dead-letter queue or a growing stream lag, so
the alarms watch exactly those, and the dashboard graphs them beside the pipeline's throughput. Each
source's own alarms (its trigger's lag, errors and throttles, its stream-failure queue) and its
dashboard row are declared with the source (``components.source``); they report to this topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import MonitoringConfig
from components.console_urls import console_urls
from components.dashboard import ARCHIVE_METRIC, PERIOD, archive_namespace, dashboard_body, shared_widgets
from components.encryption import account_statements
from components.iam import deny_insecure_transport, policy_document

CLOUDWATCH = "cloudwatch.amazonaws.com"
ARCHIVE_WRITTEN_PATTERN = (
    '{ ($.type = "TaskSucceeded") && ($.details.resourceType = "aws-sdk:s3") && '
    '(($.details.resource = "putObject") || ($.details.resource = "completeMultipartUpload")) }'
)


@dataclass(frozen=True)
class MonitoringArgs:
    prefix: str
    """``changetrail-<stack>``: names the ops topic, its key, the shared alarms and the dashboard."""
    stack: str
    region: str
    """The pipeline's region: dashboard widgets and console URLs point there."""
    account_id: str
    """Scopes CloudWatch's use of the topic and its key to this stack's own alarms."""
    config: MonitoringConfig
    """Thresholds and e-mail subscriptions (``changetrail:monitoring``)."""
    state_machine_arn: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    """The state machine's execution log group (its console URL, and the archive metric's filter)."""
    dlq_name: pulumi.Input[str]
    """The pipeline DLQ: failed executions' inputs."""
    dlq_url: pulumi.Input[str]
    audit_table_name: pulumi.Input[str]
    topic_name: str
    """The change topic: the notifications the dashboard graphs."""
    notify_function_name: pulumi.Input[str]
    source_alarm_names: tuple[str, ...]
    """Every source's alarms (``components.source`` creates them): the topic and its key accept them too."""
    source_rows: tuple[list[dict[str, Any]], ...]
    """Each source's dashboard row (``components.source``), in the order the stack lists the sources."""


@dataclass(frozen=True)
class AlarmSpec:
    """One ``GreaterThanThreshold`` alarm on one metric with one dimension."""

    role: str
    """Suffix of the alarm's logical name (``<component>-<role>``)."""
    name: str
    description: str
    namespace: str
    metric: str
    statistic: str
    dimension: str
    value: pulumi.Input[str]
    threshold: float


@dataclass(frozen=True)
class AlarmTarget:
    """Where alarms report: the ops topic, once its policy and key let CloudWatch publish."""

    topic_arn: pulumi.Input[str]
    ready: tuple[pulumi.Resource, ...]
    config: MonitoringConfig
    former_parent: pulumi.Resource
    """The monitoring component: the first source's alarms were its children (their aliases name it)."""
    former_parent_name: str


def shared_alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    """The alarms of what every source shares, as data: what is watched, and what the operator should do when it fires."""
    c, p = args.config, args.prefix

    def queue_alarms(role: str, queue: pulumi.Input[str], what: str, action: str) -> list[AlarmSpec]:
        return [
            AlarmSpec(
                f"{role}-depth",
                f"{p}-{role}-depth",
                f"{what} holds messages: {action}.",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "Maximum",
                "QueueName",
                queue,
                0,
            ),
            AlarmSpec(
                f"{role}-age",
                f"{p}-{role}-age",
                f"A message has waited in {what} for over {c.dlq_age_seconds} s; it expires at the end of the "
                f"queue's retention: {action}.",
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                "Maximum",
                "QueueName",
                queue,
                c.dlq_age_seconds,
            ),
        ]

    return [
        AlarmSpec(
            "executions-failed",
            f"{p}-executions-failed",
            f"Executions failed and their inputs went to {p}-dlq: `changetrail executions --status failed` "
            "(`--table T` for one source's).",
            "AWS/States",
            "ExecutionsFailed",
            "Sum",
            "StateMachineArn",
            args.state_machine_arn,
            0,
        ),
        *queue_alarms(
            "dlq",
            args.dlq_name,
            f"the pipeline DLQ {p}-dlq",
            "inspect (`changetrail redrive --dry-run`, each letter names its table), then `changetrail redrive`",
        ),
    ]


def alarm_arn(region: str, account_id: str, alarm_name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account_id}:alarm:{alarm_name}"


def metric_alarm(
    logical_name: str, spec: AlarmSpec, target: AlarmTarget, parent: pulumi.Resource, aliases: list[pulumi.Alias] | None = None
) -> aws.cloudwatch.MetricAlarm:
    actions = [target.topic_arn]
    return aws.cloudwatch.MetricAlarm(
        logical_name,
        name=spec.name,
        alarm_description=spec.description,
        namespace=spec.namespace,
        metric_name=spec.metric,
        statistic=spec.statistic,
        dimensions={spec.dimension: spec.value},
        period=PERIOD,
        evaluation_periods=1,
        threshold=spec.threshold,
        comparison_operator="GreaterThanThreshold",
        # No datapoint means nothing happened (no errors, an empty queue): not an alarm.
        treat_missing_data="notBreaching",
        alarm_actions=actions,
        ok_actions=actions,
        # After the topic policy and key, so the first state change can already be delivered.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(target.ready), aliases=aliases or None),
    )


class Monitoring(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    alarm_names: list[str]
    """The shared alarms' names (each source's are in its ``sources`` entry)."""
    alarm_target: AlarmTarget
    console_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        specs = shared_alarm_specs(args)
        self.alarm_names = [spec.name for spec in specs]
        every_alarm = [*self.alarm_names, *args.source_alarm_names]
        # CloudWatch may use the topic and its key only on behalf of these alarms (confused deputy).
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": args.account_id},
            "ArnEquals": {"aws:SourceArn": [alarm_arn(args.region, args.account_id, n) for n in every_alarm]},
        }
        # A customer managed key, not alias/aws/sns: the AWS managed key's policy cannot be changed
        # to let CloudWatch alarms use it, so alarms could never publish to a topic encrypted with it.
        key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts {args.prefix}-ops, the changetrail ops alarm topic",
            enable_key_rotation=True,
            policy=policy_document(
                [
                    # IAM in this account administers and uses the key (named actions, no kms:*).
                    *account_statements(args.account_id),
                    {
                        "Sid": "AlarmsEncryptNotifications",
                        "Effect": "Allow",
                        "Principal": {"Service": CLOUDWATCH},
                        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                        "Resource": "*",
                        "Condition": from_our_alarms,
                    },
                ]
            ),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name=f"alias/{args.prefix}-ops", target_key_id=key.key_id, opts=child)
        topic = aws.sns.Topic(f"{name}-topic", name=f"{args.prefix}-ops", kms_master_key_id=key.arn, opts=child)
        topic_policy = aws.sns.TopicPolicy(
            f"{name}-topic-policy",
            arn=topic.arn,
            policy=policy_document(
                [
                    # A topic policy replaces SNS's default one, which is what lets alarms publish.
                    {
                        "Sid": "AlarmsPublish",
                        "Effect": "Allow",
                        "Principal": {"Service": CLOUDWATCH},
                        "Action": "sns:Publish",
                        "Resource": topic.arn,
                        "Condition": from_our_alarms,
                    },
                    deny_insecure_transport([topic.arn], principal={"AWS": "*"}, action="sns:Publish"),
                ]
            ),
            opts=child,
        )
        for index, email in enumerate(args.config.emails):
            aws.sns.TopicSubscription(f"{name}-email-{index}", topic=topic.arn, protocol="email", endpoint=email, opts=child)

        self.alarm_target = AlarmTarget(topic.arn, (key, topic_policy), args.config, self, name)
        for spec in specs:
            metric_alarm(f"{name}-{spec.role}", spec, self.alarm_target, self)
        # The state machine's execution logs say when an S3 create succeeded (a put, or a multipart upload's
        # completion): the archive's writes, counted without any code in the pipeline. Level ALL logs them.
        aws.cloudwatch.LogMetricFilter(
            f"{name}-{ARCHIVE_METRIC}",
            log_group_name=args.log_group_name,
            pattern=ARCHIVE_WRITTEN_PATTERN,
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=ARCHIVE_METRIC, namespace=archive_namespace(args.stack), value="1", unit="Count"
            ),
            opts=child,
        )
        shared = pulumi.Output.all(
            state_machine_arn=args.state_machine_arn,
            dlq_name=args.dlq_name,
            audit_table_name=args.audit_table_name,
            notify_function_name=args.notify_function_name,
        ).apply(
            lambda names: shared_widgets(
                region=args.region,
                stack=args.stack,
                stack_prefix=args.prefix,
                topic_name=args.topic_name,
                dlq_age_seconds=args.config.dlq_age_seconds,
                alarm_arns=[alarm_arn(args.region, args.account_id, n) for n in self.alarm_names],
                **names,
            )
        )
        body = shared.apply(lambda widgets: dashboard_body(widgets, list(args.source_rows)))
        dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=args.prefix, dashboard_body=body, opts=child)

        self.topic_arn = topic.arn
        self.dashboard_name = dashboard.dashboard_name
        self.console_urls = pulumi.Output.all(
            state_machine_arn=args.state_machine_arn,
            log_group_name=args.log_group_name,
            dlq_url=args.dlq_url,
            dashboard_name=dashboard.dashboard_name,
        ).apply(lambda values: console_urls(args.region, **values))
        self.register_outputs(
            {"topic_arn": self.topic_arn, "dashboard_name": self.dashboard_name, "console_urls": self.console_urls}
        )
