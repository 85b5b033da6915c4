"""Write finished executions to the state machine's log group in AWS's Express log format.

AWS delivers Express execution history only to CloudWatch Logs (per the logging configuration:
level ALL/ERROR/FATAL, execution data in or out). moto keeps history in memory instead; this
turns it into the same log events, so the logs-based views work on the embedded AWS too. The
events go straight into moto's log store, as AWS's own delivery does (through ``PutLogEvents``,
moto's request parsing of every execution's data cost a tenth of the pipeline's time), and
``ingested_bytes`` counts what CloudWatch Logs bills: each message's UTF-8 bytes plus 26.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from enum import Enum
from typing import Any

from moto.logs.models import logs_backends
from moto.stepfunctions.parser.api import HistoryEventType, LogLevel
from moto.stepfunctions.parser.asl.eval.event.logging import is_logging_enabled_for
from moto.stepfunctions.responses import get_backend

from changetrail.embedded.accounts import client

EVENT_OVERHEAD_BYTES = 26
"""CloudWatch Logs sizes an event as its message's UTF-8 bytes plus 26."""
DATA_KEYS = ("input", "inputDetails", "output", "outputDetails", "parameters", "result", "resultDetails")


def express_arn(execution_arn: str) -> str:
    """The execution's ARN as AWS logs it: ``...:express:<machine>:<name>:<id>``.

    Express executions carry that ARN from their start (``express.py``), the one their
    ``$$.Execution.Id`` has too, and it is logged unchanged; a Standard-form ARN gets a stable id.
    """
    if ":express:" in execution_arn:
        return execution_arn
    prefix, machine, name = execution_arn.rsplit(":", 2)
    return f"{prefix.removesuffix(':execution')}:express:{machine}:{name}:{uuid.uuid5(uuid.NAMESPACE_URL, execution_arn)}"


def log_event(event: dict[str, Any], arn: str, include_data: bool) -> dict[str, Any]:
    details = next((dict(value) for key, value in event.items() if key.endswith("EventDetails")), {})
    if not include_data:
        details = {k: v for k, v in details.items() if k not in DATA_KEYS}
    message = {
        "id": str(event["id"]),
        "type": event["type"],
        "details": details,
        "previous_event_id": str(event.get("previousEventId", 0)),
        "event_timestamp": str(int(event["timestamp"].timestamp() * 1000)),
        "execution_arn": arn,
        "redrive_count": "0",
    }
    return {"timestamp": int(message["event_timestamp"]), "message": json.dumps(message, default=str)}


def data_size(event: dict[str, Any]) -> int:
    """Bytes of execution data one history event puts into its log message."""
    details: dict[str, Any] = next((value for key, value in event.items() if key.endswith("EventDetails")), {})
    return sum(len(json.dumps(details[key], default=str).encode()) for key in DATA_KEYS if key in details)


def wanted(event_type: str, level: str) -> bool:
    """Whether AWS logs an event of this type at this level: moto's copy of AWS's event sets per level
    (ERROR: failures, timeouts, aborts and Fail states; FATAL: the execution's own failure)."""
    try:
        return bool(is_logging_enabled_for(LogLevel(level), HistoryEventType(event_type)))
    except ValueError:  # a level or event type moto does not know
        return level == LogLevel.ALL


def execution_history(execution_arn: str) -> list[dict[str, Any]]:
    """Every history event of one execution, as ``GetExecutionHistory`` returns them, read from the
    interpreter in-process: through the API, moto's response serializer costs more than the whole
    execution did (this runs for every execution)."""
    _, _, _, region, account, _ = execution_arn.split(":", 5)
    events = get_backend(account, region).get_execution_history(execution_arn)["events"]
    return [
        {
            **event,
            "type": event["type"].value if isinstance(event["type"], Enum) else event["type"],
            "timestamp": datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            if isinstance(event["timestamp"], str)
            else event["timestamp"],
        }
        for event in events
    ]


def _status(execution: Any) -> str:
    status = getattr(execution, "exec_status", None) or getattr(execution, "status", None) or ""
    return str(status.value if isinstance(status, Enum) else status)


class ExecutionLogPublisher:
    def __init__(self, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.published: set[str] = set()
        self.ingested_bytes = 0
        self.data_bytes = 0
        """Of ``ingested_bytes``, the execution data (inputs, outputs, parameters) the events carried."""
        self._sfn = client("stepfunctions")

    def publish_new(self) -> int:
        """Log the executions that finished since the last call, found in-process (no API listing of them all)."""
        _, _, _, region, account, _ = self.state_machine_arn.split(":", 5)
        machine = get_backend(account, region).describe_state_machine(self.state_machine_arn)
        finished = [
            {"executionArn": e.execution_arn, "status": status, "startDate": e.start_date}
            for e in list(machine.executions)
            if e.execution_arn not in self.published and (status := _status(e)) not in ("RUNNING", "")
        ]
        return self.publish(finished) if finished else 0

    def publish(self, executions: list[dict[str, Any]]) -> int:
        """Log every finished execution not logged yet; returns how many were written."""
        config = self._sfn.describe_state_machine(stateMachineArn=self.state_machine_arn).get("loggingConfiguration", {})
        level = config.get("level", "OFF")
        destinations = config.get("destinations") or []
        if level == "OFF" or not destinations:
            return 0
        group = destinations[0]["cloudWatchLogsLogGroup"]["logGroupArn"].split(":log-group:")[1].removesuffix(":*")
        _, _, _, region, account, _, machine = self.state_machine_arn.split(":", 6)
        logs = logs_backends[account][region]
        written = 0
        for execution in executions:
            arn = execution["executionArn"]
            if arn in self.published or execution["status"] == "RUNNING":
                continue
            history = execution_history(arn)
            logged = express_arn(arn)
            include = bool(config.get("includeExecutionData"))
            events = [log_event(e, logged, include) for e in history if wanted(e["type"], level)]
            stream = f"states/{machine}/{execution['startDate']:%Y-%m-%d}/{logged.rsplit(':', 1)[-1]}"
            logs.create_log_stream(group, stream)
            if events:
                logs.put_log_events(group, stream, events)
                self.ingested_bytes += sum(len(e["message"].encode()) + EVENT_OVERHEAD_BYTES for e in events)
                if include:
                    self.data_bytes += sum(data_size(e) for e in history if wanted(e["type"], level))
            self.published.add(arn)
            written += 1
        return written
