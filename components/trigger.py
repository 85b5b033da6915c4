"""The trigger: the stream's event source mapping and the thin Lambda that starts executions."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import SourceConfig, TriggerConfig
from components.dashboard import CHANGES_METRIC, METRIC_NAMESPACE
from components.encryption import use_key
from components.iam import allow
from components.pipeline_function import FunctionDefaults, PipelineFunction, PipelineFunctionArgs
from components.queues import dead_letter_queue
from components.workflow import PAYLOAD_PREFIX
from functions.trigger import NOT_STARTED, STARTED

LOGGED_METRICS = {"ExecutionsStarted": STARTED, "StartExecutionFailed": NOT_STARTED}
"""Metrics counted from the trigger's log lines, so the function carries no metrics code (cold start)."""

STREAM_READ_ACTIONS = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]


@dataclass(frozen=True)
class TriggerArgs:
    config: TriggerConfig
    source: SourceConfig
    filter_patterns: tuple[str, ...]
    """The source's own filter patterns, or the stack's for every source."""
    function_name: str
    failures_queue_name: str
    failures_retention_days: int
    functions: FunctionDefaults
    stream_arn: pulumi.Input[str]
    state_machine_arn: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    payload_bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


class Trigger(pulumi.ComponentResource):
    function_name: pulumi.Output[str]
    function_arn: pulumi.Output[str]
    mapping_uuid: pulumi.Output[str]
    failures_queue_url: pulumi.Output[str]
    failures_queue_arn: pulumi.Output[str]
    failures_queue_name: pulumi.Output[str]

    def __init__(self, name: str, args: TriggerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:trigger:Trigger", name, None, opts)
        t, region = args.config, args.functions.region
        failures = dead_letter_queue(
            f"{name}-stream-failures", args.failures_queue_name, args.failures_retention_days, args.kms_key_arn, self
        )
        function = PipelineFunction(
            f"{name}-producer",
            PipelineFunctionArgs(
                defaults=args.functions,
                function_name=args.function_name,
                handler="functions.trigger.handler",
                description="changetrail trigger: stream batch -> Express executions",
                memory_size=t.memory_size,
                environment={
                    "STATE_MACHINE_ARN": args.state_machine_arn,
                    "PAYLOAD_BUCKET": args.payload_bucket_name,
                    "MAX_INLINE_PAYLOAD_BYTES": str(t.max_inline_payload_bytes),
                },
                statements=[
                    allow("ReadStream", STREAM_READ_ACTIONS, [args.stream_arn]),
                    # ListStreams supports no resource-level permissions.
                    allow("ListStreams", ["dynamodb:ListStreams"], ["*"]),
                    allow("StartExecutions", ["states:StartExecution"], [args.state_machine_arn]),
                    allow(
                        "WriteClaimChecks",
                        ["s3:PutObject"],
                        [pulumi.Output.concat(args.payload_bucket_arn, "/", PAYLOAD_PREFIX, "*")],
                    ),
                    allow("SendStreamFailures", ["sqs:SendMessage"], [failures.arn]),
                    # The stream (a created source table), claim checks and failure queue use the stack key.
                    use_key(
                        "UseStackKeyThroughServices",
                        args.kms_key_arn,
                        ["kms:Decrypt", "kms:GenerateDataKey"],
                        ["dynamodb", "s3", "sqs"],
                        region,
                    ),
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for metric, message in LOGGED_METRICS.items():
            aws.cloudwatch.LogMetricFilter(
                f"{name}-{metric}",
                log_group_name=function.log_group_name,
                pattern=f'{{ $.message = "{message}" }}',
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=metric, namespace=METRIC_NAMESPACE, value="1", unit="Count"
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        # The changes each started execution carries, per trigger: Powertools puts the function's name in every line.
        aws.cloudwatch.LogMetricFilter(
            f"{name}-{CHANGES_METRIC}",
            log_group_name=function.log_group_name,
            pattern=f'{{ $.message = "{STARTED}" }}',
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=CHANGES_METRIC,
                namespace=METRIC_NAMESPACE,
                value="$.batch.recordCount",
                unit="Count",
                dimensions={"FunctionName": "$.function_name"},
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        filter_criteria = (
            aws.lambda_.EventSourceMappingFilterCriteriaArgs(
                filters=[aws.lambda_.EventSourceMappingFilterCriteriaFilterArgs(pattern=p) for p in args.filter_patterns]
            )
            if args.filter_patterns
            else None
        )
        mapping = aws.lambda_.EventSourceMapping(
            f"{name}-mapping",
            event_source_arn=args.stream_arn,
            function_name=function.arn,
            # TRIM_HORIZON: changes written while the mapping is being created are audited too.
            starting_position="TRIM_HORIZON",
            batch_size=t.batch_size,
            maximum_batching_window_in_seconds=t.batching_window_seconds,
            maximum_retry_attempts=t.maximum_retry_attempts,
            maximum_record_age_in_seconds=t.maximum_record_age_seconds,
            bisect_batch_on_function_error=t.bisect_batch_on_error,
            parallelization_factor=t.parallelization_factor,
            function_response_types=["ReportBatchItemFailures"],
            destination_config=aws.lambda_.EventSourceMappingDestinationConfigArgs(
                on_failure=aws.lambda_.EventSourceMappingDestinationConfigOnFailureArgs(destination_arn=failures.arn)
            ),
            filter_criteria=filter_criteria,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.function_name, self.function_arn = function.name, function.arn
        self.mapping_uuid = mapping.uuid
        self.failures_queue_url, self.failures_queue_arn = failures.url, failures.arn
        self.failures_queue_name = failures.name
        self.register_outputs(
            {
                "function_name": self.function_name,
                "mapping_uuid": self.mapping_uuid,
                "failures_queue_url": self.failures_queue_url,
            }
        )
