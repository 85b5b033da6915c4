"""The resource graph of the Pulumi program under `pulumi.runtime.set_mocks`: what exists, what is
wired to what, every IAM statement against an allow-list, and config errors that name the key."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest

from changetrail.embedded import merge
from changetrail.embedded.program import run_program, stack_config
from components.config import ConfigError, load_settings

ACCOUNT = "111111111111"
ARCHIVE = "222222222222"
REGION = "us-east-1"


@dataclass
class Recorded:
    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    provider: str


class RecordingMocks(pulumi.runtime.Mocks):
    """Answers like AWS would (ARNs, URLs, stream ARNs), remembering every resource."""

    def __init__(self) -> None:
        self.resources: list[Recorded] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        account = ARCHIVE if "archive-account" in (args.provider or "") else ACCOUNT
        name = inputs.get("name") or inputs.get("bucket") or f"{args.name}-{uuid.uuid4().hex[:6]}"
        service = args.typ.split(":")[1].split("/")[0]
        arn = {
            "s3": f"arn:aws:s3:::{name}",
            "iam": f"arn:aws:iam::{account}:role/{name}",
            "sqs": f"arn:aws:sqs:{REGION}:{account}:{name}",
            "sns": f"arn:aws:sns:{REGION}:{account}:{name}",
            "lambda": f"arn:aws:lambda:{REGION}:{account}:function:{name}",
            "sfn": f"arn:aws:states:{REGION}:{account}:stateMachine:{name}",
            "dynamodb": f"arn:aws:dynamodb:{REGION}:{account}:table/{name}",
            "cloudwatch": f"arn:aws:logs:{REGION}:{account}:log-group:{name}",
        }.get(service, f"arn:aws:{service}:{REGION}:{account}:{name}")
        outputs = {**inputs, "name": name, "arn": arn}
        if args.typ == "aws:s3/bucket:Bucket":
            outputs["bucket"] = name
        if args.typ == "aws:dynamodb/table:Table" and inputs.get("streamEnabled"):
            outputs["streamArn"] = f"{arn}/stream/2026-01-01T00:00:00.000"
        if args.typ == "aws:sqs/queue:Queue":
            outputs["url"] = f"https://sqs.{REGION}.amazonaws.com/{account}/{name}"
        if args.typ == "aws:lambda/eventSourceMapping:EventSourceMapping":
            outputs["uuid"] = str(uuid.uuid4())
        self.resources.append(Recorded(args.typ, args.name, inputs, outputs, args.provider or ""))
        return f"{name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AID"}, []
        return {"name": REGION, "region": REGION}, []


class Program:
    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self.mocks = RecordingMocks()
        self.outputs = run_program(self.mocks, "dev", merge(stack_config("dev"), overrides or {}))
        self.resources = self.mocks.resources

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_part: str = "") -> Recorded:
        (found,) = [r for r in self.of_type(typ) if name_part in r.name]
        return found

    def policies(self) -> dict[str, list[dict[str, Any]]]:
        """Role logical name -> its inline policy statements."""
        roles = {r.outputs["name"]: r.name for r in self.of_type("aws:iam/role:Role")}
        return {
            roles[p.inputs["role"].removesuffix("-id")]: json.loads(p.inputs["policy"])["Statement"]
            for p in self.of_type("aws:iam/rolePolicy:RolePolicy")
        }


@pytest.fixture(scope="module")
def program() -> Program:
    return Program()


def test_source_table_streams_both_images_and_is_protected(program):
    table = program.one("aws:dynamodb/table:Table", "source")
    assert (table.inputs["name"], table.inputs["hashKey"]) == ("Configuration", "key")
    assert table.inputs["streamEnabled"] is True and table.inputs["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table.inputs["pointInTimeRecovery"]["enabled"] and table.inputs["serverSideEncryption"]["enabled"]


def test_audit_table_has_the_history_index_and_point_in_time_recovery(program):
    table = program.one("aws:dynamodb/table:Table", "audit")
    assert table.inputs["name"] == "Audit" and table.inputs["hashKey"] == "id"
    (index,) = table.inputs["globalSecondaryIndexes"]
    assert index["name"] == "byItem"
    assert [(k["attributeName"], k["keyType"]) for k in index["keySchemas"]] == [("itemKey", "HASH"), ("historySortKey", "RANGE")]
    assert table.inputs["pointInTimeRecovery"]["enabled"] is True


def test_state_machine_is_express_logged_traced_and_fully_rendered(program):
    machine = program.one("aws:sfn/stateMachine:StateMachine")
    assert machine.inputs["type"] == "EXPRESS"
    logging = machine.inputs["loggingConfiguration"]
    assert logging["level"] == "ALL" and logging["includeExecutionData"] is True
    assert logging["logDestination"].startswith(f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/states/")
    assert machine.inputs["tracingConfiguration"]["enabled"] is True
    text = machine.inputs["definition"]
    assert "${" not in text and '"None"' not in text
    definition = json.loads(text)
    functions = {r.name: r.outputs["arn"] for r in program.of_type("aws:lambda/function:Function")}
    assert definition["States"]["Decode"]["Parameters"]["FunctionName"] == functions["workflow-decode-function"]
    assert definition["States"]["Diff"]["Parameters"]["FunctionName"] == functions["workflow-diff-function"]
    archive = definition["States"]["Archive"]
    assert archive["Credentials"]["RoleArn"] == program.outputs["archive_role_arn"]
    assert archive["Parameters"]["Bucket"] == program.outputs["archive_bucket_name"]
    assert definition["States"]["SendToDLQ"]["Parameters"]["QueueUrl"] == program.outputs["dlq_url"]
    put = definition["States"]["WriteAudit"]["ItemProcessor"]["States"]["PutAuditRow"]["Parameters"]
    assert put["TableName"] == "Audit"


def test_event_source_mapping_is_finite_bisecting_and_reports_partial_failures(program):
    mapping = program.one("aws:lambda/eventSourceMapping:EventSourceMapping")
    inputs = mapping.inputs
    assert inputs["eventSourceArn"] == program.outputs["source_stream_arn"]
    assert inputs["functionResponseTypes"] == ["ReportBatchItemFailures"]
    assert inputs["bisectBatchOnFunctionError"] is True
    assert 0 <= inputs["maximumRetryAttempts"] <= 10000 and inputs["maximumRecordAgeInSeconds"] > 0
    assert inputs["destinationConfig"]["onFailure"]["destinationArn"].endswith(":changetrail-dev-stream-failures")
    assert (inputs["batchSize"], inputs["maximumBatchingWindowInSeconds"], inputs["parallelizationFactor"]) == (100, 1, 1)
    assert "filterCriteria" not in inputs


def test_queues_take_1_mib_messages_are_encrypted_and_tls_only(program):
    queues = program.of_type("aws:sqs/queue:Queue")
    assert {q.inputs["name"] for q in queues} == {"changetrail-dev-dlq", "changetrail-dev-stream-failures"}
    for queue in queues:
        assert queue.inputs["maxMessageSize"] == 1048576 and queue.inputs["sqsManagedSseEnabled"] is True
    for policy in program.of_type("aws:sqs/queuePolicy:QueuePolicy"):
        (statement,) = json.loads(policy.inputs["policy"])["Statement"]
        assert statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_archive_bucket_is_private_versioned_encrypted_and_in_the_archive_account(program):
    archive_resources = [r for r in program.resources if r.name.startswith("archive-") and r.typ.startswith("aws:")]
    assert archive_resources and all("archive-account" in r.provider for r in archive_resources)
    bucket = "archive-archive"
    assert (
        program.one("aws:s3/bucketVersioning:BucketVersioning", bucket).inputs["versioningConfiguration"]["status"] == "Enabled"
    )
    block = program.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", bucket).inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    ownership = program.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls", bucket).inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    encryption = program.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", bucket)
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    (tls,) = json.loads(program.one("aws:s3/bucketPolicy:BucketPolicy", bucket).inputs["policy"])["Statement"]
    assert tls["Effect"] == "Deny" and tls["Condition"]["Bool"]["aws:SecureTransport"] == "false"
    lifecycle = program.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", bucket).inputs["rules"][0]
    assert [t["storageClass"] for t in lifecycle["transitions"]] == ["STANDARD_IA", "GLACIER_IR"]
    provider = program.one("pulumi:providers:aws", "archive-account")
    assert ARCHIVE in provider.inputs["assumeRoles"] and ARCHIVE in provider.inputs["allowedAccountIds"]


def test_archive_writer_trusts_only_the_state_machine_role(program):
    writer = program.one("aws:iam/role:Role", "archive-writer-role")
    (statement,) = json.loads(writer.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert statement["Condition"] == {"ArnEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/changetrail-dev-workflow"}}
    workflow_role = program.one("aws:iam/role:Role", "workflow-role")
    assert workflow_role.inputs["name"] == "changetrail-dev-workflow"


def test_outputs_name_every_resource_an_operator_needs(program):
    expected = {
        "stack", "region", "pipeline_account_id", "source_table_name", "source_stream_arn", "audit_table_name",
        "audit_history_index", "trigger_function_name", "event_source_mapping_uuid", "stream_failures_queue_url",
        "state_machine_arn", "state_machine_name", "log_group_name", "dlq_url", "payload_bucket_name", "topic_arn",
        "archive_bucket_name", "archive_role_arn", "archive_reader_role_arn", "archive_account_id", "archive_prefix",
        "source_table_arn", "audit_table_arn", "stream_failures_queue_arn", "dlq_arn", "payload_bucket_arn",
        "archive_bucket_arn", "trigger_function_arn",
    }  # fmt: skip
    assert expected <= set(program.outputs)
    assert all(program.outputs[key] not in (None, "") for key in expected)


# -- least privilege ---------------------------------------------------------------------
STAR_ALLOWED = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
    "xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
    "dynamodb:ListStreams",
}  # fmt: skip


def allowed(program: Program) -> dict[str, dict[str, set[str]]]:
    """Role -> action -> the only resources it may have."""
    o = program.outputs
    functions = {r.name: r.outputs for r in program.of_type("aws:lambda/function:Function")}
    log_groups = {r.name: r.outputs["arn"] for r in program.of_type("aws:cloudwatch/logGroup:LogGroup")}
    payloads = program.one("aws:s3/bucket:Bucket", "payloads").outputs["arn"] + "/payloads/*"
    archive = program.one("aws:s3/bucket:Bucket", "archive-archive").outputs["arn"]
    audit = program.one("aws:dynamodb/table:Table", "audit").outputs["arn"]
    queue_arn = {q.inputs["name"]: q.outputs["arn"] for q in program.of_type("aws:sqs/queue:Queue")}

    def own_logs(component: str) -> dict[str, set[str]]:
        arn = log_groups[f"{component}-logs"] + ":*"
        return {
            "logs:CreateLogStream": {arn},
            "logs:PutLogEvents": {arn},
            "xray:PutTraceSegments": {"*"},
            "xray:PutTelemetryRecords": {"*"},
        }

    star = {action: {"*"} for action in STAR_ALLOWED if not action.startswith("dynamodb")}
    return {
        "trigger-producer-role": {
            **own_logs("trigger-producer"),
            "dynamodb:DescribeStream": {o["source_stream_arn"]},
            "dynamodb:GetRecords": {o["source_stream_arn"]},
            "dynamodb:GetShardIterator": {o["source_stream_arn"]},
            "dynamodb:ListStreams": {"*"},
            "states:StartExecution": {o["state_machine_arn"]},
            "s3:PutObject": {payloads},
            "sqs:SendMessage": {queue_arn["changetrail-dev-stream-failures"]},
        },
        "workflow-decode-role": {**own_logs("workflow-decode"), "s3:GetObject": {payloads}},
        "workflow-diff-role": own_logs("workflow-diff"),
        "workflow-role": {
            **star,
            "lambda:InvokeFunction": {functions["workflow-decode-function"]["arn"], functions["workflow-diff-function"]["arn"]},
            "dynamodb:PutItem": {audit},
            "sts:AssumeRole": {o["archive_role_arn"]},
            "sns:Publish": {o["topic_arn"]},
            "sqs:SendMessage": {queue_arn["changetrail-dev-dlq"]},
        },
        "archive-writer-role": {"s3:PutObject": {f"{archive}/ddb-changes/*"}},
        "archive-reader-role": {"s3:GetObject": {f"{archive}/ddb-changes/*"}, "s3:ListBucket": {archive}},
    }


def granted(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        for action in actions:
            result.setdefault(action, set()).update(resources)
    return result


def test_every_role_has_exactly_the_actions_and_resources_it_needs(program):
    policies = program.policies()
    expected = allowed(program)
    assert set(policies) == set(expected)
    for role, statements in policies.items():
        assert granted(statements) == expected[role], role


def test_no_action_has_a_wildcard_and_star_resources_are_only_where_aws_offers_nothing_narrower(program):
    for role, statements in program.policies().items():
        for action, resources in granted(statements).items():
            assert "*" not in action, (role, action)
            if "*" in resources:
                assert action in STAR_ALLOWED, (role, action)


def test_the_archive_reader_may_list_only_the_archive_prefix(program):
    statements = program.policies()["archive-reader-role"]
    listing = next(s for s in statements if s["Action"] == ["s3:ListBucket"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["ddb-changes/*"]}}


def test_lambda_and_state_machine_roles_trust_only_their_service(program):
    for role in program.of_type("aws:iam/role:Role"):
        (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        if role.name.startswith(("trigger", "workflow-decode", "workflow-diff")):
            assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
        if role.name == "workflow-role":
            assert statement["Principal"] == {"Service": "states.amazonaws.com"}
            assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


# -- variants and config -----------------------------------------------------------------
def test_an_external_archive_target_is_referenced_not_created():
    program = Program({"changetrail:archive": {"create": False}})
    assert not [r for r in program.resources if r.name.startswith("archive")]
    assert program.outputs["archive_role_arn"] == f"arn:aws:iam::{ARCHIVE}:role/changetrail-dev-archive-writer"
    assert program.outputs["archive_bucket_name"] == f"changetrail-archive-dev-{ARCHIVE}"


def test_the_archive_target_stack_creates_only_the_archive_side():
    program = Program(
        {"changetrail:deployment": "archive-target", "changetrail:pipeline": {"accountId": "333333333333", "stack": "prod"}}
    )
    kinds = {r.typ for r in program.resources if r.typ.startswith("aws:")}
    assert {k for k in kinds if not k.startswith("aws:s3/")} == {"aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy"}
    writer = program.one("aws:iam/role:Role", "writer")
    condition = json.loads(writer.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]
    assert condition == {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::333333333333:role/changetrail-prod-workflow"}}
    assert set(program.outputs) == {"archive_bucket_name", "archive_role_arn", "archive_reader_role_arn", "archive_account_id"}


def test_overrides_reach_the_resources_and_filters_become_filter_criteria():
    program = Program({"changetrail:trigger": {"batchSize": 7, "filterPatterns": ['{"eventName": ["REMOVE"]}']}})
    inputs = program.one("aws:lambda/eventSourceMapping:EventSourceMapping").inputs
    assert inputs["batchSize"] == 7
    assert inputs["filterCriteria"] == {"filters": [{"pattern": '{"eventName": ["REMOVE"]}'}]}


def test_email_subscriptions_follow_config():
    program = Program({"changetrail:notifications": {"emails": ["a@example.com", "b@example.com"]}})
    subscriptions = program.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s.inputs["endpoint"] for s in subscriptions) == ["a@example.com", "b@example.com"]
    assert all(s.inputs["protocol"] == "email" for s in subscriptions)


def test_a_broken_config_fails_the_program_naming_the_key():
    with pytest.raises(ConfigError, match=r"^changetrail:trigger\.batchSize must be an integer"):
        Program({"changetrail:trigger": {"batchSize": 0}})


def settings(overrides: dict[str, Any]) -> Any:
    base = {"archive": {"accountId": ARCHIVE, "deployRoleArn": f"arn:aws:iam::{ARCHIVE}:role/deploy"}}
    merged = merge(base, overrides)
    return load_settings(merged.get, "dev", REGION)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"trigger": {"batchSize": "abc"}},
            r"changetrail:trigger\.batchSize must be an integer from 1 to 10000, got 'abc'; fix: ",
        ),
        ({"trigger": {"parallelizationFactor": 11}}, r"changetrail:trigger\.parallelizationFactor .* 1 to 10"),
        ({"trigger": {"batchsize": 5}}, r"changetrail:trigger\.batchsize is not a setting; known settings: "),
        (
            {"trigger": {"filterPatterns": ["{not json"]}},
            r"changetrail:trigger\.filterPatterns .* fix: give a list of JSON strings",
        ),
        ({"archive": {"accountId": "12"}}, r"changetrail:archive\.accountId is '12'; fix: give the 12-digit id"),
        ({"archive": {"deployRoleArn": None}}, r"changetrail:archive\.deployRoleArn is required when archive\.create is true"),
        ({"archive": {"region": "eu-west-1"}}, r"changetrail:archive\.region is eu-west-1 but the stack deploys to us-east-1"),
        (
            {"notifications": {"mode": "sometimes"}},
            r"changetrail:notifications\.mode is 'sometimes'; fix: use one of change, batch, off",
        ),
        ({"notifications": {"emails": ["not-an-address"]}}, r"changetrail:notifications\.emails .* fix: list e-mail addresses"),
        ({"source": {"create": False}}, r"changetrail:source\.streamArn is required when create is false"),
        (
            {"workflow": {"logRetentionDays": 2}},
            r"changetrail:workflow\.logRetentionDays is 2, which CloudWatch Logs does not offer",
        ),
        ({"deployment": "both"}, r"changetrail:deployment is 'both'; fix: use pipeline or archive-target"),
    ],
)
def test_wrong_values_fail_with_the_key_and_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message):
        settings(overrides)


def test_defaults_reproduce_the_seed_names():
    s = settings({})
    assert (s.source.table_name, s.source.hash_key, s.audit.table_name, s.trigger.function_name) == (
        "Configuration", "key", "Audit", "audit_producer",
    )  # fmt: skip
    assert s.trigger.maximum_retry_attempts >= 0 and s.workflow.log_level == "ALL"


def test_an_existing_stream_must_carry_both_images():
    from components.source_table import check_view_type

    with pytest.raises(ValueError, match="needs NEW_AND_OLD_IMAGES: aws dynamodb update-table --table-name T"):
        check_view_type("T", "KEYS_ONLY")
    assert check_view_type("T", "NEW_AND_OLD_IMAGES") == "NEW_AND_OLD_IMAGES"
