"""A bounded fault matrix in the suite (``make faults`` runs 1,000 changes per fault, and 200 per source with two)."""

from __future__ import annotations

import pytest

from changetrail.embedded.faults import FAULTS
from tests.faults.matrix import TWO_SOURCES, Row, run_fault

pytestmark = pytest.mark.e2e

TWO_SOURCE_FAULTS = (
    "audit table unavailable",
    "archive bucket denies writes",
    "topic unavailable",
    "trigger crash after start, retries exhausted",
    "poison change among ordinary ones",
)
"""The two-source rows the suite runs: a shared dependency failing for one source's changes (the Audit table, the
archive, the topic), one source's trigger giving up (its own failure queue), and poison. ``make faults`` runs every row."""


def assert_nothing_lost_or_duplicated(fault: str, row: Row) -> None:
    assert (row.lost, row.duplicated_rows, row.duplicated_lines, row.misfiled) == (0, 0, 0, 0), row
    assert row.unnotified == 0, "every audited change was announced at least once"
    assert row.dead_letters == row.poison, "the DLQ holds only true poison, one letter each"
    if row.poison:
        assert row.detail["poison audited"] == 0 and all(len(only or []) == 1 for only in row.detail["letters"]), row
    if fault == "large changes: archive upload crashes between steps":
        assert row.detail["incomplete uploads"] > 0, "a redrive's upload found the object, stayed incomplete and blocked nothing"
    if fault == "dead-letter queue unavailable":
        assert row.failed_executions == 0, "with nothing else failing, nothing needs the DLQ"
    elif fault == "DLQ down while audit table fails":
        assert row.failed_executions and row.redriven, "dead letters went to the payload bucket and were redriven"
    else:
        assert row.injected != 0 and (row.injected or row.failed_executions), f"the fault never fired: {row}"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_no_change_is_lost_or_duplicated_when_one_dependency_fails_for_a_window(fault):
    assert_nothing_lost_or_duplicated(fault, run_fault(fault, changes=40, items=10))


@pytest.mark.parametrize("fault", TWO_SOURCE_FAULTS)
def test_with_two_sources_the_fault_hitting_one_never_delays_nor_dead_letters_the_other(fault):
    row = run_fault(fault, changes=20, items=10, tables=TWO_SOURCES)

    assert_nothing_lost_or_duplicated(fault, row)
    assert (row.other_late, row.other_dead_lettered) == (0, 0), row
    assert row.detail["letter tables"] in ([], ["Alpha"]), "what is left in the queues is Alpha's poison only"
