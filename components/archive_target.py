"""The archive side, in the target account: the bucket and the role the state machine assumes.

Deployable alone (``deployment: archive-target`` stack in the target account) or in-program
through a second provider. The role trusts the pipeline account only for the one state machine
role, by ``aws:PrincipalArn``, so the target can be deployed before the pipeline exists.

Tamper evidence: every object version is locked (S3 Object Lock, default retention), the writer
may only create objects that do not exist yet (``If-None-Match: *``, condition key
``s3:if-none-match``), and no principal the pipeline account controls may delete a version,
bypass governance retention or change a version's retention: both in the roles' policies and,
so that a later grant in the archive account cannot widen them, in the bucket policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import ArchiveConfig
from components.encryption import StackKey, StackKeyArgs, use_key
from components.iam import allow, policy_document
from components.secure_bucket import ObjectLock, SecureBucket, SecureBucketArgs
from components.workflow import ARCHIVE_BODY_PREFIX


@dataclass(frozen=True)
class ArchiveTargetArgs:
    config: ArchiveConfig
    pipeline_account_id: pulumi.Input[str]
    pipeline_role_name: str
    name_prefix: str
    """Names the archive key's alias (``alias/<name_prefix>-archive``)."""
    payload_bucket_name: pulumi.Input[str]
    """The pipeline's claim-check bucket: large archive bodies are copied from it, as the part of a multipart upload."""


def trust_policy(pipeline_account_id: pulumi.Input[str], pipeline_role_name: str) -> pulumi.Output[str]:
    return policy_document(
        [
            {
                "Sid": "PipelineStateMachineOnly",
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", pipeline_account_id, ":root")},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "ArnEquals": {
                        "aws:PrincipalArn": pulumi.Output.concat(
                            "arn:aws:iam::", pipeline_account_id, ":role/", pipeline_role_name
                        )
                    }
                },
            }
        ]
    )


def reader_trust_policy(pipeline_account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    """Operators of the pipeline account (those its IAM lets assume this role) may read the archive."""
    return policy_document(
        [
            {
                "Sid": "PipelineAccountOperators",
                "Effect": "Allow",
                "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", pipeline_account_id, ":root")},
                "Action": "sts:AssumeRole",
            }
        ]
    )


CONDITIONAL_CREATE = {"Null": {"s3:if-none-match": "false"}}
"""Only a request that carries ``If-None-Match`` (the pipeline sends ``*``): a create, never an overwrite."""
MULTIPART_STEP = {"Bool": {"s3:ObjectCreationOperation": "false"}}
"""CreateMultipartUpload, UploadPart and UploadPartCopy: S3's multipart steps, which take no conditional header and
create no object. The object appears only on CompleteMultipartUpload, an object-creating operation that must carry
``If-None-Match`` like PutObject (S3 user guide, "Enforce conditional writes on Amazon S3 buckets")."""
REMOVALS = [
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
]
"""What could remove or unlock an archived version before its retention ends."""


def writer_put_statements(objects: pulumi.Input[str]) -> list[dict[str, Any]]:
    """PutObject and CompleteMultipartUpload only as conditional creates; the multipart steps before a completion."""
    return [
        {**allow("CreateArchiveObjectsOnly", ["s3:PutObject"], [objects]), "Condition": CONDITIONAL_CREATE},
        {**allow("UploadArchivePartsOnly", ["s3:PutObject"], [objects]), "Condition": MULTIPART_STEP},
    ]


def archive_bucket_statements(
    bucket_arn: str,
    writer_role_arn: pulumi.Input[str],
    reader_role_arn: pulumi.Input[str],
    pipeline_account_id: pulumi.Input[str],
) -> list[dict[str, Any]]:
    """The archive bucket's own guard rails, beside the TLS-only statement.

    Principal ``*`` with ``aws:PrincipalArn``: a role ARN as principal would have to exist first,
    and would stop matching once the role is recreated.
    """
    objects = f"{bucket_arn}/*"
    return [
        {
            "Sid": "DenyUnconditionalWritesByTheWriter",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "ArnEquals": {"aws:PrincipalArn": writer_role_arn},
                "Null": {"s3:if-none-match": "true"},
                "Bool": {"s3:ObjectCreationOperation": "true"},
            },
        },
        {
            "Sid": "DenyRemovalByPipelineRoles",
            "Effect": "Deny",
            "Principal": "*",
            "Action": REMOVALS,
            "Resource": objects,
            "Condition": {"ArnEquals": {"aws:PrincipalArn": [writer_role_arn, reader_role_arn]}},
        },
        {
            "Sid": "DenyRemovalByThePipelineAccount",
            "Effect": "Deny",
            "Principal": "*",
            "Action": REMOVALS,
            "Resource": objects,
            "Condition": {"StringEquals": {"aws:PrincipalAccount": pipeline_account_id}},
        },
    ]


def object_lock(config: ArchiveConfig) -> ObjectLock | None:
    return ObjectLock(config.lock_mode, config.retention_days) if config.locked else None


def lifecycle_rules(config: ArchiveConfig) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="archive-tiering",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=config.prefix),
            transitions=[
                aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                    days=config.transition_to_ia_days, storage_class="STANDARD_IA"
                ),
                aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                    days=config.transition_to_glacier_days, storage_class="GLACIER_IR"
                ),
            ],
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=config.noncurrent_days
            ),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=1
            ),
        )
    ]


class ArchiveTarget(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    reader_role_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArchiveTargetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:archive:ArchiveTarget", name, None, opts)
        config = args.config
        child = pulumi.ResourceOptions(parent=self)
        # The archive account's own key: the pipeline account cannot decrypt the archive by itself.
        key = StackKey(
            f"{name}-encryption",
            StackKeyArgs(
                alias=f"{args.name_prefix}-archive",
                description=f"Encrypts the changetrail archive bucket {config.bucket_name}",
                account_id=config.account_id,
                region=config.region,
            ),
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-writer-role",
            name=config.role_name,
            description="Assumed by the changetrail state machine to write archive objects",
            assume_role_policy=trust_policy(args.pipeline_account_id, args.pipeline_role_name),
            max_session_duration=3600,
            opts=child,
        )
        reader = aws.iam.Role(
            f"{name}-reader-role",
            name=config.reader_role_name,
            description="Assumed by changetrail operators (replay, restore) to read archive objects",
            assume_role_policy=reader_trust_policy(args.pipeline_account_id),
            max_session_duration=3600,
            opts=child,
        )
        bucket = SecureBucket(
            f"{name}-archive",
            SecureBucketArgs(
                bucket_name=config.bucket_name,
                kms_key_arn=key.arn,
                lifecycle_rules=lifecycle_rules(config),
                object_lock=object_lock(config),
                policy_statements=archive_bucket_statements(
                    f"arn:aws:s3:::{config.bucket_name}", role.arn, reader.arn, args.pipeline_account_id
                ),
            ),
            opts=child,
        )
        objects = pulumi.Output.concat(bucket.arn, "/", f"{config.prefix}/*" if config.prefix else "*")
        aws.iam.RolePolicy(
            f"{name}-writer-policy",
            role=role.id,
            policy=policy_document(
                [
                    *writer_put_statements(objects),
                    # A multipart upload under SSE-KMS needs kms:Decrypt too: S3 reads the encrypted parts back to
                    # complete it (S3 user guide, "Multipart upload API and permissions"). The writer still reads
                    # nothing: it has no s3:GetObject on the archive.
                    use_key("EncryptArchiveObjects", key.arn, ["kms:GenerateDataKey", "kms:Decrypt"], ["s3"], config.region),
                    allow(
                        "ReadArchiveBodies",
                        ["s3:GetObject"],
                        [pulumi.Output.concat("arn:aws:s3:::", args.payload_bucket_name, "/", ARCHIVE_BODY_PREFIX, "*")],
                    ),
                    # The pipeline key's id is not known here; the bucket it encrypts is.
                    use_key(
                        "DecryptArchiveBodies",
                        pulumi.Output.concat("arn:aws:kms:", config.region, ":", args.pipeline_account_id, ":key/*"),
                        ["kms:Decrypt"],
                        ["s3"],
                        config.region,
                        {"kms:EncryptionContext:aws:s3:arn": pulumi.Output.concat("arn:aws:s3:::", args.payload_bucket_name)},
                    ),
                ]
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-reader-policy",
            role=reader.id,
            policy=policy_document(
                [
                    allow("ReadArchiveObjects", ["s3:GetObject"], [objects]),
                    use_key("DecryptArchiveObjects", key.arn, ["kms:Decrypt"], ["s3"], config.region),
                    {
                        **allow("ListArchivePrefix", ["s3:ListBucket"], [bucket.arn]),
                        "Condition": {"StringLike": {"s3:prefix": [f"{config.prefix}/*" if config.prefix else "*"]}},
                    },
                ]
            ),
            opts=child,
        )
        self.bucket_name, self.bucket_arn, self.role_arn = bucket.name, bucket.arn, role.arn
        self.reader_role_arn, self.kms_key_arn = reader.arn, key.arn
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "role_arn": self.role_arn,
                "reader_role_arn": self.reader_role_arn,
            }
        )
