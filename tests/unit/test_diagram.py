"""The README's state machine diagram is generated from the ASL file and must not drift."""

from __future__ import annotations

import json
from pathlib import Path

from statemachine import DEFINITION_PATH
from statemachine.diagram import mermaid, readme_block

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_diagram_matches_the_definition():
    assert readme_block() in README.read_text(), "run `make diagram` after changing the ASL"


def test_diagram_has_every_state_and_every_catch_edge():
    definition = json.loads(DEFINITION_PATH.read_text())
    diagram = mermaid(definition)
    for name, state in definition["States"].items():
        assert f" as {name}" in diagram
        for catch in state.get("Catch", []):
            assert f"{name} --> {catch['Next']}: " in diagram


def test_diagram_changes_when_the_definition_changes():
    definition = json.loads(DEFINITION_PATH.read_text())
    definition["States"]["Diff"]["Next"] = "Notify"
    assert "Diff --> Notify" in mermaid(definition)
    assert "Diff --> Notify" not in readme_block()
