"""Stack outputs: the contract between deploying and operating.

Every operator command takes ``--outputs FILE`` (what ``pulumi stack output --json`` or
``changetrail local --outputs`` writes) or, without it, asks the Pulumi CLI for the stack's outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REQUIRED = ("state_machine_arn", "dlq_url", "audit_table_name", "archive_bucket_name", "region")
CLIENT_CONFIG = Config(account_id_endpoint_mode="disabled", retries={"max_attempts": 5, "mode": "standard"})


class OutputsError(RuntimeError):
    """The stack outputs could not be read; the message says how to provide them."""


def load_outputs(path: str | None, stack: str) -> dict[str, Any]:
    if path:
        try:
            outputs = json.loads(Path(path).read_text())
        except FileNotFoundError as error:
            raise OutputsError(f"no outputs file {path}; write one with `changetrail local --outputs {path}`") from error
        except json.JSONDecodeError as error:
            raise OutputsError(f"{path} is not JSON ({error.msg}); it should be `pulumi stack output --json`") from error
    else:
        outputs = _pulumi_outputs(stack)
    missing = [key for key in REQUIRED if key not in outputs]
    if missing:
        raise OutputsError(f"stack outputs lack {', '.join(missing)}; is this a changetrail pipeline stack?")
    return outputs


def _pulumi_outputs(stack: str) -> dict[str, Any]:
    try:
        result = subprocess.run(
            ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True, check=False
        )
    except FileNotFoundError as error:
        raise OutputsError("the pulumi CLI is not installed; pass --outputs FILE (from `changetrail local --outputs`)") from error
    if result.returncode != 0:
        raise OutputsError(f"pulumi stack output --stack {stack} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout)


def aws_client(service: str, outputs: dict[str, Any], **credentials: Any) -> Any:
    """A client that honours AWS_ENDPOINT_URL, AWS_PROFILE and AWS_REGION, as boto3 does."""
    session = boto3.session.Session()
    region = os.environ.get("AWS_REGION") or session.region_name or outputs.get("region")
    return session.client(service, region_name=region, config=CLIENT_CONFIG, **credentials)


def sources(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The stack's sources (``sources`` output); stacks deployed before it had the one ``source_*`` set."""
    if outputs.get("sources"):
        return list(outputs["sources"])
    single = {
        "table_name": outputs.get("source_table_name"),
        "stream_arn": outputs.get("source_stream_arn"),
        "stream_failures_queue_url": outputs.get("stream_failures_queue_url"),
    }
    return [single] if single["table_name"] else []


def source_tables(outputs: dict[str, Any]) -> list[str]:
    return [source["table_name"] for source in sources(outputs)]


def check_table(outputs: dict[str, Any], table: str | None) -> str | None:
    """``--table`` must name one of the stack's sources."""
    tables = source_tables(outputs)
    if table is not None and tables and table not in tables:
        raise OutputsError(f"--table {table!r} is not audited by this stack; its tables: {', '.join(tables)}")
    return table
