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
- Backend lookups without a lock once the backend exists. moto takes a global lock and scans
  a list of every service's backends on each lookup (several per request) to create an
  account's backend that already exists after the first.
- Query-protocol parameters found by binary search. For every structure of a query request
  (SNS, SQS, STS) moto asks whether any parameter starts with its prefix by scanning them all:
  quadratic in the parameters, most of a ten-message ``PublishBatch``. The same question is
  answered on the sorted parameter names.
- No signature arithmetic for requests moto serves in-process. moto reads the access key from
  the ``Authorization`` header (it names the account) and never checks the signature, so the
  header is written with the real credential scope and a placeholder signature; S3 requests,
  whose payload headers moto does read, are signed as before.
"""

from __future__ import annotations

import bisect
import copy
import functools
import importlib
import marshal
import sys
import threading
from types import SimpleNamespace
from typing import Any

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.compat import get_current_datetime
from moto.core import responses
from moto.core.base_backend import BackendDict
from moto.core.models import botocore_stubber
from moto.core.parse import QueryParser
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_PACKAGE = "moto.stepfunctions.parser"
_patched: list[Any] = []
_original_entrypoint = ExecutionWorker._get_evaluation_entrypoint
_original_method_names = responses.method_names_from_class
_original_create_backend = BackendDict._create_account_specific_backend
_original_add_auth = SigV4Auth.add_auth
_original_gonna_recurse = QueryParser._gonna_recurse


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


def _existing_backend(backend_dict: BackendDict, account_id: str) -> None:
    if account_id not in backend_dict or backend_dict not in _known_backend_dicts:
        _original_create_backend(backend_dict, account_id)
        _known_backend_dicts.add(backend_dict)


_known_backend_dicts: set[BackendDict] = set()
PLACEHOLDER_SIGNATURE = "0" * 64


def _add_auth_unsigned(auth: SigV4Auth, request: Any) -> None:
    if type(auth) is not SigV4Auth or not botocore_stubber.enabled or auth.credentials is None:
        _original_add_auth(auth, request)
        return
    request.context["timestamp"] = get_current_datetime().strftime(SIGV4_TIMESTAMP)
    auth._modify_request_before_signing(request)
    auth._inject_signature_to_request(request, PLACEHOLDER_SIGNATURE)


def _no_parameter_under(parser: QueryParser, query_params: Any, prefix: str) -> bool:
    """``not any(key.startswith(prefix) for key in query_params)``, on the sorted keys (built once per request)."""
    if prefix == "":
        return False
    cached = parser.__dict__.get("_sorted_parameter_names")
    if cached is None or cached[0] is not query_params:
        cached = (query_params, sorted(query_params.keys()))
        parser.__dict__["_sorted_parameter_names"] = cached
    names = cached[1]
    at = bisect.bisect_left(names, prefix)
    return at == len(names) or not names[at].startswith(prefix)


def install() -> None:
    # The ignores: moto's methods, replaced in place; mypy holds each replacement to moto's own signature.
    importlib.import_module(f"{_PACKAGE}.models")
    for name, module in list(sys.modules.items()):
        if name.startswith(_PACKAGE) and getattr(module, "copy", None) is copy:
            vars(module)["copy"] = _FAST_COPY
            _patched.append(module)
    ExecutionWorker._get_evaluation_entrypoint = _shared_entrypoint  # type: ignore[method-assign,assignment]
    responses.method_names_from_class = functools.lru_cache(maxsize=None)(_original_method_names)
    BackendDict._create_account_specific_backend = _existing_backend  # type: ignore[method-assign,assignment]
    SigV4Auth.add_auth = _add_auth_unsigned
    QueryParser._gonna_recurse = _no_parameter_under  # type: ignore[method-assign]


def uninstall() -> None:
    while _patched:
        _patched.pop().copy = copy
    ExecutionWorker._get_evaluation_entrypoint = _original_entrypoint  # type: ignore[method-assign]
    responses.method_names_from_class = _original_method_names
    BackendDict._create_account_specific_backend = _original_create_backend  # type: ignore[method-assign]
    SigV4Auth.add_auth = _original_add_auth
    QueryParser._gonna_recurse = _original_gonna_recurse  # type: ignore[method-assign]
    _known_backend_dicts.clear()
    with _parse_lock:
        _programs.clear()
