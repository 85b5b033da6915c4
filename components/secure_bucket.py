"""A private bucket: versioned, encrypted, owner-enforced, public access blocked, TLS only; optionally Object Locked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.iam import deny_insecure_transport, policy_document


@dataclass(frozen=True)
class SecureBucketArgs:
    bucket_name: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    """Default encryption (SSE-KMS with an S3 Bucket Key, so KMS is called per bucket key, not per object)."""
    lifecycle_rules: list[aws.s3.BucketLifecycleConfigurationRuleArgs] = field(default_factory=list)
    """Lifecycle rules; empty means none."""
    versioned: bool = True
    policy_statements: list[dict[str, Any]] = field(default_factory=list)
    """Grants beside the TLS-only statement (e.g. another account's role)."""
    force_destroy: bool = False
    object_lock: ObjectLock | None = None
    """Default retention for every new object version; needs ``versioned``."""


@dataclass(frozen=True)
class ObjectLock:
    mode: str
    """GOVERNANCE or COMPLIANCE."""
    days: int


class SecureBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(f"{name}-bucket", bucket=args.bucket_name, force_destroy=args.force_destroy, opts=child)
        after_bucket = pulumi.ResourceOptions(parent=self, depends_on=[self.bucket])
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=after_bucket,
        )
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=after_bucket,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=args.kms_key_arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=after_bucket,
        )
        versioning = None
        if args.versioned:
            versioning = aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=self.bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=after_bucket,
            )
        if args.object_lock is not None:
            if versioning is None:
                raise ValueError("Object Lock needs a versioned bucket")
            # A configuration resource rather than the bucket's own object_lock_enabled flag: S3 enables
            # the lock on an existing versioned bucket (PutObjectLockConfiguration), where the flag would
            # replace the bucket and lose the archive.
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=self.bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=args.object_lock.mode, days=args.object_lock.days
                    )
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        if args.lifecycle_rules:
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-lifecycle", bucket=self.bucket.id, rules=args.lifecycle_rules, opts=after_bucket
            )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=policy_document(
                [
                    deny_insecure_transport([self.bucket.arn, pulumi.Output.concat(self.bucket.arn, "/*")], action="s3:*"),
                    *args.policy_statements,
                ]
            ),
            opts=after_bucket,
        )
        self.name = self.bucket.bucket
        self.arn = self.bucket.arn
        self.register_outputs({"name": self.name, "arn": self.arn})


def expire_after(rule_id: str, days: int, prefix: str = "") -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """Delete current and noncurrent versions ``days`` after they are written."""
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=1),
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=1
        ),
    )
