"""A command against AWS does not pay for the local emulator: moto stays off its import path.

Each check runs in a fresh interpreter, since this test process has long imported everything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AWS_COMMAND_MODULES = (
    "changetrail.executions",
    "changetrail.redrive",
    "changetrail.replay",
    "changetrail.restore",
    "changetrail.verify",
    "changetrail.history",
    "changetrail.archive",
    "changetrail.outputs",
)
"""What ``executions``, ``redrive``, ``replay``, ``restore``, ``verify`` and reading an item's history import when they run."""


def modules_loaded_by(code: str) -> set[str]:
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules} | {name for name in modules if name.startswith("changetrail.embedded")}


def test_the_cli_and_its_parser_load_neither_moto_nor_pulumi_nor_pydantic():
    loaded = top_level(modules_loaded_by("from changetrail import cli\ncli.build_parser()"))
    assert not loaded & {"moto", "pulumi", "pulumi_aws", "pydantic", "changetrail.embedded"}


def test_the_commands_against_aws_load_no_moto():
    loaded = top_level(modules_loaded_by("\n".join(f"import {name}" for name in ("changetrail.cli", *AWS_COMMAND_MODULES))))
    assert not loaded & {"moto", "changetrail.embedded"}


def test_the_probe_sees_moto_where_it_is_used():
    # The checks above would pass vacuously if the probe could not see an import.
    assert "moto" in top_level(modules_loaded_by("import changetrail.embedded"))
