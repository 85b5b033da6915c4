"""The Express state machine with its Decode/Diff functions, role, log group, DLQ and claim-check bucket."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

import statemachine
from components.config import (
    ArchiveConfig,
    NotificationsConfig,
    RedactionConfig,
    SourceConfig,
    WorkflowConfig,
    attribute_rules,
    source_keys,
)
from components.encryption import use_key
from components.iam import allow, policy_document, service_trust
from components.pipeline_function import FunctionDefaults, PipelineFunction, PipelineFunctionArgs
from components.queues import dead_letter_queue
from components.secure_bucket import SecureBucket, SecureBucketArgs, expire_after
from functions.claims import ARCHIVE_BODY_PREFIX, DEAD_LETTER_PREFIX, STAGE_PREFIX
from functions.claims import PREFIX as PAYLOAD_PREFIX

# Step Functions needs these to deliver Express execution logs to CloudWatch Logs; the actions
# support no resource-level permissions (AWS documents Resource "*").
LOG_DELIVERY_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
]
TRACE_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]


def payload_bucket_name(prefix: str, account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """Fixed, so the archive target can let its writer role read archive bodies from it."""
    return pulumi.Output.concat(prefix, "-payloads-", account_id)


@dataclass(frozen=True)
class WorkflowArgs:
    prefix: str
    """``changetrail-<stack>``: starts every name the workflow creates."""
    role_name: str
    """The state machine role's fixed name (the archive account trusts it by name)."""
    config: WorkflowConfig
    sources: tuple[SourceConfig, ...]
    notifications: NotificationsConfig
    redaction: RedactionConfig
    archive: ArchiveConfig
    functions: FunctionDefaults
    account_id: pulumi.Input[str]
    audit_table_name: pulumi.Input[str]
    audit_table_arn: pulumi.Input[str]
    topic_arn: pulumi.Input[str]
    archive_bucket_name: pulumi.Input[str]
    archive_role_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


class Workflow(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    state_machine_name: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]
    dlq_name: pulumi.Output[str]
    payload_bucket_name: pulumi.Output[str]
    payload_bucket_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: WorkflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:workflow:Workflow", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        dlq = dead_letter_queue(f"{name}-dlq", f"{args.prefix}-dlq", args.config.dlq_retention_days, args.kms_key_arn, self)
        payloads = SecureBucket(
            f"{name}-payloads",
            SecureBucketArgs(
                bucket_name=payload_bucket_name(args.prefix, args.account_id),
                kms_key_arn=args.kms_key_arn,
                # Claim checks must outlive the DLQ messages that point at them, or redrive breaks.
                lifecycle_rules=[expire_after("expire-claim-checks", args.config.dlq_retention_days + 1, PAYLOAD_PREFIX)],
                versioned=False,
                # The Archive state copies large bodies as the archive account's writer role.
                policy_statements=[
                    {
                        "Sid": "ArchiveWriterReadsArchiveBodies",
                        "Effect": "Allow",
                        "Principal": {"AWS": args.archive_role_arn},
                        "Action": "s3:GetObject",
                        "Resource": pulumi.Output.concat(
                            "arn:aws:s3:::", payload_bucket_name(args.prefix, args.account_id), "/", ARCHIVE_BODY_PREFIX, "*"
                        ),
                    }
                ],
            ),
            opts=child,
        )
        payload_objects = pulumi.Output.concat(payloads.arn, "/", PAYLOAD_PREFIX, "*")
        stage_objects = pulumi.Output.concat(payloads.arn, "/", STAGE_PREFIX, "*")
        # Every state function reads claim checks and leaves outputs too large for the state as one.
        claim_checks = [
            allow("ReadClaimChecks", ["s3:GetObject"], [payload_objects]),
            allow("WriteStageClaimChecks", ["s3:PutObject"], [stage_objects]),
        ]

        def state_function(
            role: str, description: str, environment: dict[str, Any], statements: list[dict[str, Any]]
        ) -> PipelineFunction:
            """The function behind one state: ``<prefix>-<role>``, handler ``functions.<role>.handler``."""
            return PipelineFunction(
                f"{name}-{role}",
                PipelineFunctionArgs(
                    defaults=args.functions,
                    function_name=f"{args.prefix}-{role}",
                    handler=f"functions.{role.replace('-', '_')}.handler",
                    description=f"changetrail {description}",
                    memory_size=args.config.function_memory_size,
                    environment=environment,
                    statements=statements,
                ),
                opts=child,
            )

        def stack_key(*services: str) -> dict[str, Any]:
            return use_key(
                "UseStackKeyThroughServices", args.kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"], list(services), region
            )

        region = args.functions.region
        decode = state_function(
            "decode",
            "Decode state: stream records -> validated changes",
            {"SOURCE_KEYS": source_keys(args.sources), "PAYLOAD_BUCKET": payloads.name},
            [*claim_checks, stack_key("s3")],
        )
        diff = state_function(
            "diff",
            "Diff state: changes -> what changed, and the chunk's archive key",
            {
                "ARCHIVE_PREFIX": args.archive.prefix,
                "ATTRIBUTE_RULES": attribute_rules(args.sources),
                "PAYLOAD_BUCKET": payloads.name,
            },
            [*claim_checks, stack_key("s3")],
        )
        write_audit = state_function(
            "write-audit",
            "WriteAudit state: audit rows with exact values, the owned changes' archive body",
            {
                "AUDIT_TABLE": args.audit_table_name,
                "PAYLOAD_BUCKET": payloads.name,
                "NOTIFY_MODE": args.notifications.mode,
                "NOTIFY_EVENT_NAMES": ",".join(args.notifications.event_names),
                "REDACT_ATTRIBUTES": ",".join(args.redaction.attributes),
                "REDACT_IN_ARCHIVE": "false" if args.redaction.keep_in_archive else "true",
            },
            [
                # Put only: the writer can add and rewrite rows, never delete one.
                allow("WriteAuditRows", ["dynamodb:PutItem", "dynamodb:BatchWriteItem"], [args.audit_table_arn]),
                *claim_checks,
                allow(
                    "WriteArchiveBodies", ["s3:PutObject"], [pulumi.Output.concat(payloads.arn, "/", ARCHIVE_BODY_PREFIX, "*")]
                ),
                stack_key("dynamodb", "s3"),
            ],
        )
        notify = state_function(
            "notify",
            "Notify state: notifications published in batches",
            {"TOPIC_ARN": args.topic_arn},
            [
                allow("PublishNotifications", ["sns:Publish"], [args.topic_arn]),
                allow("ReadNotificationClaimChecks", ["s3:GetObject"], [stage_objects]),
                stack_key("sns", "s3"),
            ],
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/vendedlogs/states/{args.prefix}-pipeline",
            retention_in_days=args.config.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        state_machine_name = f"{args.prefix}-pipeline"
        role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            description="Runs the changetrail state machine",
            assume_role_policy=service_trust("states.amazonaws.com", {"StringEquals": {"aws:SourceAccount": args.account_id}}),
            opts=child,
        )
        statements = [
            allow("InvokeStateFunctions", ["lambda:InvokeFunction"], [decode.arn, diff.arn, write_audit.arn, notify.arn]),
            allow("AssumeArchiveRole", ["sts:AssumeRole"], [args.archive_role_arn]),
            allow("SendToDeadLetterQueue", ["sqs:SendMessage"], [dlq.arn]),
            allow(
                "WriteFallbackDeadLetters",
                ["s3:PutObject"],
                [pulumi.Output.concat(payloads.arn, "/", DEAD_LETTER_PREFIX, "*")],
            ),
            # The DLQ and the fallback dead letters are encrypted with the stack key.
            use_key(
                "UseStackKeyThroughServices",
                args.kms_key_arn,
                ["kms:Decrypt", "kms:GenerateDataKey"],
                ["s3", "sqs"],
                region,
            ),
            allow("DeliverExecutionLogs", LOG_DELIVERY_ACTIONS, ["*"]),
        ]
        if args.config.tracing:
            statements.append(allow("WriteTraces", TRACE_ACTIONS, ["*"]))
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy_document(statements), opts=child)
        definition = pulumi.Output.all(
            DecodeFunctionArn=decode.arn,
            DiffFunctionArn=diff.arn,
            WriteAuditFunctionArn=write_audit.arn,
            NotifyFunctionArn=notify.arn,
            ArchiveRoleArn=args.archive_role_arn,
            ArchiveBucketName=args.archive_bucket_name,
            ArchiveAccountId=args.archive.account_id,
            PipelineAccountId=args.account_id,
            DeadLetterQueueUrl=dlq.url,
            PayloadBucketName=payloads.name,
        ).apply(statemachine.render)
        machine = aws.sfn.StateMachine(
            f"{name}-state-machine",
            name=state_machine_name,
            type="EXPRESS",
            role_arn=role.arn,
            definition=definition,
            logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
                level=args.config.log_level,
                include_execution_data=args.config.include_execution_data,
                log_destination=pulumi.Output.concat(log_group.arn, ":*"),
            ),
            tracing_configuration=aws.sfn.StateMachineTracingConfigurationArgs(enabled=args.config.tracing),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.state_machine_arn, self.state_machine_name = machine.arn, machine.name
        self.dlq_url, self.dlq_arn, self.dlq_name = dlq.url, dlq.arn, dlq.name
        self.payload_bucket_name, self.payload_bucket_arn = payloads.name, payloads.arn
        self.log_group_name, self.role_arn = log_group.name, role.arn
        self.function_names = {"decode": decode.name, "diff": diff.name, "write_audit": write_audit.name, "notify": notify.name}
        self.register_outputs(
            {
                "state_machine_arn": self.state_machine_arn,
                "dlq_url": self.dlq_url,
                "payload_bucket_name": self.payload_bucket_name,
                "log_group_name": self.log_group_name,
                "role_arn": self.role_arn,
            }
        )
