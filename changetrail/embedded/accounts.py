"""The two moto accounts of the embedded AWS and boto3 clients that act in either of them."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

PIPELINE_ACCOUNT = "123456789012"
"""moto's default account: the source tables, functions and state machine live here."""
ARCHIVE_ACCOUNT = "222222222222"
REGION = "us-east-1"
# botocore routes StreamArn calls to an account-based endpoint moto does not serve.
CLIENT_CONFIG = Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 2, "mode": "standard"})

_lock = threading.Lock()
ENVIRONMENT_LOCK = threading.RLock()
"""Held while in-process handlers change ``os.environ`` and while boto3 creates a client (which
iterates ``os.environ``): one thread's iteration must never see another thread's handler environment
come or go."""
_credentials: dict[str, dict[str, str]] = {}


def assume(role_arn: str, caller: dict[str, str] | None = None, session_name: str = "changetrail-embedded") -> dict[str, str]:
    """boto3 keyword credentials of ``role_arn``, assumed with ``caller``'s credentials (default: the harness's)."""
    with ENVIRONMENT_LOCK:
        sts = boto3.client("sts", region_name=REGION, config=CLIENT_CONFIG, **(caller or {}))
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


def role_credentials(role_arn: str) -> dict[str, str]:
    """Credentials of an assumed role, once per role; moto maps them to the role's account."""
    with _lock:
        if role_arn not in _credentials:
            _credentials[role_arn] = assume(role_arn)
        return _credentials[role_arn]


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def client(service: str, account: str = PIPELINE_ACCOUNT, region: str = REGION, **kwargs: Any) -> Any:
    """A boto3 client acting in ``account`` (through an assumed deploy role for other accounts)."""
    credentials = {} if account == PIPELINE_ACCOUNT else role_credentials(deploy_role_arn(account))
    with ENVIRONMENT_LOCK:
        return boto3.client(service, region_name=region, config=CLIENT_CONFIG, **credentials, **kwargs)


def deploy_role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"


def forget_credentials() -> None:
    with _lock:
        _credentials.clear()
