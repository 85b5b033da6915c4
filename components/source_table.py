"""The audited table: created with a NEW_AND_OLD_IMAGES stream, or an existing table attached."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import SourceConfig

REQUIRED_VIEW_TYPE = "NEW_AND_OLD_IMAGES"


def check_view_type(table_name: str, view_type: str | None) -> str:
    """The stream must carry both images; anything else is a deploy-time error."""
    if view_type != REQUIRED_VIEW_TYPE:
        raise ValueError(
            f"table {table_name} streams {view_type or 'nothing'}; changetrail needs {REQUIRED_VIEW_TYPE}: "
            f"aws dynamodb update-table --table-name {table_name} "
            f"--stream-specification StreamEnabled=true,StreamViewType={REQUIRED_VIEW_TYPE}"
        )
    return view_type


def check_stream_arn(table_name: str, configured: str, latest: str | None) -> str:
    """A stale ARN (the stream was disabled and re-enabled) would attach to a stream that no longer grows."""
    if configured != latest:
        raise ValueError(
            f"changetrail:source.streamArn is {configured}, but table {table_name}'s current stream is "
            f"{latest or 'none'}; fix: set changetrail:source.streamArn to {latest or 'the stream ARN once enabled'}"
        )
    return configured


@dataclass(frozen=True)
class SourceTableArgs:
    config: SourceConfig
    kms_key_arn: pulumi.Input[str]
    """Encrypts a created table (an attached table keeps its own encryption)."""


class SourceTable(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    stream_arn: pulumi.Output[str]

    def __init__(self, name: str, args: SourceTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:source:SourceTable", name, None, opts)
        config = args.config
        if config.create:
            attributes = [aws.dynamodb.TableAttributeArgs(name=config.hash_key, type="S")]
            if config.range_key:
                attributes.append(aws.dynamodb.TableAttributeArgs(name=config.range_key, type="S"))
            table = aws.dynamodb.Table(
                f"{name}-table",
                name=config.table_name,
                billing_mode="PAY_PER_REQUEST",
                hash_key=config.hash_key,
                range_key=config.range_key,
                attributes=attributes,
                stream_enabled=True,
                stream_view_type=REQUIRED_VIEW_TYPE,
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.kms_key_arn),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.table_name, self.table_arn, self.stream_arn = table.name, table.arn, table.stream_arn
        else:
            existing = aws.dynamodb.get_table_output(name=config.table_name, opts=pulumi.InvokeOutputOptions(parent=self))
            view_type = existing.stream_view_type.apply(lambda v: check_view_type(config.table_name, v))
            self.table_name = existing.name
            self.table_arn = existing.arn
            stream_arn = existing.stream_arn.apply(lambda latest: check_stream_arn(config.table_name, config.stream_arn, latest))
            self.stream_arn = pulumi.Output.all(view_type, stream_arn).apply(lambda a: a[1])
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn, "stream_arn": self.stream_arn})
