"""Pulumi mock fixtures: run ``__main__.py`` under an in-memory recording mock and inspect what it declared.

``RecordingMocks`` answers like AWS would (ARNs, stream ARNs, queue URLs, autonames) so nothing
resolves to None and silently becomes ``null`` in a rendered document, and remembers every
resource with its inputs, provider and parent. ``deploy(overrides)`` runs the program once per
distinct set of overrides (runs are shared across the session); ``dev`` is the plain dev stack.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pulumi
import pytest
from google.protobuf.json_format import MessageToDict
from pulumi.runtime.mocks import MockMonitor

from changetrail.embedded.program import run_program
from changetrail.stack_config import stack_config

STACK = "dev"
PROJECT = "changetrail"
STACK_TYPE = "pulumi:pulumi:Stack"
PIPELINE_ACCOUNT = "111111111111"
REGION = "us-east-1"
DEV_CONFIG = stack_config(STACK)
ARCHIVE_ACCOUNT = DEV_CONFIG["changetrail:archive"]["accountId"]
REMOVE = object()
"""An override value that deletes the key (a whole ``changetrail:<section>`` or one setting in it)."""


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Stack config with overrides: object-valued keys merge one level deep; ``REMOVE`` deletes."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is REMOVE:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            section = {**merged[key], **value}
            merged[key] = {k: v for k, v in section.items() if v is not REMOVE}
        else:
            merged[key] = value
    return merged


@dataclass
class Recorded:
    """One ``new_resource`` call (components included) and what the mock answered."""

    typ: str
    name: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str
    custom: bool
    provider: str
    """The raw provider reference (``<provider urn>::<id>``); empty for the default provider."""
    account: str
    urn: str = ""
    parent_urn: str = ""
    aliases: list[dict[str, Any]] = field(default_factory=list)
    """The alias specs the program gave (``name``, ``type``, ``parentUrn``, ``noParent``), as the engine receives them."""

    @property
    def provider_name(self) -> str:
        return self.provider.rsplit("::", 1)[0].split("::")[-1] if self.provider else ""

    @property
    def parent_name(self) -> str:
        return self.parent_urn.split("::")[-1] if self.parent_urn else ""

    @property
    def parent_type(self) -> str:
        return self.parent_urn.split("::")[2].split("$")[-1] if self.parent_urn else ""


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _account_of_provider(inputs: dict[str, Any]) -> str:
    """The account a provider deploys into: its allowed account, else the assumed role's account."""
    allowed = inputs.get("allowedAccountIds")
    allowed = json.loads(allowed) if isinstance(allowed, str) else allowed
    if allowed:
        return allowed[0]
    roles = inputs.get("assumeRoles")
    roles = json.loads(roles) if isinstance(roles, str) else roles
    if roles and roles[0].get("roleArn"):
        return roles[0]["roleArn"].split(":")[4]
    return PIPELINE_ACCOUNT


class RecordingMocks(pulumi.runtime.Mocks):
    """In-memory mocks that fill every provider-computed output and record every resource."""

    def __init__(self, tables: dict[str, dict[str, Any]] | None = None) -> None:
        self.resources: list[Recorded] = []
        self.calls: list[pulumi.runtime.MockCallArgs] = []
        self.tables = tables or {}
        """Existing tables for ``aws:dynamodb/getTable``: name -> {streamViewType, streamArn}."""
        self._provider_accounts: dict[str, tuple[str, str]] = {}
        """Provider logical name -> (account, region) it deploys into."""

    def _placement(self, provider: str | None) -> tuple[str, str]:
        if not provider:
            return PIPELINE_ACCOUNT, REGION
        name = provider.rsplit("::", 1)[0].split("::")[-1]
        return self._provider_accounts.get(name, (PIPELINE_ACCOUNT, REGION))

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = dict(args.inputs)
        account, region = self._placement(args.provider)
        if args.typ.startswith("pulumi:providers:"):
            self._provider_accounts[args.name] = (_account_of_provider(inputs), inputs.get("region") or REGION)
            resource_id, outputs = f"{args.name}-provider-id", inputs
        elif not args.custom:
            resource_id, outputs = "", {}
        else:
            resource_id, outputs = self._computed(args.typ, args.name, inputs, account, region)
        self.resources.append(
            Recorded(args.typ, args.name, inputs, outputs, resource_id, bool(args.custom), args.provider or "", account)
        )
        return resource_id, outputs

    @staticmethod
    def _computed(typ: str, logical: str, inputs: dict[str, Any], a: str, r: str) -> tuple[str, dict[str, Any]]:
        """(id, outputs) as the AWS provider would return them, for the types the program uses."""
        name = inputs.get("name") or f"{logical}-{_digest(typ, logical)[:7]}"
        out: dict[str, Any] = {**inputs, "name": name}
        stable = str(uuid.UUID(_digest(typ, logical)[:32]))
        if typ == "aws:dynamodb/table:Table":
            out["arn"] = f"arn:aws:dynamodb:{r}:{a}:table/{name}"
            if inputs.get("streamEnabled"):
                out["streamArn"] = f"{out['arn']}/stream/2024-01-01T00:00:00.000"
                out["streamLabel"] = "2024-01-01T00:00:00.000"
            return name, out
        if typ == "aws:sqs/queue:Queue":
            out["arn"] = f"arn:aws:sqs:{r}:{a}:{name}"
            out["url"] = f"https://sqs.{r}.amazonaws.com/{a}/{name}"
            return out["url"], out
        if typ == "aws:sns/topic:Topic":
            out["arn"] = f"arn:aws:sns:{r}:{a}:{name}"
            return out["arn"], out
        if typ == "aws:sns/topicSubscription:TopicSubscription":
            out["arn"] = f"{inputs['topic']}:{stable}"
            return out["arn"], out
        if typ == "aws:iam/role:Role":
            out["arn"] = f"arn:aws:iam::{a}:role/{name}"
            out["uniqueId"] = f"AROA{_digest(name)[:17].upper()}"
            return name, out
        if typ == "aws:iam/rolePolicy:RolePolicy":
            return f"{inputs['role']}:{name}", out
        if typ == "aws:lambda/function:Function":
            out["arn"] = f"arn:aws:lambda:{r}:{a}:function:{name}"
            out["qualifiedArn"] = f"{out['arn']}:$LATEST"
            out["invokeArn"] = f"arn:aws:apigateway:{r}:lambda:path/2015-03-31/functions/{out['arn']}/invocations"
            out["version"] = "$LATEST"
            return name, out
        if typ == "aws:lambda/eventSourceMapping:EventSourceMapping":
            out["uuid"] = stable
            out["arn"] = f"arn:aws:lambda:{r}:{a}:event-source-mapping:{stable}"
            out["state"] = "Enabled"
            return stable, out
        if typ == "aws:sfn/stateMachine:StateMachine":
            out["arn"] = f"arn:aws:states:{r}:{a}:stateMachine:{name}"
            return out["arn"], out
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            out["arn"] = f"arn:aws:logs:{r}:{a}:log-group:{name}"
            return name, out
        if typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            out["arn"] = f"arn:aws:cloudwatch:{r}:{a}:alarm:{name}"
            return name, out
        if typ == "aws:cloudwatch/dashboard:Dashboard":
            out["dashboardArn"] = f"arn:aws:cloudwatch::{a}:dashboard/{inputs['dashboardName']}"
            return inputs["dashboardName"], out
        if typ == "aws:kms/key:Key":
            out["keyId"] = stable
            out["arn"] = f"arn:aws:kms:{r}:{a}:key/{stable}"
            return stable, out
        if typ == "aws:kms/alias:Alias":
            out["arn"] = f"arn:aws:kms:{r}:{a}:{name}"
            return name, out
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{logical}-{_digest(typ, logical)[:7]}"
            out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}", bucketDomainName=f"{bucket}.s3.amazonaws.com", region=r)
            return bucket, out
        if typ.startswith("aws:s3/"):
            return inputs.get("bucket") or name, out
        service = typ.split(":")[1].split("/")[0]
        out["arn"] = f"arn:aws:{service}:{r}:{a}:{name}"
        return name, out

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        self.calls.append(args)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": PIPELINE_ACCOUNT,
                "arn": f"arn:aws:iam::{PIPELINE_ACCOUNT}:user/ci",
                "userId": "AIDACI",
                "id": PIPELINE_ACCOUNT,
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": REGION, "region": REGION, "id": REGION, "description": "US East (N. Virginia)"}, []
        if args.token == "aws:dynamodb/getTable:getTable" and args.args.get("name") in self.tables:
            name = args.args["name"]
            table = self.tables[name]
            return {
                "name": name,
                "id": name,
                "arn": f"arn:aws:dynamodb:{REGION}:{PIPELINE_ACCOUNT}:table/{name}",
                "streamEnabled": table.get("streamViewType") is not None,
                **table,
            }, []
        return {}, []


class Run(NamedTuple):
    """What one program run declared (``resources``, in registration order) and exported (``outputs``)."""

    resources: list[Recorded]
    outputs: dict[str, Any]

    def of_type(self, typ: str) -> list[Recorded]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Recorded:
        (found,) = [r for r in self.resources if r.name == name]
        return found

    def one(self, typ: str, name: str | None = None) -> Recorded:
        """The single resource of ``typ`` (named ``name``, if given)."""
        found = [r for r in self.of_type(typ) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {typ} {name or ''}, found {[r.name for r in found]}"
        return found[0]

    def attached_to(self, typ: str, resource: Recorded, field: str = "bucket") -> Recorded:
        """The single ``typ`` resource whose ``field`` input is ``resource``'s id (e.g. a bucket's policy)."""
        found = [r for r in self.of_type(typ) if r.inputs.get(field) == resource.id]
        assert len(found) == 1, f"expected one {typ} for {resource.name}, found {[r.name for r in found]}"
        return found[0]

    def former_urns(self) -> dict[str, set[str]]:
        """URN -> every URN the engine would take the resource to have had: its own, its aliases' and those its
        parents' aliases imply (the engine's rules: a spec's unset fields are the resource's own; a child whose name
        starts with its parent's is renamed with it)."""
        by_urn = {r.urn: r for r in self.resources}
        known: dict[str, set[str]] = {}

        def aliases_of(urn: str) -> set[str]:
            if urn in known:
                return known[urn]
            resource = by_urn.get(urn)
            if resource is None:  # the stack itself
                return set()
            own = set()
            for spec in resource.aliases:
                if spec.get("urn"):
                    own.add(spec["urn"])
                    continue
                parent = "" if spec.get("noParent") else spec.get("parentUrn") or resource.parent_urn
                own.add(engine_urn(parent, spec.get("type") or resource.typ, spec.get("name") or resource.name))
            inherited = set()
            parent = by_urn.get(resource.parent_urn)
            for parent_alias in aliases_of(resource.parent_urn):
                for name in {resource.name, *(alias.rsplit("::", 1)[-1] for alias in own)}:
                    if parent is not None and name.startswith(parent.name):
                        name = parent_alias.rsplit("::", 1)[-1] + name[len(parent.name) :]
                    inherited.add(engine_urn(parent_alias, resource.typ, name))
            known[urn] = own | inherited
            return known[urn]

        return {r.urn: {r.urn, *aliases_of(r.urn)} for r in self.resources}

    def role_policies(self) -> dict[str, list[dict[str, Any]]]:
        """Role logical name -> the statements of its inline policies, parsed."""
        roles = {r.id: r.name for r in self.of_type("aws:iam/role:Role")}
        policies: dict[str, list[dict[str, Any]]] = {}
        for policy in self.of_type("aws:iam/rolePolicy:RolePolicy"):
            document = json.loads(policy.inputs["policy"])
            assert document["Version"] == "2012-10-17", policy.name
            policies.setdefault(roles[policy.inputs["role"]], []).extend(document["Statement"])
        return policies


def engine_urn(parent_urn: str, typ: str, name: str) -> str:
    """A URN as the Pulumi engine makes it: the parent's whole type chain, the stack's children without one.

    (The mock monitor keeps only the parent's own type, so a component moved under another would keep its
    grandchildren's URNs there, and a test of aliases would pass that fails on ``pulumi up``.)"""
    chain = parent_urn.split("::")[2] if parent_urn else ""
    if chain and chain != STACK_TYPE:
        typ = f"{chain}${typ}"
    return f"urn:pulumi:{STACK}::{PROJECT}::{typ}::{name}"


def run(overrides: dict[str, Any] | None = None, mocks: RecordingMocks | None = None) -> Run:
    """Run ``__main__.py`` for the dev stack with ``overrides`` under ``mocks``; raise what the program raises."""
    mocks = mocks or RecordingMocks()
    parents: dict[str, str] = {}
    aliases: dict[str, list[dict[str, Any]]] = {}
    register = MockMonitor.RegisterResource

    def recording_make_urn(monitor: MockMonitor, parent: str, type_: str, name: str) -> str:
        urn = engine_urn(parent, type_, name)
        parents[urn] = parent
        return urn

    def recording_register(monitor: MockMonitor, request: Any) -> Any:
        urn = engine_urn(request.parent, request.type, request.name)
        aliases[urn] = [MessageToDict(alias.spec) if alias.HasField("spec") else {"urn": alias.urn} for alias in request.aliases]
        return register(monitor, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MockMonitor, "make_urn", recording_make_urn)
        patch.setattr(MockMonitor, "RegisterResource", recording_register)
        outputs = run_program(mocks, STACK, with_overrides(DEV_CONFIG, overrides or {}))
    by_key = {(urn.split("::")[2].split("$")[-1], urn.split("::")[-1]): urn for urn in parents}
    for resource in mocks.resources:
        resource.urn = by_key[(resource.typ, resource.name)]
        resource.parent_urn = parents[resource.urn]
        resource.aliases = aliases.get(resource.urn, [])
    return Run(mocks.resources, outputs)


@pytest.fixture(scope="session")
def deploy() -> Iterator[Callable[[dict[str, Any] | None], Run]]:
    """Factory: ``deploy(overrides)`` -> Run; one program run per distinct set of overrides, shared."""
    runs: dict[str, Run] = {}

    def get(overrides: dict[str, Any] | None = None) -> Run:
        key = json.dumps(overrides or {}, sort_keys=True, default=lambda value: "<REMOVE>")
        if key not in runs:
            runs[key] = run(overrides)
        return runs[key]

    yield get


@pytest.fixture(scope="session")
def dev(deploy: Callable[[dict[str, Any] | None], Run]) -> Run:
    """The dev stack exactly as ``Pulumi.dev.yaml`` configures it."""
    return deploy(None)
