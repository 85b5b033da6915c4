"""The console's state machine graph: layout from any ASL, outcomes from an execution's steps, SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from changetrail.console import graph
from changetrail.executions import Event, build_execution
from statemachine import DEFINITION_PATH

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def pipeline() -> dict:
    """The repository's own definition, whatever states it has today."""
    return json.loads(DEFINITION_PATH.read_text())


def small(**states: dict) -> dict:
    return {"StartAt": next(iter(states)), "States": states}


LOOP = small(
    Poll={"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Done?"},
    **{"Done?": {"Type": "Choice", "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Ok"}], "Default": "Poll"}},
    Ok={"Type": "Succeed"},
)
CAUGHT = small(
    Work={
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover"}],
        "Next": "Finish",
    },
    Finish={"Type": "Pass", "End": True},
    Recover={"Type": "Pass", "Next": "Stop"},
    Stop={"Type": "Fail", "Error": "Broken"},
)


def steps(*names: str, errors: dict[str, str] | None = None, exited: bool = True) -> list[dict]:
    errors = errors or {}
    return [
        {"name": n, "error": errors.get(n), "cause": f"cause of {n}" if n in errors else None, "exited": exited} for n in names
    ]


def overlaps(a: graph.Node, b: graph.Node) -> bool:
    return abs(a.x - b.x) * 2 < a.width + b.width and abs((a.y + a.height / 2) - (b.y + b.height / 2)) * 2 < a.height + b.height


# -- layout ------------------------------------------------------------------------------------


def test_every_state_of_the_deployed_definition_is_drawn_once_with_every_transition(pipeline):
    drawn = graph.layout(pipeline)
    assert set(drawn.nodes) == set(pipeline["States"]) | {graph.START, graph.END}
    arrows = {(e.transition.source, e.transition.target, e.transition.kind) for e in drawn.edges}
    for name, state in pipeline["States"].items():
        if "Next" in state:
            assert (name, state["Next"], "next") in arrows
        for catch in state.get("Catch", []):
            assert (name, catch["Next"], "catch") in arrows
        for rule in state.get("Choices", []):
            assert (name, rule["Next"], "choice") in arrows
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            assert (name, graph.END, "end") in arrows
    assert (graph.START, pipeline["StartAt"], "start") in arrows


def test_forward_arrows_point_down_and_no_two_states_overlap(pipeline):
    drawn = graph.layout(pipeline)
    for edge in drawn.edges:
        source, target = drawn.nodes[edge.transition.source], drawn.nodes[edge.transition.target]
        assert edge.back or target.rank > source.rank
        assert len(edge.points) >= 2
    nodes = list(drawn.nodes.values())
    assert not [(a.id, b.id) for i, a in enumerate(nodes) for b in nodes[i + 1 :] if overlaps(a, b)]
    assert all(n.x - n.width / 2 >= 0 and n.x + n.width / 2 <= drawn.width for n in nodes)
    assert all(n.y >= 0 and n.y + n.height <= drawn.height for n in nodes)


def test_the_layout_is_the_same_every_time(pipeline):
    first, second = graph.layout(pipeline), graph.layout(pipeline)
    assert [(n.id, n.x, n.y) for n in first.nodes.values()] == [(n.id, n.x, n.y) for n in second.nodes.values()]


def test_a_loop_is_drawn_as_a_back_edge_beside_the_states():
    drawn = graph.layout(LOOP)
    (back,) = [e for e in drawn.edges if e.back]
    assert (back.transition.source, back.transition.target) == ("Done?", "Poll")
    assert drawn.nodes["Done?"].rank > drawn.nodes["Poll"].rank
    lane = back.points[1][0]
    assert lane > max(n.x + n.width / 2 for n in drawn.nodes.values())


def test_long_arrows_bend_through_every_rank_they_cross(pipeline):
    drawn = graph.layout(pipeline)
    for edge in drawn.edges:
        if edge.back:
            continue
        source, target = drawn.nodes[edge.transition.source], drawn.nodes[edge.transition.target]
        assert len(edge.points) == target.rank - source.rank + 1


def test_a_state_names_its_service_and_a_choice_arrow_its_condition():
    drawn = graph.layout(LOOP)
    assert drawn.nodes["Poll"].detail == "lambda:invoke"
    assert drawn.nodes["Done?"].detail == "Choice"
    labels = {(e.transition.target, e.transition.label) for e in drawn.edges if e.transition.source == "Done?"}
    assert labels == {("Ok", "BooleanEquals true"), ("Poll", "otherwise")}


# -- outcomes ----------------------------------------------------------------------------------


def test_a_succeeded_execution_colours_its_path_succeeded_and_the_rest_not_reached():
    outcomes = graph.state_outcomes(CAUGHT, {"status": "SUCCEEDED", "steps": steps("Work", "Finish")})
    assert {n: o.outcome for n, o in outcomes.items()} == {
        "Work": "succeeded",
        "Finish": "succeeded",
        "Recover": "not_reached",
        "Stop": "not_reached",
    }


def test_a_failure_a_catch_handled_is_caught_and_the_fail_state_is_where_the_execution_failed():
    execution = {
        "status": "FAILED",
        "error": "Broken",
        "cause": "the end",
        "failed_state": "Work",
        "steps": steps("Work", "Recover", "Stop", errors={"Work": "SQS.Down"}),
    }
    outcomes = graph.state_outcomes(CAUGHT, execution)
    assert outcomes["Work"] == graph.StateOutcome("caught", "SQS.Down", "cause of Work", entered=1)
    assert outcomes["Recover"].outcome == "succeeded"
    assert outcomes["Stop"] == graph.StateOutcome("failed", "Broken", "the end", entered=1)
    assert outcomes["Finish"].outcome == "not_reached"


def test_a_failure_no_catch_handled_fails_the_state_itself():
    execution = {"status": "FAILED", "error": "X", "steps": steps("Finish", errors={"Finish": "States.DataLimitExceeded"})}
    no_catch = small(Finish={"Type": "Pass", "End": True})
    assert graph.state_outcomes(no_catch, execution)["Finish"].outcome == "failed"
    assert graph.state_outcomes(no_catch, execution)["Finish"].error == "States.DataLimitExceeded"


def test_a_failure_a_retry_overcame_counts_as_succeeded_retried():
    outcomes = graph.state_outcomes(
        CAUGHT, {"status": "SUCCEEDED", "steps": steps("Work", "Finish", errors={"Work": "SQS.Slow"})}
    )
    assert outcomes["Work"].outcome == "succeeded" and outcomes["Work"].retried


def test_a_running_execution_shows_its_current_state_running():
    outcomes = graph.state_outcomes(CAUGHT, {"status": "RUNNING", "steps": steps("Work", exited=False)})
    assert outcomes["Work"].outcome == "running"


def test_a_state_entered_twice_keeps_its_worst_outcome_and_the_count():
    execution = {"status": "SUCCEEDED", "steps": steps("Poll", "Done?", "Poll", "Done?", "Ok")}
    outcomes = graph.state_outcomes(LOOP, execution)
    assert outcomes["Poll"].entered == 2 and outcomes["Poll"].outcome == "succeeded"
    assert graph.taken(execution, LOOP) == {
        (graph.START, "Poll"),
        ("Poll", "Done?"),
        ("Done?", "Poll"),
        ("Done?", "Ok"),
        ("Ok", graph.END),
    }


def _follow(definition: dict, name: str) -> list[str]:
    """The states from ``name`` on when nothing fails (Next, or a Choice's Default), to the end."""
    path = [name]
    while True:
        state = definition["States"][path[-1]]
        following = state.get("Next") or state.get("Default")
        if not following or following in path:
            return path
        path.append(following)


def _events(definition: dict, names: list[str], failing: str | None, error: str) -> list[Event]:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    timeline: list[tuple[str, str | None, str | None]] = [("ExecutionStarted", None, None)]
    for name in names:
        kind = definition["States"][name]["Type"]
        timeline.append((f"{kind}StateEntered", name, None))
        if name == failing:
            timeline.append(("TaskFailed", None, error))
        if kind != "Fail":
            timeline.append((f"{kind}StateExited", name, None))
    timeline.append(("ExecutionFailed", None, error))
    return [Event(type=t, time=start + timedelta(milliseconds=i), name=n, error=e) for i, (t, n, e) in enumerate(timeline)]


def test_outcomes_come_from_the_execution_events_as_the_execution_views_read_them(pipeline):
    # GIVEN the deployed definition's success path, and its second task with a Catch failing into it
    main = _follow(pipeline, pipeline["StartAt"])
    guarded = [n for n in main if pipeline["States"][n]["Type"] == "Task" and pipeline["States"][n].get("Catch")]
    first, failing = guarded[0], guarded[1]
    handled = _follow(pipeline, pipeline["States"][failing]["Catch"][0]["Next"])
    assert pipeline["States"][handled[-1]]["Type"] == "Fail", "the catch path ends the execution failed"
    ran = main[: main.index(failing) + 1] + handled
    events = _events(pipeline, ran, failing, "S3.AccessDenied")

    # WHEN the library builds the execution from its events and the graph colours it
    execution = build_execution("x", "arn", events).to_json()
    outcomes = graph.state_outcomes(pipeline, execution)

    # THEN the failing task's error was caught (the execution went on into its catch path) and it is
    # the failed state; the Fail state is where the execution failed; the rest were not reached
    assert execution["failed_state"] == failing
    assert outcomes[failing].outcome == "caught" and outcomes[failing].error == "S3.AccessDenied"
    assert outcomes[handled[-1]].outcome == "failed"
    assert all(outcomes[name].outcome == "succeeded" for name in ran if name not in (failing, handled[-1]))
    assert outcomes[pipeline["States"][first]["Catch"][0]["Next"]].outcome == "not_reached"
    assert {n for n, o in outcomes.items() if o.outcome == "not_reached"} == set(pipeline["States"]) - set(ran)


# -- SVG ---------------------------------------------------------------------------------------


def test_the_svg_marks_each_state_with_its_outcome_and_the_failed_state(pipeline):
    execution = {
        "status": "FAILED",
        "failed_state": "Archive",
        "steps": steps("Decode", "Diff", "WriteAudit", "ArchiveRoute", "Archive", errors={"Archive": "E"}),
    }
    drawn = graph.execution_graph(pipeline, execution)
    root = ET.fromstring(drawn["svg"])
    states = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if "ct-state" in g.get("class", "")}
    assert set(states) == set(pipeline["States"])
    assert {name: g.get("data-outcome") for name, g in states.items()} == {n: o["outcome"] for n, o in drawn["outcomes"].items()}
    assert [name for name, g in states.items() if g.get("data-failed-state")] == ["Archive"]
    taken = [(p.get("data-source"), p.get("data-target")) for p in root.iter(f"{SVG}path") if "ct-taken" in p.get("class", "")]
    assert set(taken) == {(graph.START, "Decode"), *pairwise(["Decode", "Diff", "WriteAudit", "ArchiveRoute", "Archive"])}


def test_state_names_are_escaped_in_the_svg():
    hostile = small(**{"<script>alert(1)</script>": {"Type": "Pass", "End": True}})
    svg = graph.execution_graph(hostile)["svg"]
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)  # still well-formed
