"""A Mermaid state diagram generated from the ASL file, so the README shows the real flow.

``python -m statemachine.diagram --write README.md`` refreshes the block between the markers;
a test fails when the README and the definition disagree.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from statemachine import DEFINITION_PATH

BEGIN, END = "<!-- statemachine:begin -->", "<!-- statemachine:end -->"


def _label(name: str, state: dict[str, Any]) -> str:
    if state["Type"] == "Map":
        inner = ", ".join(state["ItemProcessor"]["States"])
        return f"{name} (Map: {inner})"
    if state["Type"] == "Parallel":
        inner = ", ".join(name for branch in state["Branches"] for name in branch["States"])
        return f"{name} (Parallel: {inner})"
    resource = state.get("Resource", "")
    service = resource.removeprefix("arn:aws:states:::").split(".")[0] if resource else state["Type"]
    return f"{name} ({service})"


def mermaid(definition: dict[str, Any]) -> str:
    lines = ["stateDiagram-v2", f"    [*] --> {definition['StartAt']}"]
    for name, state in definition["States"].items():
        lines.append(f'    state "{_label(name, state)}" as {name}')
    for name, state in definition["States"].items():
        if "Next" in state:
            lines.append(f"    {name} --> {state['Next']}")
        for catch in state.get("Catch", []):
            lines.append(f"    {name} --> {catch['Next']}: {', '.join(catch['ErrorEquals'])}")
        for choice in state.get("Choices", []):
            condition = next(f"{k} {v}" for k, v in choice.items() if k not in ("Variable", "Next"))
            lines.append(f"    {name} --> {choice['Next']}: {condition}")
        if "Default" in state:
            lines.append(f"    {name} --> {state['Default']}: otherwise")
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            lines.append(f"    {name} --> [*]")
    return "\n".join(lines)


def readme_block(definition: dict[str, Any] | None = None) -> str:
    definition = definition or json.loads(DEFINITION_PATH.read_text())
    return f"{BEGIN}\n```mermaid\n{mermaid(definition)}\n```\n{END}"


def refresh(readme: Path) -> bool:
    """Rewrite the README's diagram block; returns whether it changed."""
    text = readme.read_text()
    updated = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: readme_block(), text, flags=re.S)
    if updated != text:
        readme.write_text(updated)
    return updated != text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="README to refresh in place")
    args = parser.parse_args()
    if args.write:
        print("updated" if refresh(args.write) else "up to date")
    else:
        print(mermaid(json.loads(DEFINITION_PATH.read_text())))
