"""Pulumi mocks that create every resource of the program in moto and answer with moto's real ARNs.

So the local stack *is* the program's own resource graph: change a component and the embedded
AWS changes with it. Resources under a provider that assumes a role in another account are
created in that account. Event source mappings are recorded, not created in moto: moto would
invoke the trigger synchronously on every write, ignoring batching, retries and failures; the
``StreamPoller`` delivers records with the real mapping's semantics instead.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from botocore.exceptions import ClientError

from changetrail.embedded.accounts import PIPELINE_ACCOUNT, REGION, account_of, client


@dataclass
class Registry:
    """What the program created, for the embedded AWS to run."""

    functions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """function name -> {handler, environment, arn, account}"""
    mappings: list[dict[str, Any]] = field(default_factory=list)
    resources: list[tuple[str, str, str]] = field(default_factory=list)
    """(type, logical name, account) in creation order."""


Args = pulumi.runtime.MockResourceArgs
Inputs = dict[str, Any]
Created = tuple[str, Inputs]
"""(physical id, outputs) as Pulumi's engine would return them."""


def _int(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "changetrail functions run in-process in the embedded AWS\n")
    return buffer.getvalue()


DYNAMODB_SCALING_ROLE = "dynamodb.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_DynamoDBTable"


def _throughput(inputs: Inputs) -> dict[str, int]:
    """A table's or index's provisioned capacity; AWS refuses a PROVISIONED table or index without it."""
    return {"ReadCapacityUnits": _int(inputs["readCapacity"]), "WriteCapacityUnits": _int(inputs["writeCapacity"])}


def moto_mapping(account: str, function: str, stream_arn: str, enabled: bool) -> str:
    """Create the mapping in moto's Lambda and take it off the table, so moto never invokes by itself; returns its UUID."""
    from moto.dynamodb.models import dynamodb_backends

    created = client("lambda", account).create_event_source_mapping(
        FunctionName=function, EventSourceArn=stream_arn, Enabled=enabled, StartingPosition="TRIM_HORIZON"
    )
    _, _, _, region, owner, resource = stream_arn.split(":", 5)
    table = dynamodb_backends[owner][region].get_table(resource.split("/")[1])
    table.lambda_event_source_mappings.pop(created["FunctionArn"], None)
    return created["UUID"]


class MotoMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registry = Registry()
        self._provider_accounts: dict[str, str] = {}
        self._lock = threading.Lock()
        self._creators: dict[str, Callable[[Args, str, Inputs], Created]] = {
            "pulumi:providers:aws": self._provider,
            "aws:dynamodb/table:Table": self._table,
            "aws:s3/bucket:Bucket": self._bucket,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": self._bucket_ownership,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": self._bucket_public_access,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": self._bucket_encryption,
            "aws:s3/bucketVersioning:BucketVersioning": self._bucket_versioning,
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": self._passthrough,
            "aws:s3/bucketPolicy:BucketPolicy": self._bucket_policy,
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": self._bucket_object_lock,
            "aws:iam/role:Role": self._role,
            "aws:iam/rolePolicy:RolePolicy": self._role_policy,
            "aws:cloudwatch/logGroup:LogGroup": self._log_group,
            "aws:lambda/function:Function": self._function,
            "aws:lambda/eventSourceMapping:EventSourceMapping": self._mapping,
            "aws:sfn/stateMachine:StateMachine": self._state_machine,
            "aws:sqs/queue:Queue": self._queue,
            "aws:sqs/queuePolicy:QueuePolicy": self._queue_policy,
            "aws:sns/topic:Topic": self._topic,
            "aws:sns/topicPolicy:TopicPolicy": self._topic_policy,
            "aws:sns/topicSubscription:TopicSubscription": self._subscription,
            "aws:kms/key:Key": self._kms_key,
            "aws:kms/alias:Alias": self._kms_alias,
            "aws:cloudwatch/metricAlarm:MetricAlarm": self._metric_alarm,
            "aws:cloudwatch/logMetricFilter:LogMetricFilter": self._log_metric_filter,
            "aws:cloudwatch/dashboard:Dashboard": self._dashboard,
            "aws:appautoscaling/target:Target": self._scalable_target,
            "aws:appautoscaling/policy:Policy": self._scaling_policy,
        }

    # -- Mocks interface -------------------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        account = self._account(args.provider)
        inputs = {key: _int(value) for key, value in args.inputs.items()}
        creator = self._creators.get(args.typ, self._passthrough)
        with self._lock:
            resource_id, outputs = creator(args, account, inputs)
            self.registry.resources.append((args.typ, args.name, account))
        return resource_id, outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        account = self._account(args.provider)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{account}:user/changetrail-local"
            return {"accountId": account, "arn": arn, "userId": "AIDACHANGETRAIL", "id": account}, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION}, []
        if args.token == "aws:dynamodb/getTable:getTable":
            table = client("dynamodb", account).describe_table(TableName=args.args["name"])["Table"]
            spec = table.get("StreamSpecification", {})
            return {
                "name": table["TableName"],
                "arn": table["TableArn"],
                "streamArn": table.get("LatestStreamArn"),
                "streamEnabled": spec.get("StreamEnabled", False),
                "streamViewType": spec.get("StreamViewType"),
                "id": table["TableName"],
            }, []
        return {}, []

    # -- helpers ---------------------------------------------------------------------------
    def _account(self, provider: str | None) -> str:
        if not provider:
            return PIPELINE_ACCOUNT
        return self._provider_accounts.get(provider.split("::")[-1], PIPELINE_ACCOUNT)

    @staticmethod
    def _passthrough(args: Args, account: str, inputs: Inputs) -> Created:
        return f"{args.name}-id", inputs

    @staticmethod
    def _autoname(args: Args, inputs: Inputs, key: str = "name") -> str:
        return inputs.get(key) or f"{args.name}-{uuid.uuid4().hex[:7]}"

    def _provider(self, args: Args, account: str, inputs: Inputs) -> Created:
        resource_id = f"provider-{uuid.uuid4().hex[:8]}"
        # Provider inputs arrive JSON-encoded.
        roles = inputs.get("assumeRoles") or "[]"
        roles = json.loads(roles) if isinstance(roles, str) else roles
        if roles and roles[0].get("roleArn"):
            self._provider_accounts[resource_id] = account_of(roles[0]["roleArn"])
        elif inputs.get("allowedAccountIds"):
            self._provider_accounts[resource_id] = json.loads(inputs["allowedAccountIds"])[0]
        return resource_id, inputs

    # -- DynamoDB --------------------------------------------------------------------------
    def _table(self, args: Args, account: str, inputs: Inputs) -> Created:
        ddb = client("dynamodb", account)
        name = self._autoname(args, inputs)
        keys = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
        if inputs.get("rangeKey"):
            keys.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": keys,
            "AttributeDefinitions": [{"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs["attributes"]],
            "BillingMode": inputs.get("billingMode", "PAY_PER_REQUEST"),
        }
        provisioned = request["BillingMode"] == "PROVISIONED"
        if provisioned:
            request["ProvisionedThroughput"] = _throughput(inputs)
        indexes = inputs.get("globalSecondaryIndexes") or []
        if indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index["name"],
                    "KeySchema": [{"AttributeName": k["attributeName"], "KeyType": k["keyType"]} for k in index["keySchemas"]],
                    "Projection": {"ProjectionType": index.get("projectionType", "ALL")}
                    | ({"NonKeyAttributes": index["nonKeyAttributes"]} if index.get("nonKeyAttributes") else {}),
                }
                | ({"ProvisionedThroughput": _throughput(index)} if provisioned else {})
                for index in indexes
            ]
        encryption = inputs.get("serverSideEncryption") or {}
        if encryption.get("kmsKeyArn"):
            request["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": encryption["kmsKeyArn"]}
        if inputs.get("streamEnabled"):
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": inputs["streamViewType"]}
        table = ddb.create_table(**request)["TableDescription"]
        if (inputs.get("pointInTimeRecovery") or {}).get("enabled"):
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        outputs = {**inputs, "name": name, "arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            outputs.update(streamArn=table["LatestStreamArn"], streamLabel=table["LatestStreamLabel"])
        return name, outputs

    # -- Application Auto Scaling ----------------------------------------------------------
    def _scalable_target(self, args: Args, account: str, inputs: Inputs) -> Created:
        arn = client("application-autoscaling", account).register_scalable_target(
            ServiceNamespace=inputs["serviceNamespace"],
            ResourceId=inputs["resourceId"],
            ScalableDimension=inputs["scalableDimension"],
            MinCapacity=inputs["minCapacity"],
            MaxCapacity=inputs["maxCapacity"],
        )["ScalableTargetARN"]
        role = inputs.get("roleArn")
        if not role and inputs["serviceNamespace"] == "dynamodb":
            # Without a role AWS acts through (and reports) the namespace's service-linked role.
            role = f"arn:aws:iam::{account}:role/aws-service-role/{DYNAMODB_SCALING_ROLE}"
        # The provider's id for a scalable target is its resource id.
        return inputs["resourceId"], {**inputs, "arn": arn, "roleArn": role or ""}

    def _scaling_policy(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        tracking = inputs.get("targetTrackingScalingPolicyConfiguration") or {}
        predefined = tracking.get("predefinedMetricSpecification") or {}
        configuration: dict[str, Any] = {"TargetValue": float(tracking["targetValue"])}
        if predefined:
            configuration["PredefinedMetricSpecification"] = {"PredefinedMetricType": predefined["predefinedMetricType"]}
        policy = client("application-autoscaling", account).put_scaling_policy(
            PolicyName=name,
            ServiceNamespace=inputs["serviceNamespace"],
            ResourceId=inputs["resourceId"],
            ScalableDimension=inputs["scalableDimension"],
            PolicyType=inputs.get("policyType", "StepScaling"),
            TargetTrackingScalingPolicyConfiguration=configuration,
        )
        alarms = [alarm["AlarmARN"] for alarm in policy.get("Alarms", [])]
        return name, {**inputs, "name": name, "arn": policy["PolicyARN"], "alarmArns": alarms}

    # -- S3 --------------------------------------------------------------------------------
    def _bucket(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs, "bucket")
        client("s3", account).create_bucket(Bucket=name)
        return name, {
            **inputs,
            "bucket": name,
            "arn": f"arn:aws:s3:::{name}",
            "region": REGION,
            "bucketDomainName": f"{name}.s3.amazonaws.com",
        }

    def _bucket_ownership(self, args: Args, account: str, inputs: Inputs) -> Created:
        client("s3", account).put_bucket_ownership_controls(
            Bucket=inputs["bucket"], OwnershipControls={"Rules": [{"ObjectOwnership": inputs["rule"]["objectOwnership"]}]}
        )
        return inputs["bucket"], inputs

    def _bucket_public_access(self, args: Args, account: str, inputs: Inputs) -> Created:
        keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        client("s3", account).put_public_access_block(
            Bucket=inputs["bucket"],
            PublicAccessBlockConfiguration={key[0].upper() + key[1:]: bool(inputs.get(key)) for key in keys},
        )
        return inputs["bucket"], inputs

    def _bucket_encryption(self, args: Args, account: str, inputs: Inputs) -> Created:
        def default(rule: dict[str, Any]) -> dict[str, str]:
            given = rule["applyServerSideEncryptionByDefault"]
            key = {"KMSMasterKeyID": given["kmsMasterKeyId"]} if given.get("kmsMasterKeyId") else {}
            return {"SSEAlgorithm": given["sseAlgorithm"], **key}

        rules = [
            {"ApplyServerSideEncryptionByDefault": default(r), "BucketKeyEnabled": bool(r.get("bucketKeyEnabled"))}
            for r in inputs["rules"]
        ]
        client("s3", account).put_bucket_encryption(Bucket=inputs["bucket"], ServerSideEncryptionConfiguration={"Rules": rules})
        return inputs["bucket"], inputs

    def _bucket_versioning(self, args: Args, account: str, inputs: Inputs) -> Created:
        client("s3", account).put_bucket_versioning(
            Bucket=inputs["bucket"], VersioningConfiguration={"Status": inputs["versioningConfiguration"]["status"]}
        )
        return inputs["bucket"], inputs

    def _bucket_object_lock(self, args: Args, account: str, inputs: Inputs) -> Created:
        retention = inputs["rule"]["defaultRetention"]
        client("s3", account).put_object_lock_configuration(
            Bucket=inputs["bucket"],
            ObjectLockConfiguration={
                "ObjectLockEnabled": inputs.get("objectLockEnabled", "Enabled"),
                "Rule": {"DefaultRetention": {"Mode": retention["mode"], "Days": int(retention["days"])}},
            },
        )
        return inputs["bucket"], inputs

    def _bucket_policy(self, args: Args, account: str, inputs: Inputs) -> Created:
        client("s3", account).put_bucket_policy(Bucket=inputs["bucket"], Policy=inputs["policy"])
        return inputs["bucket"], inputs

    # -- IAM and logs ----------------------------------------------------------------------
    def _role(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        role = client("iam", account).create_role(
            RoleName=name, AssumeRolePolicyDocument=inputs["assumeRolePolicy"], Description=inputs.get("description", "")
        )["Role"]
        return name, {**inputs, "name": name, "arn": role["Arn"], "uniqueId": role["RoleId"]}

    def _role_policy(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        client("iam", account).put_role_policy(RoleName=inputs["role"], PolicyName=name, PolicyDocument=inputs["policy"])
        return f"{inputs['role']}:{name}", {**inputs, "name": name}

    def _log_group(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        logs = client("logs", account)
        logs.create_log_group(logGroupName=name, **({"kmsKeyId": inputs["kmsKeyId"]} if inputs.get("kmsKeyId") else {}))
        if inputs.get("retentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=inputs["retentionInDays"])
        return name, {**inputs, "name": name, "arn": f"arn:aws:logs:{REGION}:{account}:log-group:{name}"}

    # -- Lambda ----------------------------------------------------------------------------
    def _function(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        environment = (inputs.get("environment") or {}).get("variables") or {}
        function = client("lambda", account).create_function(
            FunctionName=name,
            Runtime=inputs["runtime"],
            Role=inputs["role"],
            Handler=inputs["handler"],
            Code={"ZipFile": _dummy_zip()},
            MemorySize=inputs.get("memorySize", 128),
            Timeout=inputs.get("timeout", 3),
            Environment={"Variables": environment},
        )
        self.registry.functions[name] = {
            "handler": inputs["handler"],
            "environment": environment,
            "arn": function["FunctionArn"],
            "memory": inputs.get("memorySize", 128),
        }
        outputs = {
            **inputs,
            "name": name,
            "arn": function["FunctionArn"],
            "qualifiedArn": function["FunctionArn"] + ":$LATEST",
            "invokeArn": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function['FunctionArn']}/invocations",
            "version": "$LATEST",
        }
        outputs.pop("code", None)
        return name, outputs

    def _mapping(self, args: Args, account: str, inputs: Inputs) -> Created:
        """Kept in moto's Lambda (so ``UpdateEventSourceMapping`` and ``Enabled`` reach it) but unhooked from the table:
        moto would invoke on every write; the ``StreamPoller`` delivers instead."""
        enabled = inputs.get("enabled", True) is not False
        try:
            created = moto_mapping(account, inputs["functionName"], inputs["eventSourceArn"], enabled)
            mapping_uuid, in_moto = created, True
        except ClientError:  # a stream moto does not list (bring-your-own stream of another kind): recorded only
            mapping_uuid, in_moto = str(uuid.uuid4()), False
        self.registry.mappings.append({**inputs, "uuid": mapping_uuid, "inMoto": in_moto})
        state = "Enabled" if enabled else "Disabled"
        return mapping_uuid, {**inputs, "uuid": mapping_uuid, "functionArn": inputs["functionName"], "state": state}

    # -- Step Functions, SQS, SNS ----------------------------------------------------------
    def _state_machine(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        logging = inputs.get("loggingConfiguration") or {}
        machine = client("stepfunctions", account).create_state_machine(
            name=name,
            definition=inputs["definition"],
            roleArn=inputs["roleArn"],
            type=inputs.get("type", "STANDARD"),
            loggingConfiguration={
                "level": logging.get("level", "OFF"),
                "includeExecutionData": bool(logging.get("includeExecutionData")),
                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": logging["logDestination"]}}]
                if logging.get("logDestination")
                else [],
            },
            tracingConfiguration={"enabled": bool((inputs.get("tracingConfiguration") or {}).get("enabled"))},
        )
        arn = machine["stateMachineArn"]
        return arn, {**inputs, "name": name, "arn": arn, "status": "ACTIVE"}

    def _queue(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        attributes = {
            "MessageRetentionPeriod": str(inputs.get("messageRetentionSeconds", 345600)),
            "MaximumMessageSize": str(inputs.get("maxMessageSize", 262144)),
            "SqsManagedSseEnabled": str(bool(inputs.get("sqsManagedSseEnabled"))).lower(),
        }
        if inputs.get("kmsMasterKeyId"):
            attributes.update(
                KmsMasterKeyId=inputs["kmsMasterKeyId"],
                KmsDataKeyReusePeriodSeconds=str(_int(inputs.get("kmsDataKeyReusePeriodSeconds", 300))),
            )
        sqs = client("sqs", account)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, {**inputs, "name": name, "url": url, "arn": arn}

    def _queue_policy(self, args: Args, account: str, inputs: Inputs) -> Created:
        client("sqs", account).set_queue_attributes(QueueUrl=inputs["queueUrl"], Attributes={"Policy": inputs["policy"]})
        return inputs["queueUrl"], inputs

    def _topic(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        attributes = {"KmsMasterKeyId": inputs["kmsMasterKeyId"]} if inputs.get("kmsMasterKeyId") else {}
        arn = client("sns", account).create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return arn, {**inputs, "name": name, "arn": arn}

    def _topic_policy(self, args: Args, account: str, inputs: Inputs) -> Created:
        client("sns", account).set_topic_attributes(
            TopicArn=inputs["arn"], AttributeName="Policy", AttributeValue=inputs["policy"]
        )
        return inputs["arn"], inputs

    def _subscription(self, args: Args, account: str, inputs: Inputs) -> Created:
        arn = client("sns", account).subscribe(
            TopicArn=inputs["topic"], Protocol=inputs["protocol"], Endpoint=inputs["endpoint"]
        )["SubscriptionArn"]
        return arn, {**inputs, "arn": arn}

    # -- KMS and CloudWatch monitoring ----------------------------------------------------
    def _kms_key(self, args: Args, account: str, inputs: Inputs) -> Created:
        kms = client("kms", account)
        request = {"Description": inputs.get("description", ""), "KeyUsage": "ENCRYPT_DECRYPT"}
        if inputs.get("policy"):
            request["Policy"] = inputs["policy"]
        key = kms.create_key(**request)["KeyMetadata"]
        if inputs.get("enableKeyRotation"):
            kms.enable_key_rotation(KeyId=key["KeyId"])
        return key["KeyId"], {**inputs, "keyId": key["KeyId"], "arn": key["Arn"]}

    def _kms_alias(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = inputs["name"]
        kms = client("kms", account)
        kms.create_alias(AliasName=name, TargetKeyId=inputs["targetKeyId"])
        target = kms.describe_key(KeyId=inputs["targetKeyId"])["KeyMetadata"]["Arn"]
        return name, {**inputs, "arn": f"arn:aws:kms:{REGION}:{account}:{name}", "targetKeyArn": target}

    def _log_metric_filter(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        transformation = inputs["metricTransformation"]
        client("logs", account).put_metric_filter(
            logGroupName=inputs["logGroupName"],
            filterName=name,
            filterPattern=inputs["pattern"],
            metricTransformations=[
                {
                    "metricName": transformation["name"],
                    "metricNamespace": transformation["namespace"],
                    "metricValue": transformation["value"],
                }
            ],
        )
        return name, {**inputs, "name": name}

    def _metric_alarm(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = self._autoname(args, inputs)
        request: dict[str, Any] = {
            "AlarmName": name,
            "AlarmDescription": inputs.get("alarmDescription", ""),
            "ActionsEnabled": inputs.get("actionsEnabled", True),
            "AlarmActions": inputs.get("alarmActions") or [],
            "OKActions": inputs.get("okActions") or [],
            "InsufficientDataActions": inputs.get("insufficientDataActions") or [],
            "Namespace": inputs["namespace"],
            "MetricName": inputs["metricName"],
            "Statistic": inputs["statistic"],
            "Dimensions": [{"Name": key, "Value": value} for key, value in (inputs.get("dimensions") or {}).items()],
            "Period": inputs["period"],
            "EvaluationPeriods": inputs["evaluationPeriods"],
            "Threshold": float(inputs["threshold"]),
            "ComparisonOperator": inputs["comparisonOperator"],
        }
        if inputs.get("treatMissingData"):
            request["TreatMissingData"] = inputs["treatMissingData"]
        cloudwatch = client("cloudwatch", account)
        cloudwatch.put_metric_alarm(**request)
        (alarm,) = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return name, {**inputs, "name": name, "arn": alarm["AlarmArn"]}

    def _dashboard(self, args: Args, account: str, inputs: Inputs) -> Created:
        name = inputs["dashboardName"]
        cloudwatch = client("cloudwatch", account)
        cloudwatch.put_dashboard(DashboardName=name, DashboardBody=inputs["dashboardBody"])
        arn = cloudwatch.get_dashboard(DashboardName=name)["DashboardArn"]
        return name, {**inputs, "dashboardArn": arn, "arn": arn}
