"""The Audit table: one row per change (per changed attribute for MODIFY), history by item."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import AuditConfig

HISTORY_INDEX = "byItem"
"""GSI: ``itemKey`` + ``historySortKey`` (time#sequence) -> one item's history, newest first."""
HISTORY_ATTRIBUTES = ("eventName", "eventId", "table", "sequenceNumber", "modificationTime", "updatedAttribute")
"""What the index carries besides the keys: enough to list a history and to find a change in the
archive (restore), small enough that an index entry is one write unit (unless the item key itself
runs to hundreds of bytes), where projecting ALL would copy every value again. The values
themselves stay in the table: read the rows by ``id`` (``changetrail.history``)."""


@dataclass(frozen=True)
class AuditTableArgs:
    config: AuditConfig
    kms_key_arn: pulumi.Input[str]


class AuditTable(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:audit:AuditTable", name, None, opts)
        table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.config.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="id",
            attributes=[
                aws.dynamodb.TableAttributeArgs(name="id", type="S"),
                aws.dynamodb.TableAttributeArgs(name="itemKey", type="S"),
                aws.dynamodb.TableAttributeArgs(name="historySortKey", type="S"),
            ],
            global_secondary_indexes=[
                aws.dynamodb.TableGlobalSecondaryIndexArgs(
                    name=HISTORY_INDEX,
                    key_schemas=[
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name="itemKey", key_type="HASH"),
                        aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name="historySortKey", key_type="RANGE"),
                    ],
                    projection_type="INCLUDE",
                    non_key_attributes=list(HISTORY_ATTRIBUTES),
                )
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=args.config.point_in_time_recovery),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.kms_key_arn),
            deletion_protection_enabled=args.config.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.table_name, self.table_arn = table.name, table.arn
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn})
