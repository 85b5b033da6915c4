"""The Audit table: one row per change (per changed attribute for MODIFY), history by item."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import AuditConfig

HISTORY_INDEX = "byItem"
"""GSI: ``itemKey`` + ``historySortKey`` (time#sequence) -> one item's history, newest first."""
HISTORY_ATTRIBUTES = ("eventName", "eventId", "table", "sequenceNumber", "modificationTime", "updatedAttribute", "archiveKey")
"""What the index carries besides the keys: enough to list a history and to find a change in the
archive (the claim row of each change names its archive object), small enough that an index
entry is one write unit (unless the item key itself runs to hundreds of bytes), where projecting
ALL would copy every value again. The values themselves stay in the table: read the rows by
``id`` (``changetrail.history``)."""


@dataclass(frozen=True)
class AuditTableArgs:
    config: AuditConfig
    kms_key_arn: pulumi.Input[str]


AUTOSCALED = ("writeCapacity", "globalSecondaryIndexes[0].writeCapacity")
"""What the autoscaler moves: ignored, so ``pulumi up`` does not set it back to the minimum."""


class AuditTable(pulumi.ComponentResource):
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:audit:AuditTable", name, None, opts)
        config = args.config
        # On demand: no capacity inputs at all, so the table is declared exactly as before the option existed.
        capacity: dict[str, int] = (
            {"read_capacity": config.read_capacity, "write_capacity": config.min_write_capacity} if config.provisioned else {}
        )
        table = aws.dynamodb.Table(
            f"{name}-table",
            name=config.table_name,
            billing_mode="PROVISIONED" if config.provisioned else "PAY_PER_REQUEST",
            **capacity,
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
                    # Every row is also written to the index, so it needs the same write capacity as the table.
                    **capacity,
                )
            ],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=config.point_in_time_recovery),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True, kms_key_arn=args.kms_key_arn),
            deletion_protection_enabled=config.deletion_protection,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=list(AUTOSCALED) if config.provisioned else None),
        )
        if config.provisioned:
            self._autoscale_writes(name, table, config)
        self.table_name, self.table_arn = table.name, table.arn
        self.register_outputs({"table_name": self.table_name, "table_arn": self.table_arn})

    def _autoscale_writes(self, name: str, table: aws.dynamodb.Table, config: AuditConfig) -> None:
        """Target tracking on the write capacity of the table and of the index; reads stay fixed.

        Application Auto Scaling acts through its service-linked role (AWS creates it on first use),
        so no role is declared here."""
        scaled = (
            ("table", table.name.apply(lambda table_name: f"table/{table_name}"), "dynamodb:table:WriteCapacityUnits"),
            (
                "index",
                table.name.apply(lambda table_name: f"table/{table_name}/index/{HISTORY_INDEX}"),
                "dynamodb:index:WriteCapacityUnits",
            ),
        )
        metric = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs(
            predefined_metric_type="DynamoDBWriteCapacityUtilization"
        )
        tracking = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
            target_value=float(config.target_utilization), predefined_metric_specification=metric
        )
        for role, resource_id, dimension in scaled:
            target = aws.appautoscaling.Target(
                f"{name}-{role}-write-target",
                service_namespace="dynamodb",
                resource_id=resource_id,
                scalable_dimension=dimension,
                min_capacity=config.min_write_capacity,
                max_capacity=config.max_write_capacity,
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.appautoscaling.Policy(
                f"{name}-{role}-write-policy",
                name=f"{config.table_name}-{role}-write-utilization",
                policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace,
                resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=tracking,
                opts=pulumi.ResourceOptions(parent=self),
            )
