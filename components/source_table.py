"""The audited table: created with a NEW_AND_OLD_IMAGES stream, or an existing table attached."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import ConfigError, SourceConfig
from functions.contracts import REQUIRED_VIEW_TYPE


def check_view_type(table_name: str, view_type: str | None, key: str = "source") -> str:
    """The stream must carry both images; anything else is a deploy-time error."""
    if view_type != REQUIRED_VIEW_TYPE:
        update = f"aws dynamodb update-table --table-name {table_name} --stream-specification"
        enable = f"{update} StreamEnabled=true,StreamViewType={REQUIRED_VIEW_TYPE}"
        # DynamoDB refuses to enable a stream on a table that has one: a stream's view type changes only
        # by disabling it and enabling a new one, with a new ARN.
        then = f"then set changetrail:{key}.streamArn to its ARN"
        fix = f"enable a stream with both images, {then}: {enable}"
        if view_type:
            fix = f"replace the stream with one carrying both images, {then}: {update} StreamEnabled=false && {enable}"
        raise ConfigError(
            f"changetrail:{key}.tableName is {table_name}, which streams {view_type or 'nothing'}; "
            f"changetrail needs {REQUIRED_VIEW_TYPE}; fix: {fix}"
        )
    return view_type


def check_stream_arn(table_name: str, configured: str | None, latest: str | None, key: str = "source") -> str | None:
    """A stale ARN (the stream was disabled and re-enabled) would attach to a stream that no longer grows."""
    if configured != latest:
        raise ConfigError(
            f"changetrail:{key}.streamArn is {configured}, but table {table_name}'s current stream is "
            f"{latest or 'none'}; fix: set changetrail:{key}.streamArn to {latest or 'the stream ARN once enabled'}"
        )
    return configured


@dataclass(frozen=True)
class SourceTableArgs:
    config: SourceConfig
    kms_key_arn: pulumi.Input[str]
    """Encrypts a created table (an attached table keeps its own encryption)."""
    config_key: str = "source"
    """How the stack config names this source (``sources[2]``), for the errors that name its keys."""


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
            # A plain invoke, checked here rather than inside an apply: an error raised in an apply reaches the
            # user wrapped once by every resource input that depends on it, the real message last.
            existing = aws.dynamodb.get_table(name=config.table_name, opts=pulumi.InvokeOptions(parent=self))
            check_view_type(config.table_name, existing.stream_view_type, args.config_key)
            check_stream_arn(config.table_name, config.stream_arn, existing.stream_arn, args.config_key)
            self.table_name = pulumi.Output.from_input(existing.name)
            self.table_arn = pulumi.Output.from_input(existing.arn)
            self.stream_arn = pulumi.Output.from_input(existing.stream_arn)
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn, "stream_arn": self.stream_arn})
