"""The cost model: counts come from requests the pipeline really made on the embedded AWS."""

from __future__ import annotations

import pytest

from changetrail import cost

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def measured():
    return cost.report("dev", 120, 1024, {"changetrail:trigger": {"batchSize": 40}})


def test_requests_per_change_reflect_batching(measured):
    per_change = measured["requests_per_change"]
    usage = measured["usage"]
    assert usage["changes"] == 120
    assert per_change["dynamodb"] == 1.0, "120 changes of one attribute each: one audit row each"
    assert usage["executions"] >= 3 and per_change["stepfunctions"] < 0.2, "one execution per chunk, not per change"
    assert per_change["s3"] == per_change["stepfunctions"], "one archive object per execution"
    assert per_change["sns"] == 1.0, "per-change notifications in the dev stack"
    assert usage["lambda_requests"] == usage["executions"] * 2 + 3, "Decode + Diff per execution, one trigger call per batch"


def test_naive_design_costs_more_and_the_total_adds_up(measured):
    assert measured["naive_usd_per_million"] > measured["usd_per_million"] > 0
    assert measured["usd_per_million"] == pytest.approx(sum(measured["usd_per_million_by_service"].values()), abs=1e-3)
    assert measured["naive_requests_per_change"]["stepfunctions"] == 1.0


def test_write_units_follow_dynamodb_item_size_rules():
    assert cost.write_units({"id": {"S": "x" * 1000}}) == 1
    assert cost.write_units({"id": {"S": "x" * 1030}}) == 2
    assert cost.attribute_size({"N": "12345"}) == 4
    assert cost.attribute_size({"M": {"a": {"BOOL": True}}}) == 3 + 1 + 1 + 1
