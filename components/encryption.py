"""One customer managed KMS key per stack (and one in the archive account), rotated yearly; and the
account statements every key policy here starts with (the ops topic's key in ``monitoring`` too).

The key policy delegates use of the key to IAM in its own account, and no further: a role can
use the key only if its own policy names this key, and every such statement here is limited to
the services that need it (``kms:ViaService``). CloudWatch Logs is the one service principal in
the policy, limited to this stack's log groups by encryption context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import allow, policy_document

ADMINISTER_ACTIONS = [
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
]
# CreateGrant: DynamoDB creates a grant on the key when a table is created with it.
USE_ACTIONS = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"]
LOGS_ACTIONS = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
DELETION_WINDOW_DAYS = 30


def account_statements(account_id: pulumi.Input[str]) -> list[dict[str, Any]]:
    """The statements every key policy of this program starts with: IAM policies in the key's own
    account decide who administers the key and who uses it, and no other account is named."""
    root = pulumi.Output.concat("arn:aws:iam::", account_id, ":root")
    return [
        # Without an account statement a key can become unmanageable; this one names actions, not kms:*.
        {
            "Sid": "AccountAdministersKey",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": ADMINISTER_ACTIONS,
            "Resource": "*",
        },
        {"Sid": "IamPoliciesGrantUse", "Effect": "Allow", "Principal": {"AWS": root}, "Action": USE_ACTIONS, "Resource": "*"},
    ]


def key_policy(
    account_id: pulumi.Input[str],
    region: str,
    log_group_patterns: Sequence[str] = (),
    s3_decrypters: Sequence[pulumi.Input[str]] = (),
) -> pulumi.Output[str]:
    statements = account_statements(account_id)
    if log_group_patterns:
        statements.append(
            {
                "Sid": "CloudWatchLogsEncryptsStackLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                "Action": LOGS_ACTIONS,
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": [
                            pulumi.Output.concat("arn:aws:logs:", region, ":", account_id, ":log-group:", pattern)
                            for pattern in log_group_patterns
                        ]
                    }
                },
            }
        )
    if s3_decrypters:
        # Another account's role: its own IAM policy is not enough, the key policy must name it.
        statements.append(
            {
                "Sid": "ArchiveWriterDecryptsArchiveBodies",
                "Effect": "Allow",
                "Principal": {"AWS": list(s3_decrypters)},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            }
        )
    return policy_document(statements)


def use_key(
    sid: str,
    key_arn: pulumi.Input[str],
    actions: list[str],
    services: Sequence[str],
    region: str,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An IAM statement: use this key, only through these services (S3, SQS, …), never directly;
    ``context`` adds required encryption-context values."""
    via = {"kms:ViaService": [f"{service}.{region}.amazonaws.com" for service in services]}
    return {**allow(sid, actions, [key_arn]), "Condition": {"StringEquals": {**via, **(context or {})}}}


@dataclass(frozen=True)
class StackKeyArgs:
    alias: str
    description: str
    account_id: pulumi.Input[str]
    region: str
    log_group_patterns: tuple[str, ...] = field(default_factory=tuple)
    """Log groups (``*`` allowed) CloudWatch Logs may encrypt with this key."""
    s3_decrypters: tuple[pulumi.Input[str], ...] = field(default_factory=tuple)
    """Roles of other accounts that may decrypt objects through S3 (the archive writer)."""


class StackKey(pulumi.ComponentResource):
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: StackKeyArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:encryption:StackKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description=args.description,
            enable_key_rotation=True,
            deletion_window_in_days=DELETION_WINDOW_DAYS,
            policy=key_policy(args.account_id, args.region, args.log_group_patterns, args.s3_decrypters),
            opts=child,
        )
        aws.kms.Alias(f"{name}-alias", name=f"alias/{args.alias}", target_key_id=key.key_id, opts=child)
        self.arn = key.arn
        self.register_outputs({"arn": self.arn})
