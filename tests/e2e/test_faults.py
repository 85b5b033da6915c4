"""A bounded fault matrix in the suite (``make faults`` runs 1,000 changes per fault)."""

from __future__ import annotations

import pytest

from changetrail.embedded.faults import FAULTS
from tests.faults.matrix import run_fault

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_no_change_is_lost_or_duplicated_when_one_dependency_fails_for_a_window(fault):
    row = run_fault(fault, changes=40, items=10)

    assert (row.lost, row.duplicated_rows, row.duplicated_lines, row.misfiled) == (0, 0, 0, 0), row
    assert row.unnotified == 0, "every audited change was announced at least once"
    assert row.dead_letters == row.poison, "the DLQ holds only true poison, one letter each"
    if row.poison:
        assert row.detail["poison audited"] == 0 and all(len(only or []) == 1 for only in row.detail["letters"]), row
    if fault == "large changes: archive upload crashes between steps":
        assert row.detail["incomplete uploads"] > 0, "an upload died before completion and blocked nothing"
    if fault == "dead-letter queue unavailable":
        assert row.failed_executions == 0, "with nothing else failing, nothing needs the DLQ"
    elif fault == "DLQ down while audit table fails":
        assert row.failed_executions and row.redriven, "dead letters went to the payload bucket and were redriven"
    else:
        assert row.injected != 0 and (row.injected or row.failed_executions), f"the fault never fired: {row}"
