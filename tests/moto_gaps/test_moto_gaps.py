"""Where moto alone differs from AWS, and the embedded AWS patches it: one check per patch.

Not part of `make test` (a dependency fixing its bug must never fail a build); `make test-latest` runs
them against the newest moto. A check that fails there names a patch that moto no longer needs: the
embedded AWS's own tests (which assert AWS's behaviour) stay, the patch can go.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from changetrail.embedded import EmbeddedAws, client, express, item_limits
from functions.dynamodb_limits import MAX_ITEM_BYTES
from tests.e2e.test_express_executions import machine
from tests.e2e.test_item_limits import MEASURED_OTHERWISE_BY_MOTO, nested, put, sized, stored

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws("dev") as embedded:
        yield embedded


@contextmanager
def moto_alone(patch: Any) -> Iterator[None]:
    patch.uninstall()
    try:
        yield
    finally:
        patch.install()


def stores(table: str, item: dict[str, Any]) -> bool:
    try:
        put(table, item)
    except ClientError:
        return False
    client("dynamodb").delete_item(TableName=table, Key={"key": item["key"]})
    return True


@pytest.mark.parametrize("case", MEASURED_OTHERWISE_BY_MOTO)
def test_moto_alone_measures_items_otherwise(aws, case):
    attributes, aws_stores = MEASURED_OTHERWISE_BY_MOTO[case]
    item = {"key": {"S": f"gap-{len(case)}"}, **attributes}
    with moto_alone(item_limits):
        moto_stores = stores(aws.outputs["source_table_name"], item)
    assert moto_stores != aws_stores, f"moto now measures {case!r} as AWS does: item_limits' size rule may go"


def test_moto_alone_stores_an_item_nested_too_deep(aws):
    table = aws.outputs["source_table_name"]
    with moto_alone(item_limits):
        put(table, {"key": {"S": "gap-deep"}, "doc": nested(40)})
    assert stored(table, "gap-deep") is not None, "moto now refuses 33 levels: item_limits' depth rule may go"


def test_moto_alone_refuses_an_item_under_400_kb(aws):
    with moto_alone(item_limits):
        moto_stores = stores(aws.outputs["source_table_name"], sized("gap-at", MAX_ITEM_BYTES - 1000))
    assert not moto_stores, "moto now stores a 399 KB item: item_limits' 400 KB gate may go"


def test_moto_alone_refuses_a_used_express_execution_name(aws):
    sfn, arn = client("stepfunctions"), machine(aws, "gap-echo", "EXPRESS")
    with moto_alone(express):
        sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 1}')
        try:
            sfn.start_execution(stateMachineArn=arn, name="same", input='{"a": 2}')
        except sfn.exceptions.ExecutionAlreadyExists:
            return
    pytest.fail("moto now starts an Express execution again under a used name: the express patch may go")
