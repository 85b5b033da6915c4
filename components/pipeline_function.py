"""One Lambda function of the pipeline with its own role, log group and least-privilege policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import LambdaConfig
from components.iam import allow, policy_document, service_trust

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
POWERTOOLS_LAYER_VERSION = 27
"""AWS's public Powertools for Python v3 layer; see the README's config reference to pin another."""


def function_code() -> pulumi.AssetArchive:
    """The ``functions`` package, so handlers are ``functions.<module>.handler`` here and in AWS."""
    return pulumi.AssetArchive(
        {f"functions/{path.name}": pulumi.FileAsset(str(path)) for path in sorted(FUNCTIONS_DIR.glob("*.py"))}
    )


def powertools_layer(config: LambdaConfig, region: str) -> str:
    if config.powertools_layer_arn:
        return config.powertools_layer_arn
    runtime = config.runtime.replace(".", "")
    return (
        f"arn:aws:lambda:{region}:017000801446:layer:"
        f"AWSLambdaPowertoolsPythonV3-{runtime}-{config.architecture}:{POWERTOOLS_LAYER_VERSION}"
    )


@dataclass(frozen=True)
class FunctionDefaults:
    """What every function of a stack shares: runtime and layer, region, logs, tracing, the key of its log group."""

    lambdas: LambdaConfig
    region: str
    log_retention_days: int
    tracing: bool
    kms_key_arn: pulumi.Input[str]
    """Encrypts each function's log group."""


@dataclass(frozen=True)
class PipelineFunctionArgs:
    defaults: FunctionDefaults
    function_name: str
    handler: str
    description: str
    memory_size: int
    timeout: int = 60
    environment: dict[str, pulumi.Input[str]] = field(default_factory=dict)
    statements: list[dict[str, Any]] = field(default_factory=list)
    """What the function itself may do, beyond writing its own logs (and traces)."""


class PipelineFunction(pulumi.ComponentResource):
    function: aws.lambda_.Function
    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: PipelineFunctionArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("changetrail:functions:PipelineFunction", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        defaults = args.defaults
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{args.function_name}",
            retention_in_days=defaults.log_retention_days,
            kms_key_id=defaults.kms_key_arn,
            opts=child,
        )
        role = aws.iam.Role(f"{name}-role", assume_role_policy=service_trust("lambda.amazonaws.com"), opts=child)
        statements = [
            allow("WriteOwnLogs", ["logs:CreateLogStream", "logs:PutLogEvents"], [pulumi.Output.concat(log_group.arn, ":*")]),
            *args.statements,
        ]
        if defaults.tracing:
            # X-Ray's write actions support no resource-level permissions.
            statements.append(allow("WriteTraces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]))
        policy = aws.iam.RolePolicy(f"{name}-policy", role=role.id, policy=policy_document(statements), opts=child)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=args.function_name,
            description=args.description,
            role=role.arn,
            runtime=defaults.lambdas.runtime,
            architectures=[defaults.lambdas.architecture],
            handler=args.handler,
            code=function_code(),
            layers=[powertools_layer(defaults.lambdas, defaults.region)],
            memory_size=args.memory_size,
            timeout=args.timeout,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={"POWERTOOLS_LOG_LEVEL": "INFO", **args.environment}),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active" if defaults.tracing else "PassThrough"),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        self.arn, self.name, self.role_arn = self.function.arn, self.function.name, role.arn
        self.log_group_name = log_group.name
        self.register_outputs({"arn": self.arn, "name": self.name, "role_arn": self.role_arn})
