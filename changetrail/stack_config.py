"""A stack's ``Pulumi.<stack>.yaml``, read without the Pulumi CLI.

Kept apart from the embedded AWS so that reading a stack's config (and catching its errors in the
operator CLI) does not load moto.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]


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
