"""Which history events the embedded AWS logs per level: AWS's sets, as moto's ``logging.py`` lists them."""

from __future__ import annotations

import pytest
from moto.stepfunctions.parser.api import HistoryEventType

from changetrail.embedded.execution_logs import wanted

ERROR_ALSO = ["FailStateEntered", "TaskTimedOut", "TaskStateAborted", "MapIterationAborted", "LambdaFunctionTimedOut"]
"""Logged at ERROR on AWS although their names do not end in ``Failed`` (the rule this replaced)."""
FATAL = ["ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"]


@pytest.mark.parametrize("event_type", [*ERROR_ALSO, *FATAL, "TaskFailed", "MapIterationFailed", "LambdaFunctionFailed"])
def test_errors_timeouts_aborts_and_fail_states_are_logged_at_error(event_type):
    assert wanted(event_type, "ERROR")


@pytest.mark.parametrize(
    "event_type", ["TaskStateEntered", "TaskSucceeded", "PassStateExited", "ExecutionStarted", "ActivityFailed"]
)
def test_progress_is_not_logged_at_error(event_type):
    assert not wanted(event_type, "ERROR")


def test_fatal_logs_only_the_executions_own_end_in_failure():
    logged = {t.value for t in HistoryEventType if wanted(t.value, "FATAL")}
    assert logged == set(FATAL)


def test_all_logs_every_event_even_one_moto_does_not_know_and_off_logs_none():
    assert all(wanted(t.value, "ALL") for t in HistoryEventType)
    assert wanted("SomeFutureEvent", "ALL") and not wanted("SomeFutureEvent", "ERROR")
    assert not any(wanted(t.value, "OFF") for t in HistoryEventType)
