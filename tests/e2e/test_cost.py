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
    assert usage["audit_rows"] == 120 and usage["audit_requests"] <= 120
    assert usage["executions"] >= 3 and per_change["stepfunctions"] < 0.2, "one execution per chunk, not per change"
    assert per_change["s3"] == per_change["stepfunctions"], "one archive object per execution"
    assert usage["sns_messages"] == 120, "per-change notifications in the dev stack"
    assert usage["sns_requests"] == usage["sns_billed_requests"] <= 120 / 10 + usage["executions"], "in batches of 10"
    per_execution = 4  # Decode, Diff, WriteAudit, Notify
    assert usage["lambda_requests"] == usage["executions"] * per_execution + 3, "and one trigger call per batch"


def test_a_quarter_of_the_changes_are_inserts_however_many_rounds_they_take(monkeypatch):
    monkeypatch.setattr(cost, "ROUNDS", 40)  # 120 changes in three rounds, as 1,000 take two at the default

    usage = cost.measure("dev", 120, 256, {"changetrail:notifications": {"mode": "off"}})

    assert usage.inserts == 30 and usage.audit_rows == 120


def test_naive_design_costs_more_and_the_total_adds_up(measured):
    assert measured["naive_usd_per_million"] > measured["usd_per_million"] > 0
    assert measured["usd_per_million"] == pytest.approx(sum(measured["usd_per_million_by_service"].values()), abs=1e-3)
    assert measured["naive_requests_per_change"]["stepfunctions"] == 1.0


def test_write_units_follow_dynamodb_item_size_rules():
    assert cost.write_units({"id": {"S": "x" * 1000}}) == 1
    assert cost.write_units({"id": {"S": "x" * 1030}}) == 2


AUDIT_TABLE = {
    "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "byItem",
            "KeySchema": [
                {"AttributeName": "itemKey", "KeyType": "HASH"},
                {"AttributeName": "historySortKey", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["eventName"]},
        }
    ],
}
ROW = {
    "id": {"S": "i" * 36},
    "itemKey": {"S": "K"},
    "historySortKey": {"S": "t#1"},
    "eventName": {"S": "INSERT"},
    "newValue": {"S": "x" * 1500},
}


def test_a_row_costs_its_table_write_plus_one_write_per_index_sized_by_the_projection():
    assert cost.row_write_units(ROW, AUDIT_TABLE) == 2 + 1, "2 KB row; the index entry holds keys and eventName only"
    projecting_all = {
        **AUDIT_TABLE,
        "GlobalSecondaryIndexes": [{**AUDIT_TABLE["GlobalSecondaryIndexes"][0], "Projection": {"ProjectionType": "ALL"}}],
    }
    assert cost.row_write_units(ROW, projecting_all) == 2 + 2
    keys_only = {
        **AUDIT_TABLE,
        "GlobalSecondaryIndexes": [{**AUDIT_TABLE["GlobalSecondaryIndexes"][0], "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    }
    assert cost.row_write_units({**ROW, "eventName": {"S": "x" * 1000}}, keys_only) == 3 + 1
    without_sort_key = {name: value for name, value in ROW.items() if name != "historySortKey"}
    assert cost.row_write_units(without_sort_key, AUDIT_TABLE) == 2, "a row without the index keys is not in the (sparse) index"


def test_overrides_name_a_section_and_key_and_parse_json_values():
    assert cost.merge_overrides(["notifications.mode=off", "workflow.logLevel=ERROR", "workflow.includeExecutionData=false"]) == {
        "changetrail:notifications": {"mode": "off"},
        "changetrail:workflow": {"logLevel": "ERROR", "includeExecutionData": False},
    }
    with pytest.raises(ValueError, match=r"section\.key=value"):
        cost.parse_override("mode=off")


def test_the_report_keeps_execution_logs_apart_from_the_pipeline(measured):
    by_service = measured["usd_per_million_by_service"]
    assert measured["logs_usd_per_million"] == pytest.approx(by_service["logs"], abs=1e-3)
    assert measured["usage"]["log_bytes"] > 0 and by_service["logs"] > 0, "level ALL logs every execution"
    assert measured["pipeline_usd_per_million"] == pytest.approx(measured["usd_per_million"] - by_service["logs"], abs=1e-3)
    assert measured["settings"] == {
        "notify_mode": "change",
        "log_level": "ALL",
        "include_execution_data": False,
        "batch_size": 40,
        "capacity_mode": "onDemand",
        "target_utilization": None,
        "min_write_capacity": None,
        "read_capacity": None,
    }
    assert measured["goal_usd_per_million"] == 2.00 and measured["meets_goal"] == (measured["usd_per_million"] <= 2.00)
    assert "CloudWatch Logs" in cost.render(measured) and "execution data out" in cost.render(measured)
    assert "DynamoDB (Audit table + byItem index): on-demand, per write request unit" in cost.render(measured)
    assert measured["dynamodb_floor_usd_per_month"] is None


NOTIFICATIONS_OFF = {"changetrail:notifications": {"mode": "off"}}


def test_a_provisioned_audit_table_prices_its_writes_below_on_demand():
    provisioned = cost.report("dev", 40, 1024, {"changetrail:audit": {"capacityMode": "provisioned"}, **NOTIFICATIONS_OFF})
    on_demand = cost.report("dev", 40, 1024, NOTIFICATIONS_OFF)
    assert (provisioned["settings"]["capacity_mode"], provisioned["settings"]["target_utilization"]) == ("provisioned", 70)
    assert provisioned["usage"]["audit_wru"] == on_demand["usage"]["audit_wru"], "same rows, priced differently"
    dynamodb = provisioned["usd_per_million_by_service"]["dynamodb"]
    assert 0 < dynamodb < on_demand["usd_per_million_by_service"]["dynamodb"]
    assert dynamodb == provisioned["naive_usd_per_million_by_service"]["dynamodb"], "naive writes the same rows"
    assert provisioned["dynamodb_floor_usd_per_month"] == {"write": round(5 * 2 * 0.00065 * 730, 2), "read": 0.95}
    rendered = cost.render(provisioned)
    assert "provisioned, WCU-hours at 70% utilization" in rendered and "4.75 $/month" in rendered
