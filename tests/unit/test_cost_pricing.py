"""Pricing the Audit table's writes: on demand per write request unit, provisioned per WCU-hour."""

from __future__ import annotations

import pytest

from changetrail import cost

PRICES = cost.load_prices()
MILLION_ROWS_WRU = 2_000_000
"""A million one-unit rows: each is written to the table and to the byItem index."""


@pytest.mark.parametrize("utilization", [20, 70, 90])
def test_provisioned_writes_cost_the_wcu_hours_that_carry_them_at_the_target_utilization(utilization):
    wcu_hours = MILLION_ROWS_WRU / (3600 * utilization / 100)
    assert float(cost.audit_write_dollars(MILLION_ROWS_WRU, PRICES, utilization)) == pytest.approx(wcu_hours * 0.00065)


def test_on_demand_writes_cost_their_write_request_units():
    assert float(cost.audit_write_dollars(MILLION_ROWS_WRU, PRICES)) == pytest.approx(2 * 0.625 * 1.0)


def test_provisioned_at_70_percent_is_less_than_half_the_on_demand_price():
    provisioned = cost.audit_write_dollars(MILLION_ROWS_WRU, PRICES, 70)
    on_demand = cost.audit_write_dollars(MILLION_ROWS_WRU, PRICES)
    assert provisioned < on_demand / 2, (provisioned, on_demand)


def test_price_applies_the_utilization_to_dynamodb_only():
    usage = cost.Usage(
        changes=1000, executions=10, express_gb_seconds=1.0, lambda_requests=30, lambda_gb_seconds=2.0, audit_requests=1000,
        audit_rows=1000, audit_wru=2000.0, s3_puts=10, sns_requests=0, sns_messages=0, sns_billed_requests=0, sqs_sends=0,
        inserts=250, log_bytes=0, log_data_bytes=0,
    )  # fmt: skip
    on_demand, provisioned = cost.price(usage, PRICES), cost.price(usage, PRICES, target_utilization=70)
    assert provisioned["dynamodb"] == pytest.approx(2000 / 2520 * 0.00065)
    assert {k: v for k, v in provisioned.items() if k != "dynamodb"} == {k: v for k, v in on_demand.items() if k != "dynamodb"}


def test_the_minimum_capacity_is_a_monthly_floor_for_table_and_index():
    floor = cost.provisioned_floor(PRICES, min_write_capacity=5, read_capacity=5)
    assert floor == pytest.approx({"write": 5 * 2 * 0.00065 * 730, "read": 5 * 2 * 0.00013 * 730})
