"""Operations monitoring: an ops topic and its key, alarms on lag, errors, failed executions and DLQs,
the dashboard (its body: ``components.dashboard``) and the console URLs output (``components.console_urls``).

Everything an operator needs to hear about ends in a dead-letter queue or a growing stream lag, so
the alarms watch exactly those, and the dashboard graphs them beside the pipeline's throughput.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import MonitoringConfig
from components.console_urls import console_urls
from components.dashboard import PERIOD, dashboard_body
from components.encryption import account_statements
from components.iam import deny_insecure_transport, policy_document

CLOUDWATCH = "cloudwatch.amazonaws.com"


@dataclass(frozen=True)
class MonitoringArgs:
    prefix: str
    """``changetrail-<stack>``: names the ops topic, its key, every alarm and the dashboard."""
    region: str
    """The pipeline's region: dashboard widgets and console URLs point there."""
    account_id: pulumi.Input[str]
    """Scopes CloudWatch's use of the topic and its key to this stack's own alarms."""
    config: MonitoringConfig
    """Thresholds and e-mail subscriptions (``changetrail:monitoring``)."""
    trigger_function_name: pulumi.Input[str]
    """The trigger Lambda: its iterator age is the stream's lag."""
    state_machine_arn: pulumi.Input[str]
    log_group_name: pulumi.Input[str]
    """The state machine's execution log group (for its console URL)."""
    dlq_name: pulumi.Input[str]
    """The pipeline DLQ: failed executions' inputs."""
    dlq_url: pulumi.Input[str]
    stream_failures_queue_name: pulumi.Input[str]
    """The event source mapping's on-failure queue: batches the trigger gave up on."""
    audit_table_name: pulumi.Input[str]


@dataclass(frozen=True)
class AlarmSpec:
    """One ``GreaterThanThreshold`` alarm on one metric with one dimension."""

    role: str
    """Suffix of the alarm's logical name and of its name (``<prefix>-<role>``)."""
    description: str
    namespace: str
    metric: str
    statistic: str
    dimension: str
    value: pulumi.Input[str]
    threshold: float


def alarm_specs(args: MonitoringArgs) -> list[AlarmSpec]:
    """The alarms, as data: what is watched, and what the operator should do when it fires."""
    c, p = args.config, args.prefix
    fn, machine = args.trigger_function_name, args.state_machine_arn

    def queue_alarms(role: str, queue: pulumi.Input[str], what: str, action: str) -> list[AlarmSpec]:
        return [
            AlarmSpec(
                f"{role}-depth",
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
            "trigger-iterator-age",
            f"The trigger lags the source stream by over {c.iterator_age_ms} ms; the stream drops records after 24 h. "
            "Check the trigger's errors and throttles.",
            "AWS/Lambda",
            "IteratorAge",
            "Maximum",
            "FunctionName",
            fn,
            c.iterator_age_ms,
        ),
        AlarmSpec(
            "trigger-errors",
            f"The trigger failed; the mapping retries and bisects, then parks the batch in {p}-stream-failures.",
            "AWS/Lambda",
            "Errors",
            "Sum",
            "FunctionName",
            fn,
            0,
        ),
        AlarmSpec(
            "trigger-throttles",
            "The trigger was throttled (account or reserved concurrency); the stream lag grows meanwhile.",
            "AWS/Lambda",
            "Throttles",
            "Sum",
            "FunctionName",
            fn,
            0,
        ),
        AlarmSpec(
            "executions-failed",
            f"Executions failed and their inputs went to {p}-dlq: `changetrail executions --status failed`.",
            "AWS/States",
            "ExecutionsFailed",
            "Sum",
            "StateMachineArn",
            machine,
            0,
        ),
        *queue_alarms("dlq", args.dlq_name, f"the pipeline DLQ {p}-dlq", "inspect, then `changetrail redrive`"),
        *queue_alarms(
            "stream-failures",
            args.stream_failures_queue_name,
            f"the stream-failures queue {p}-stream-failures",
            "the trigger gave up on a batch; inspect, then `changetrail redrive`",
        ),
    ]


def alarm_arn(region: str, account_id: pulumi.Input[str], alarm_name: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("arn:aws:cloudwatch:", region, ":", account_id, ":alarm:", alarm_name)


class Monitoring(pulumi.ComponentResource):
    topic_arn: pulumi.Output[str]
    dashboard_name: pulumi.Output[str]
    alarm_names: list[str]
    console_urls: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        specs = alarm_specs(args)
        self.alarm_names = [f"{args.prefix}-{spec.role}" for spec in specs]
        # CloudWatch may use the topic and its key only on behalf of these alarms (confused deputy).
        from_our_alarms = {
            "StringEquals": {"aws:SourceAccount": args.account_id},
            "ArnEquals": {"aws:SourceArn": [alarm_arn(args.region, args.account_id, n) for n in self.alarm_names]},
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

        actions = [topic.arn]
        # After the topic policy and key, so the first state change can already be delivered.
        ready = pulumi.ResourceOptions(parent=self, depends_on=[key, topic_policy])
        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{name}-{spec.role}",
                name=alarm_name,
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
                opts=ready,
            )
            for spec, alarm_name in zip(specs, self.alarm_names, strict=True)
        ]
        body = pulumi.Output.all(
            function_name=args.trigger_function_name,
            state_machine_arn=args.state_machine_arn,
            dlq_name=args.dlq_name,
            stream_failures_queue_name=args.stream_failures_queue_name,
            audit_table_name=args.audit_table_name,
            alarm_arns=pulumi.Output.all(*[alarm.arn for alarm in alarms]),
        ).apply(
            lambda names: dashboard_body(
                region=args.region,
                iterator_age_ms=args.config.iterator_age_ms,
                dlq_age_seconds=args.config.dlq_age_seconds,
                **names,
            )
        )
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
