"""Make moto's ASL interpreter cheaper to run, without changing what it does.

The interpreter deep-copies the state data at almost every step (each state's input, each Map
iteration's input, every path and result): with ``copy.deepcopy`` that was most of an
execution's CPU time. State data is JSON (dicts, lists, strings, numbers, booleans, null); a
``marshal`` round trip copies exactly those builtin types, exactly (new containers, same types,
shared sub-objects stay shared as with ``deepcopy``'s memo) and several times faster; it refuses
anything else (subclasses, datetimes, enums), which then goes through ``copy.deepcopy``.
Installed into the interpreter's modules only.
"""

from __future__ import annotations

import copy
import importlib
import marshal
import sys
from types import SimpleNamespace
from typing import Any

_PACKAGE = "moto.stepfunctions.parser"
_patched: list[Any] = []


def json_deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` for data made of builtin types only (JSON state data), else ``copy.deepcopy``."""
    try:
        return marshal.loads(marshal.dumps(value))
    except ValueError:  # an object marshal does not handle (or too deeply nested)
        return copy.deepcopy(value, memo)


_FAST_COPY = SimpleNamespace(deepcopy=json_deepcopy, copy=copy.copy)


def install() -> None:
    importlib.import_module(f"{_PACKAGE}.models")
    for name, module in list(sys.modules.items()):
        if name.startswith(_PACKAGE) and getattr(module, "copy", None) is copy:
            module.copy = _FAST_COPY
            _patched.append(module)


def uninstall() -> None:
    while _patched:
        _patched.pop().copy = copy
