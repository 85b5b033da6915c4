"""Run the Pulumi program (``__main__.py``) under mocks and return its stack outputs."""

from __future__ import annotations

import asyncio
import json
import runpy
import sys
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from changetrail.stack_config import PROJECT_DIR

PROJECT = "changetrail"


def run_program(
    mocks: pulumi.runtime.Mocks, stack: str, config: dict[str, Any], project_dir: Path = PROJECT_DIR, preview: bool = False
) -> dict[str, Any]:
    """Execute ``__main__.py`` against ``mocks``; the returned dict is what ``pulumi stack output --json`` prints.

    ``preview``: run as ``pulumi preview`` does (what the program refuses there, nobody deploys).
    """
    # A fresh root stack per run: set_mocks keeps the previous one, and its outputs, otherwise.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview)
    pulumi.runtime.set_all_config({key: value if isinstance(value, str) else json.dumps(value) for key, value in config.items()})
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    outputs: dict[str, Any] = {}

    def program() -> None:
        runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__")

    try:
        _sync_await(run_pulumi_func(program))
    except BaseException as error:
        _settle_failed_run(error)
        raise
    root = pulumi.runtime.get_root_resource()

    def collect() -> None:
        resolved = _sync_await(pulumi.Output.from_input(root.outputs).future())  # type: ignore[union-attr]
        outputs.update(resolved or {})

    _sync_await(run_pulumi_func(collect))
    return outputs


_FAILED_RUN_ERRORS: set[str] = set()


def _settle_failed_run(error: BaseException) -> None:
    """A run that failed part-way leaves registrations pending on the shared event loop; they would
    resume, fail and poison the next run in this process, so let them finish and forget their errors."""
    loop = _ensure_event_loop()
    for _ in range(100):
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if not pending:
            break
        loop.run_until_complete(asyncio.wait(pending, timeout=10))
    rpcs = pulumi.runtime.settings._get_rpc_manager()
    rpcs.rpcs.clear()
    rpcs.clear()
    pulumi.runtime.settings.SETTINGS.outputs.clear()
    # Its abandoned futures are garbage-collected later and would each print "exception was never retrieved".
    _FAILED_RUN_ERRORS.add(str(error).splitlines()[-1])

    def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if "never retrieved" in context.get("message", "") and any(e in str(error) for e in _FAILED_RUN_ERRORS):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(quiet)
