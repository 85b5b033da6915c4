"""Least privilege: every inline policy statement against an explicit allow-list, and every trust policy."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import ARCHIVE_ACCOUNT, PIPELINE_ACCOUNT, REMOVE, Run

LAMBDA_ROLES = (
    "trigger-producer-role",
    "workflow-decode-role",
    "workflow-diff-role",
    "workflow-write-audit-role",
    "workflow-notify-role",
)
# Step Functions' vended log delivery and X-Ray: AWS documents Resource "*" for these actions.
LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
STATE_MACHINE_TRACES = ("xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets")
FUNCTION_TRACES = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
STAR_RESOURCE_ACTIONS = {*LOG_DELIVERY, *STATE_MACHINE_TRACES, "dynamodb:ListStreams"}
"""The only actions that may name Resource "*": none of them supports a narrower resource."""

VARIANTS = {
    "dev": None,
    "archive prefix": {"changetrail:archive": {"prefix": "changes/v1"}},
    "untraced": {"changetrail:workflow": {"tracing": False}},
    "external archive": {
        "changetrail:archive": {"create": False, "deployRoleArn": REMOVE, "roleName": "acme-archive-writer"},
    },
}


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request, deploy) -> tuple[str, Run]:
    return request.param, deploy(VARIANTS[request.param])


def arn(program: Run, name: str, field: str = "arn") -> str:
    return program.named(name).outputs[field]


def allow_list(variant: str, program: Run) -> dict[str, dict[str, set[str]]]:
    """Role -> action -> exactly the resources it may act on, written out from what each role does."""
    traced = variant != "untraced"
    prefix = "changes/v1" if variant == "archive prefix" else "ddb-changes"
    payload_objects = arn(program, "workflow-payloads-bucket") + "/payloads/*"
    archive_bodies = arn(program, "workflow-payloads-bucket") + "/payloads/archive/*"
    stage_objects = arn(program, "workflow-payloads-bucket") + "/payloads/stages/*"
    stream = arn(program, "source-table", "streamArn")
    stack_key = arn(program, "encryption-key")
    use_stack_key = {"kms:Decrypt": {stack_key}, "kms:GenerateDataKey": {stack_key}}

    def function(component: str, **grants: set[str]) -> dict[str, set[str]]:
        own_logs = arn(program, f"{component}-logs") + ":*"
        traces = {action: {"*"} for action in FUNCTION_TRACES} if traced else {}
        return {"logs:CreateLogStream": {own_logs}, "logs:PutLogEvents": {own_logs}, **traces, **grants}

    expected = {
        "trigger-producer-role": function(
            "trigger-producer",
            **{
                "dynamodb:DescribeStream": {stream},
                "dynamodb:GetRecords": {stream},
                "dynamodb:GetShardIterator": {stream},
                "dynamodb:ListStreams": {"*"},
                "states:StartExecution": {arn(program, "workflow-state-machine")},
                "s3:PutObject": {payload_objects},
                "sqs:SendMessage": {arn(program, "trigger-stream-failures")},
                **use_stack_key,
            },
        ),
        "workflow-decode-role": function(
            "workflow-decode", **{"s3:GetObject": {payload_objects}, "s3:PutObject": {stage_objects}, **use_stack_key}
        ),
        "workflow-diff-role": function(
            "workflow-diff", **{"s3:GetObject": {payload_objects}, "s3:PutObject": {stage_objects}, **use_stack_key}
        ),
        "workflow-write-audit-role": function(
            "workflow-write-audit",
            **{
                # Put only: the writer adds and rewrites audit rows, it can never delete one.
                "dynamodb:PutItem": {arn(program, "audit-table")},
                "dynamodb:BatchWriteItem": {arn(program, "audit-table")},
                "s3:GetObject": {payload_objects},
                "s3:PutObject": {stage_objects, archive_bodies},
                **use_stack_key,
            },
        ),
        "workflow-notify-role": function(
            "workflow-notify",
            **{"sns:Publish": {arn(program, "notifications-topic")}, "s3:GetObject": {stage_objects}, **use_stack_key},
        ),
        "workflow-role": {
            "lambda:InvokeFunction": {
                arn(program, f"workflow-{state}-function") for state in ("decode", "diff", "write-audit", "notify")
            },
            "sts:AssumeRole": {program.outputs["archive_role_arn"]},
            "sqs:SendMessage": {arn(program, "workflow-dlq")},
            "s3:PutObject": {arn(program, "workflow-payloads-bucket") + "/payloads/dead-letters/*"},
            **use_stack_key,
            **{action: {"*"} for action in LOG_DELIVERY},
            **({action: {"*"} for action in STATE_MACHINE_TRACES} if traced else {}),
        },
    }
    if variant == "external archive":
        assert program.outputs["archive_role_arn"] == f"arn:aws:iam::{ARCHIVE_ACCOUNT}:role/acme-archive-writer"
    else:
        bucket = arn(program, "archive-archive-bucket")
        archive_key = arn(program, "archive-encryption-key")
        expected["archive-writer-role"] = {
            "s3:PutObject": {f"{bucket}/{prefix}/*"},
            "kms:GenerateDataKey": {archive_key},
            "s3:GetObject": {archive_bodies},
            # the archive key: S3 decrypts a multipart upload's parts to complete it (the writer has no GetObject there)
            "kms:Decrypt": {f"arn:aws:kms:us-east-1:{PIPELINE_ACCOUNT}:key/*", archive_key},
        }
        expected["archive-reader-role"] = {
            "s3:GetObject": {f"{bucket}/{prefix}/*"},
            "s3:ListBucket": {bucket},
            "kms:Decrypt": {archive_key},
        }
        assert program.outputs["archive_role_arn"] == arn(program, "archive-writer-role")
    return expected


def as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def granted(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Action -> every resource some statement allows it on."""
    result: dict[str, set[str]] = {}
    for statement in statements:
        for action in as_list(statement["Action"]):
            result.setdefault(action, set()).update(as_list(statement["Resource"]))
    return result


def test_every_role_has_exactly_the_actions_and_resources_it_needs(variant):
    name, program = variant
    policies = program.role_policies()
    expected = allow_list(name, program)
    assert set(policies) == set(expected)
    for role, statements in policies.items():
        assert granted(statements) == expected[role], role


def test_statements_only_allow_and_name_actions_and_resources_explicitly(variant):
    _, program = variant
    for role, statements in program.role_policies().items():
        for statement in statements:
            assert statement["Effect"] == "Allow", (role, statement)
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, (role, statement)
            for action in as_list(statement["Action"]):
                assert "*" not in action and "?" not in action, (role, action)
                if "*" in as_list(statement["Resource"]):
                    assert action in STAR_RESOURCE_ACTIONS, (role, action)


def test_nothing_grants_permissions_outside_the_inline_policies(dev):
    assert not dev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert not dev.of_type("aws:iam/policy:Policy")
    for role in dev.of_type("aws:iam/role:Role"):
        assert not role.inputs.get("managedPolicyArns") and not role.inputs.get("inlinePolicies"), role.name
    roles = {role.id for role in dev.of_type("aws:iam/role:Role")}
    assert {policy.inputs["role"] for policy in dev.of_type("aws:iam/rolePolicy:RolePolicy")} == roles


def test_the_archive_reader_may_list_only_the_archive_prefix(dev):
    policies = dev.role_policies()
    (listing,) = [s for s in policies["archive-reader-role"] if "s3:ListBucket" in as_list(s["Action"])]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["ddb-changes/*"]}}
    writes = [s for s in policies["archive-writer-role"] if "s3:PutObject" in as_list(s["Action"])]
    others = [s for statements in policies.values() for s in statements if s is not listing and s not in writes]
    assert not [s for s in others if "Condition" in s and not is_key_use(s)]


def test_the_archive_writer_may_only_create_objects_that_do_not_exist(variant):
    name, program = variant
    if "archive-writer-role" not in program.role_policies():
        pytest.skip(f"{name}: the archive side is another stack's")
    writes = [s for s in program.role_policies()["archive-writer-role"] if "s3:PutObject" in as_list(s["Action"])]
    # Null false: the request carries If-None-Match (S3's conditional-write key). ObjectCreationOperation false: a
    # multipart step (create an upload, upload or copy a part), which creates no object; the completion that does
    # must carry If-None-Match like a PutObject. Nothing else is granted.
    assert [s["Condition"] for s in writes] == [
        {"Null": {"s3:if-none-match": "false"}},
        {"Bool": {"s3:ObjectCreationOperation": "false"}},
    ]
    granted = {a for statements in program.role_policies().values() for s in statements for a in as_list(s["Action"])}
    assert not granted & {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:BypassGovernanceRetention", "s3:PutObjectRetention"}


def is_key_use(statement: dict[str, Any]) -> bool:
    return all(action.startswith("kms:") for action in as_list(statement["Action"]))


# Role -> the services through which it may use a KMS key, and nothing else.
KEY_USE_SERVICES = {
    "trigger-producer-role": {"dynamodb", "s3", "sqs"},
    "workflow-decode-role": {"s3"},
    "workflow-diff-role": {"s3"},
    "workflow-write-audit-role": {"dynamodb", "s3"},
    "workflow-notify-role": {"sns", "s3"},
    "workflow-role": {"s3", "sqs"},
    "archive-writer-role": {"s3"},
    "archive-reader-role": {"s3"},
}


def test_keys_are_used_only_through_the_services_that_need_them(dev):
    seen = {}
    for role, statements in dev.role_policies().items():
        for statement in filter(is_key_use, statements):
            assert set(statement["Condition"]) == {"StringEquals"}, role
            conditions = statement["Condition"]["StringEquals"]
            via = as_list(conditions.pop("kms:ViaService"))
            if role == "archive-writer-role" and statement["Resource"] != [arn(dev, "archive-encryption-key")]:
                # Another account's key, by wildcard: pinned to the one bucket it encrypts.
                assert conditions == {"kms:EncryptionContext:aws:s3:arn": arn(dev, "workflow-payloads-bucket")}, role
            else:
                assert conditions == {}, role
            seen.setdefault(role, set()).update(service.split(".")[0] for service in via)
            assert all(service.endswith(".us-east-1.amazonaws.com") for service in via), role
    assert seen == KEY_USE_SERVICES


# -- trust policies -------------------------------------------------------------------------
def trust(program: Run, role: str) -> dict[str, Any]:
    document = json.loads(program.named(role).inputs["assumeRolePolicy"])
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole", role
    return statement


@pytest.mark.parametrize("role", LAMBDA_ROLES)
def test_function_roles_trust_only_lambda(dev, role):
    statement = trust(dev, role)
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert "Condition" not in statement


def test_the_state_machine_role_trusts_only_step_functions_of_this_account(dev):
    statement = trust(dev, "workflow-role")
    assert statement["Principal"] == {"Service": "states.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": PIPELINE_ACCOUNT}}


def test_the_archive_roles_trust_the_pipeline_account_and_the_writer_only_its_state_machine_role(dev):
    root = {"AWS": f"arn:aws:iam::{PIPELINE_ACCOUNT}:root"}
    writer = trust(dev, "archive-writer-role")
    assert writer["Principal"] == root
    assert writer["Condition"] == {"ArnEquals": {"aws:PrincipalArn": arn(dev, "workflow-role")}}
    assert trust(dev, "archive-reader-role")["Principal"] == root
    for role in ("archive-writer-role", "archive-reader-role"):
        assert dev.named(role).inputs["maxSessionDuration"] == 3600


def test_every_role_is_covered_by_a_trust_check(dev):
    checked = {*LAMBDA_ROLES, "workflow-role", "archive-writer-role", "archive-reader-role"}
    assert {role.name for role in dev.of_type("aws:iam/role:Role")} == checked
