"""Make moto's ASL interpreter honour a task's ``Credentials.RoleArn``.

moto records the role but calls every service with fixed keys of the default account, so a
cross-account archive would "work" against any bucket. Here the interpreter's client factory
assumes the role *as the state machine's role*, with the role's trust policy evaluated
(``trust.py``), and calls as that role's account; with S3 cross-account access switched off, a
write to the archive bucket succeeds only through a target role that trusts the state machine.
A role that cannot be assumed leaves the task acting as the pipeline account, as when
the role is unusable: the write is then refused, caught and dead-lettered.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config
from moto.core.models import botocore_stubber
from moto.settings import moto_server_port
from moto.stepfunctions.parser.asl.utils import boto_client as boto_client_module

from changetrail.embedded import authorization, trust
from changetrail.embedded.accounts import ENVIRONMENT_LOCK, role_credentials

_original = boto_client_module.boto_client_for
_clients: dict[tuple[str, str, str], Any] = {}
execution_role_arn: str | None = None
"""The state machine's role: task roles are assumed as this principal (set by ``EmbeddedAws``)."""
refused: list[str] = []
"""Task roles whose trust policy refused the state machine's role (newest last)."""
unusable_roles: dict[str, Callable[[str, dict[str, Any]], bool]] = {}
"""Roles that cannot be assumed (fault injection), for the calls (API action, parameters) the predicate names: those
act with the default account's keys."""
_lock = threading.Lock()


class _Unusable:
    """A task's client whose calls the predicate names go out as the pipeline account, the others as the role."""

    def __init__(self, as_role: Any, as_pipeline: Any, when: Callable[[str, dict[str, Any]], bool]) -> None:
        self._as_role, self._as_pipeline, self._when = as_role, as_pipeline, when

    def __getattr__(self, name: str) -> Any:
        chosen = getattr(self._as_role, name)
        if not callable(chosen) or name.startswith("_"):
            return chosen

        def call(*args: Any, **kwargs: Any) -> Any:
            client_ = self._as_pipeline if self._when(name, kwargs) else self._as_role
            return getattr(client_, name)(*args, **kwargs)

        return call


def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
    role_arn = getattr(state_credentials, "role_arn", None) or ""
    when = unusable_roles.get(role_arn)
    if when is None:
        return _client_for(region, service, role_arn)
    return _Unusable(_client_for(region, service, role_arn), _client_for(region, service, ""), when)


def _client_for(region: str, service: str, role_arn: str) -> Any:
    key = (region, service, role_arn)
    with _lock:
        if key not in _clients:
            credentials, acting_as = _credentials_for(role_arn)
            endpoint = {} if botocore_stubber.enabled else {"endpoint_url": f"http://localhost:{moto_server_port()}"}
            with ENVIRONMENT_LOCK:
                _clients[key] = boto3.client(
                    service,
                    region_name=region,
                    # Checksums only where the operation requires one or the task asks for it, as Step Functions' own
                    # SDK client is not documented to add one: a put into a locked bucket must ask (ChecksumAlgorithm).
                    config=Config(
                        parameter_validation=False,
                        retries={"max_attempts": 0, "total_max_attempts": 1},
                        request_checksum_calculation="when_required",
                    ),
                    **credentials,
                    **endpoint,
                )
            if acting_as:
                authorization.enforce(_clients[key], acting_as, region)
        return _clients[key]


def _credentials_for(role_arn: str) -> tuple[dict[str, str], str | None]:
    """The task's credentials and the role whose policies its calls are checked against."""
    pipeline_keys = {"aws_access_key_id": "ak", "aws_secret_access_key": "sk"}
    if not role_arn or role_arn == execution_role_arn:
        return pipeline_keys, execution_role_arn
    if execution_role_arn is None:
        return role_credentials(role_arn), None
    if not authorization.allowed(execution_role_arn, "sts:AssumeRole", role_arn):
        refused.append(f"{execution_role_arn} has no sts:AssumeRole on {role_arn} in its policies")
        return pipeline_keys, execution_role_arn
    try:
        return trust.assume_role(role_arn, execution_role_arn), role_arn
    except trust.TrustDenied as denied:
        refused.append(str(denied))
        return pipeline_keys, execution_role_arn


def _interpreter_modules() -> list[Any]:
    return [
        module
        for name, module in list(sys.modules.items())
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is not None
    ]


def _load_interpreter() -> None:
    """Import every interpreter module now, so none keeps the original factory by name."""
    import moto.stepfunctions.parser.asl as asl

    for info in pkgutil.walk_packages(asl.__path__, prefix="moto.stepfunctions.parser.asl."):
        if ".static_analyser" in info.name:  # unused at run time; one module there fails to import
            continue
        importlib.import_module(info.name)


def install() -> None:
    _load_interpreter()
    with _lock:
        _clients.clear()
        refused.clear()
    authorization.forget()
    for module in _interpreter_modules():
        module.boto_client_for = boto_client_for


def uninstall() -> None:
    for module in _interpreter_modules():
        module.boto_client_for = _original
    with _lock:
        _clients.clear()
