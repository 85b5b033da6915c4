"""Make moto's ASL interpreter and request dispatch cheaper to run, without changing what they do.

- State data copies. The interpreter deep-copies the state data at almost every step (each
  state's input, each Map iteration's input, every path and result): with ``copy.deepcopy`` that
  was most of an execution's CPU time. State data is JSON (dicts, lists, strings, numbers,
  booleans, null); a ``marshal`` round trip copies exactly those builtin types, exactly (new
  containers, same types, shared sub-objects stay shared as with ``deepcopy``'s memo) and several
  times faster; it refuses anything else (subclasses, datetimes, enums), which then goes through
  ``copy.deepcopy``.
- One parse per definition. moto parses the ASL (ANTLR) again for every execution, ~40 ms each.
  The parsed program is immutable while it runs (per-execution state, retry counters included,
  lives in the execution's ``Environment``), so executions of one definition share one parse.
- One method listing per response class. moto lists a response class's methods with
  ``inspect.getmembers`` on every request to find the action; a class's methods do not change.
"""

from __future__ import annotations

import copy
import functools
import importlib
import marshal
import sys
import threading
from types import SimpleNamespace
from typing import Any

from moto.core import responses
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_PACKAGE = "moto.stepfunctions.parser"
_patched: list[Any] = []
_original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
_original_method_names = responses.method_names_from_class


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for data made of builtin types only (JSON state data), else ``copy.deepcopy``."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:  # an object marshal does not handle (or too deeply nested)
        return copy.deepcopy(value, memo)


_FAST_COPY = SimpleNamespace(deepcopy=json_deepcopy, copy=copy.copy)


_programs: dict[str, Any] = {}
_parse_lock = threading.Lock()


def parsed_program(definition: str) -> Any:
    """The program of ``definition``, parsed once however many executions start at the same time."""
    with _parse_lock:
        if definition not in _programs:
            _programs[definition] = AmazonStateLanguageParser.parse(definition)[0]
        return _programs[definition]


def _shared_entrypoint(worker: ExecutionWorker) -> Any:
    return parsed_program(worker._evaluation_details.state_machine_details.definition)


def install() -> None:
    importlib.import_module(f"{_PACKAGE}.models")
    for name, module in list(sys.modules.items()):
        if name.startswith(_PACKAGE) and getattr(module, "copy", None) is copy:
            module.copy = _FAST_COPY
            _patched.append(module)
    ExecutionWorker._get_evaluation_entrypoint = _shared_entrypoint  # type: ignore[method-assign]
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(_original_method_names)


def uninstall() -> None:
    while _patched:
        _patched.pop().copy = copy
    ExecutionWorker._get_evaluation_entrypoint = _original_entrypoint  # type: ignore[method-assign]
    responses.method_names_from_class = _original_method_names
    with _parse_lock:
        _programs.clear()
