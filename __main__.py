"""changetrail: reads stack config, wires the components, exports the outputs operators rely on."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.archive_target import ArchiveTarget, ArchiveTargetArgs
from components.audit_table import HISTORY_INDEX, AuditTable, AuditTableArgs
from components.config import Settings, attribute_rules, check_archive_account, load_settings, pulumi_keys, pulumi_reader
from components.encryption import StackKey, StackKeyArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.notifications import Notifications, NotificationsArgs
from components.pipeline_function import FunctionDefaults
from components.source import Source, SourceArgs, source_plans
from components.workflow import Workflow, WorkflowArgs, payload_bucket_name


def deploy_archive_target(settings: Settings) -> None:
    """The target-account stack: bucket and role only, trusting the pipeline's state machine role."""
    assert settings.pipeline is not None
    target = ArchiveTarget(
        "archive",
        ArchiveTargetArgs(
            settings.archive,
            settings.pipeline.account_id,
            settings.pipeline.role_name,
            settings.prefix,
            payload_bucket_name(settings.pipeline.prefix, settings.pipeline.account_id),
        ),
    )
    pulumi.export("archive_bucket_name", target.bucket_name)
    pulumi.export("archive_role_arn", target.role_arn)
    pulumi.export("archive_reader_role_arn", target.reader_role_arn)
    pulumi.export("archive_account_id", settings.archive.account_id)
    pulumi.export("archive_kms_key_arn", target.kms_key_arn)


def deploy_pipeline(settings: Settings) -> None:
    # A plain invoke, not an Output: a wrong account then stops the preview with its own message, not one
    # wrapped by every resource input that depends on it.
    account_id = aws.get_caller_identity().account_id
    check_archive_account(settings.archive, account_id)
    archive = settings.archive
    if archive.create:
        provider = aws.Provider(
            "archive-account",
            region=archive.region,
            assume_roles=[aws.ProviderAssumeRoleArgs(role_arn=archive.deploy_role_arn, session_name="changetrail-deploy")],
            allowed_account_ids=[archive.account_id],
        )
        target = ArchiveTarget(
            "archive",
            ArchiveTargetArgs(
                archive,
                account_id,
                settings.workflow_role_name,
                settings.prefix,
                payload_bucket_name(settings.prefix, account_id),
            ),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        archive_bucket, archive_role, archive_reader = target.bucket_name, target.role_arn, target.reader_role_arn
    else:
        archive_bucket = pulumi.Output.from_input(archive.bucket_name)
        archive_role = pulumi.Output.from_input(f"arn:aws:iam::{archive.account_id}:role/{archive.role_name}")
        archive_reader = pulumi.Output.from_input(f"arn:aws:iam::{archive.account_id}:role/{archive.reader_role_name}")

    key = StackKey(
        "encryption",
        StackKeyArgs(
            alias=settings.prefix,
            description=f"Encrypts the changetrail {settings.stack} stack: tables, queues, topic, logs, claim checks",
            account_id=account_id,
            region=settings.region,
            log_group_patterns=(
                f"/aws/vendedlogs/states/{settings.prefix}-*",
                f"/aws/lambda/{settings.prefix}-*",
                f"/aws/lambda/{settings.trigger.function_name}",
            ),
            s3_decrypters=(archive_role,),
        ),
    )
    audit = AuditTable("audit", AuditTableArgs(settings.audit, key.arn))
    notifications = Notifications(
        "notifications",
        NotificationsArgs(topic_name=f"{settings.prefix}-changes", kms_key_arn=key.arn, emails=settings.notifications.emails),
    )
    functions = FunctionDefaults(
        lambdas=settings.lambdas,
        region=settings.region,
        log_retention_days=settings.workflow.log_retention_days,
        tracing=settings.workflow.tracing,
        kms_key_arn=key.arn,
    )
    workflow = Workflow(
        "workflow",
        WorkflowArgs(
            prefix=settings.prefix,
            role_name=settings.workflow_role_name,
            config=settings.workflow,
            sources=settings.sources,
            notifications=settings.notifications,
            redaction=settings.redaction,
            archive=archive,
            functions=functions,
            account_id=account_id,
            audit_table_name=audit.table_name,
            audit_table_arn=audit.table_arn,
            topic_arn=notifications.topic_arn,
            archive_bucket_name=archive_bucket,
            archive_role_arn=archive_role,
            kms_key_arn=key.arn,
        ),
    )
    plans = source_plans(settings)
    monitoring = None
    if settings.monitoring.enabled:
        monitoring = Monitoring(
            "monitoring",
            MonitoringArgs(
                prefix=settings.prefix,
                stack=settings.stack,
                region=settings.region,
                account_id=account_id,
                config=settings.monitoring,
                state_machine_arn=workflow.state_machine_arn,
                log_group_name=workflow.log_group_name,
                dlq_name=workflow.dlq_name,
                dlq_url=workflow.dlq_url,
                audit_table_name=audit.table_name,
                topic_name=notifications.topic_name,
                notify_function_name=workflow.function_names["notify"],
                source_alarm_names=tuple(name for plan in plans for name in plan.names.alarm_names),
                source_rows=tuple(plan.dashboard_row(settings.region, account_id, settings.monitoring) for plan in plans),
            ),
        )
    sources = [
        Source(
            plan.name,
            SourceArgs(
                plan=plan,
                trigger=settings.trigger,
                functions=functions,
                state_machine_arn=workflow.state_machine_arn,
                payload_bucket_arn=workflow.payload_bucket_arn,
                payload_bucket_name=workflow.payload_bucket_name,
                kms_key_arn=key.arn,
                alarms=monitoring.alarm_target if monitoring else None,
            ),
        )
        for plan in plans
    ]
    first = sources[0]
    source, trigger = first.table, first.trigger
    outputs = {
        "stack": settings.stack,
        "region": settings.region,
        "pipeline_account_id": account_id,
        "source_table_name": source.table_name,
        "source_table_arn": source.table_arn,
        "source_stream_arn": source.stream_arn,
        "audit_table_name": audit.table_name,
        "audit_table_arn": audit.table_arn,
        "audit_history_index": HISTORY_INDEX,
        "trigger_function_name": trigger.function_name,
        "trigger_function_arn": trigger.function_arn,
        "event_source_mapping_uuid": trigger.mapping_uuid,
        "stream_failures_queue_url": trigger.failures_queue_url,
        "stream_failures_queue_arn": trigger.failures_queue_arn,
        "state_machine_arn": workflow.state_machine_arn,
        "state_machine_name": workflow.state_machine_name,
        "log_group_name": workflow.log_group_name,
        "dlq_url": workflow.dlq_url,
        "dlq_arn": workflow.dlq_arn,
        "payload_bucket_name": workflow.payload_bucket_name,
        "payload_bucket_arn": workflow.payload_bucket_arn,
        "topic_arn": notifications.topic_arn,
        "archive_bucket_name": archive_bucket,
        "archive_bucket_arn": pulumi.Output.concat("arn:aws:s3:::", archive_bucket),
        "archive_role_arn": archive_role,
        "archive_reader_role_arn": archive_reader,
        "archive_account_id": archive.account_id,
        "archive_prefix": archive.prefix,
        # What WriteAudit masks: `changetrail verify` rebuilds the rows it must have written.
        "redaction": {"attributes": list(settings.redaction.attributes), "keep_in_archive": settings.redaction.keep_in_archive},
        "attribute_rules": json.loads(attribute_rules(settings.sources)),
        "kms_key_arn": key.arn,
        "sources": [each.output for each in sources],
    }
    if monitoring is not None:
        outputs.update(
            ops_topic_arn=monitoring.topic_arn,
            dashboard_name=monitoring.dashboard_name,
            console_urls=monitoring.console_urls,
        )
    for output, value in outputs.items():
        pulumi.export(output, value)


settings = load_settings(pulumi_reader(), pulumi.get_stack(), aws.config.region, pulumi_keys())
if settings.deployment == "archive-target":
    deploy_archive_target(settings)
else:
    deploy_pipeline(settings)
