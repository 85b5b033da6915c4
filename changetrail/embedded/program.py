"""Run the Pulumi program (``__main__.py``) under mocks and return its stack outputs."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT_DIR = Path(__file__).resolve().parents[2]
PROJECT = "changetrail"


class StackConfigError(ValueError):
    """The stack's ``Pulumi.<stack>.yaml`` is missing or unreadable."""


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The ``config:`` block of ``Pulumi.<stack>.yaml``, keys as written (``changetrail:source``)."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.exists():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackConfigError(f"no stack config {path.name}; known stacks: {', '.join(known) or 'none'}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise StackConfigError(f"{path.name} is not valid YAML: {error}") from error
    return dict(document.get("config") or {})


def run_program(
    mocks: pulumi.runtime.Mocks, stack: str, config: dict[str, Any], project_dir: Path = PROJECT_DIR
) -> dict[str, Any]:
    """Execute ``__main__.py`` against ``mocks``; the returned dict is what ``pulumi stack output --json`` prints."""
    # A fresh root stack per run: set_mocks keeps the previous one, and its outputs, otherwise.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False)
    pulumi.runtime.set_all_config({key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()})
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    outputs: dict[str, Any] = {}

    def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    _sync_await(run_pulumi_func(program))
    root = pulumi.runtime.get_root_resource()

    def collect() -> None:
        resolved = _sync_await(pulumi.Output.from_input(root.outputs).future())  # type: ignore[union-attr]
        outputs.update(resolved or {})

    _sync_await(run_pulumi_func(collect))
    return outputs
