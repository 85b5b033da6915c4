"""The resource graph for one and for three source tables, and the upgrade from ``source`` to ``sources``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from tests.infra.conftest import DEV_CONFIG, PIPELINE_ACCOUNT, REMOVE, RecordingMocks, Run, run

LEGACY_STREAM = f"arn:aws:dynamodb:us-east-1:{PIPELINE_ACCOUNT}:table/Legacy/stream/2023-05-01T00:00:00.000"
THREE_SOURCES = {
    "changetrail:source": REMOVE,
    "changetrail:sources": [
        {"tableName": "Configuration", "hashKey": "key", "ignoreAttributes": ["updatedAt"]},
        {"tableName": "Orders", "hashKey": "tenant", "rangeKey": "id", "auditAttributes": ["status"]},
        {"tableName": "Legacy", "hashKey": "key", "create": False, "streamArn": LEGACY_STREAM},
    ],
}
TABLE = "aws:dynamodb/table:Table"
MAPPING = "aws:lambda/eventSourceMapping:EventSourceMapping"
FUNCTION = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"


@pytest.fixture(scope="module")
def three() -> Run:
    tables = {"Legacy": {"streamViewType": "NEW_AND_OLD_IMAGES", "streamArn": LEGACY_STREAM}}
    return run(THREE_SOURCES, RecordingMocks(tables=tables))


def test_given_source_as_a_list_of_one_when_deployed_then_every_resource_keeps_its_urn_and_inputs(dev):
    as_list = run({"changetrail:source": REMOVE, "changetrail:sources": [DEV_CONFIG["changetrail:source"]]})

    assert sorted(r.urn for r in as_list.resources) == sorted(r.urn for r in dev.resources), "nothing renamed: no replacement"
    before = {r.urn: comparable(r.inputs) for r in dev.resources}
    assert [r.urn for r in as_list.resources if comparable(r.inputs) != before[r.urn]] == [], "nothing changed"
    assert as_list.outputs == dev.outputs


def test_given_three_sources_then_one_pipeline_serves_a_trigger_mapping_and_failure_queue_for_each(three, dev):
    assert sorted(r.inputs["name"] for r in three.of_type(TABLE)) == ["Audit", "Configuration", "Orders"], "Legacy is attached"
    assert len(three.of_type("aws:sfn/stateMachine:StateMachine")) == 1
    assert len(three.of_type("aws:sns/topic:Topic")) == len(dev.of_type("aws:sns/topic:Topic"))
    mappings = three.of_type(MAPPING)
    assert len(mappings) == 3
    streams = sorted(m.inputs["eventSourceArn"] for m in mappings)
    assert streams == sorted(
        [three.named("source-table").outputs["streamArn"], three.named("source-Orders-table").outputs["streamArn"], LEGACY_STREAM]
    )
    names = {r.inputs["name"] for r in three.of_type(FUNCTION)}
    assert {"audit_producer", "changetrail-dev-trigger-Orders", "changetrail-dev-trigger-Legacy"} <= names
    queues = {r.inputs["name"] for r in three.of_type(QUEUE)}
    assert {
        "changetrail-dev-stream-failures",
        "changetrail-dev-Orders-stream-failures",
        "changetrail-dev-Legacy-stream-failures",
    } <= queues
    extra = {r.typ for r in three.resources} - {r.typ for r in dev.resources}
    assert extra == set(), "a source adds more of the same kinds of resource, nothing new"


def test_given_three_sources_then_the_outputs_list_each_and_keep_the_first_as_the_single_source_keys(three):
    sources = three.outputs["sources"]
    assert [s["table_name"] for s in sources] == ["Configuration", "Orders", "Legacy"]
    first = sources[0]
    assert first["table_name"] == three.outputs["source_table_name"]
    assert first["stream_arn"] == three.outputs["source_stream_arn"]
    assert first["trigger_function_name"] == three.outputs["trigger_function_name"]
    assert first["stream_failures_queue_url"] == three.outputs["stream_failures_queue_url"]
    assert sources[2]["stream_arn"] == LEGACY_STREAM
    assert all(s["event_source_mapping_uuid"] and s["table_arn"] for s in sources)


def test_given_three_sources_then_each_trigger_may_read_only_its_own_stream_and_write_only_its_own_queue(three):
    policies = three.role_policies()
    functions = {f.outputs["arn"]: f for f in three.of_type(FUNCTION)}
    roles = {r.outputs["arn"]: r.name for r in three.of_type("aws:iam/role:Role")}
    for mapping in three.of_type(MAPPING):
        function = functions[mapping.inputs["functionName"]]
        statements = policies[roles[function.inputs["role"]]]
        stream_resources = {
            resource
            for s in statements
            if any(a.startswith("dynamodb:") and a != "dynamodb:ListStreams" for a in _list(s["Action"]))
            for resource in _list(s["Resource"])
        }
        assert stream_resources == {mapping.inputs["eventSourceArn"]}, function.inputs["name"]
        sent_to = {resource for s in statements if "sqs:SendMessage" in _list(s["Action"]) for resource in _list(s["Resource"])}
        assert sent_to == {mapping.inputs["destinationConfig"]["onFailure"]["destinationArn"]}, function.inputs["name"]


def test_given_three_sources_then_decode_knows_each_tables_keys_and_diff_each_tables_rules(three):
    variables = {f.inputs["name"]: f.inputs["environment"]["variables"] for f in three.of_type(FUNCTION)}
    assert json.loads(variables["changetrail-dev-decode"]["SOURCE_KEYS"]) == {
        "Configuration": ["key"],
        "Orders": ["tenant", "id"],
        "Legacy": ["key"],
    }
    assert json.loads(variables["changetrail-dev-diff"]["ATTRIBUTE_RULES"]) == {
        "Configuration": {"ignore": ["updatedAt"], "audit": []},
        "Orders": {"ignore": [], "audit": ["status"]},
    }


def comparable(value: Any) -> Any:
    """Inputs with code archives as the files they hold (archives have no equality of their own)."""
    if isinstance(value, pulumi.AssetArchive):
        return {name: comparable(asset) for name, asset in value.assets.items()}
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return value.path
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [comparable(item) for item in value]
    return value


def _list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_given_tables_whose_names_differ_only_in_characters_names_cannot_hold_then_their_resources_stay_apart():
    tables = ["Configuration", "orders.v2", "orders-v2"]
    program = run({"changetrail:source": REMOVE, "changetrail:sources": [{"tableName": t, "hashKey": "key"} for t in tables]})

    functions = [source["trigger_function_name"] for source in program.outputs["sources"]]
    queues = [source["stream_failures_queue_url"] for source in program.outputs["sources"]]
    assert len(set(functions)) == len(set(queues)) == 3, (functions, queues)
    assert len({r.urn for r in program.resources}) == len(program.resources)


BEFORE = json.loads((Path(__file__).parent / "data" / "urns-before-per-source-components.json").read_text())
"""Every resource's URN (and name) as the program declared it before each source had a component of its own,
recorded with that program (commit 95a7d52) under the same mocks: what deployed stacks hold."""


@pytest.mark.parametrize(
    ("variant", "recorded"), [("dev", "one source (Pulumi.dev.yaml)"), ("three", "three sources (tests/infra/test_sources.py)")]
)
def test_given_a_stack_deployed_before_sources_had_components_then_each_resource_is_its_former_self_by_urn_or_alias(
    variant, recorded, request
):
    program: Run = request.getfixturevalue(variant)
    before = BEFORE[recorded]
    former = program.former_urns()
    claimed = {old: [new for new, urns in former.items() if old in urns] for old in before}

    assert {old: new for old, new in claimed.items() if len(new) != 1} == {}, "each former resource is exactly one now"
    by_urn = {r.urn: r for r in program.resources}
    renamed = {
        old: by_urn[new].inputs.get("name") or by_urn[new].inputs.get("dashboardName") or ""
        for old, (new,) in claimed.items()
        if (by_urn[new].inputs.get("name") or by_urn[new].inputs.get("dashboardName") or "") != before[old]
    }
    assert renamed == {}, "and keeps its AWS name"
    moved = [old for old in before if old not in former.get(old, set())]
    assert moved, "the aliases are what keeps them: some URNs did change"
