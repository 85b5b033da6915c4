"""``changetrail local``: the embedded AWS as a real endpoint on 127.0.0.1, serving the stack."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from changetrail.embedded import EmbeddedAws

DEFAULT_PORT = 4599
POLL_SECONDS = 0.2


class PortInUseError(RuntimeError):
    pass


def ensure_port_free(port: int, option: str = "--port") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise PortInUseError(f"port {port} on 127.0.0.1 is in use; choose another with {option}") from error


class LocalEndpoint:
    """The stack in moto behind moto's HTTP server, with the stream delivered continuously."""

    def __init__(self, stack: str, port: int, console_port: int | None = None) -> None:
        # Here, not at the top: the CLI imports this module for every command, and only this one needs moto.
        from changetrail.embedded import EmbeddedAws

        self.stack, self.port = stack, port
        self.console_port = console_port
        """None: ``port + 1``, or any free port when that one is taken (the URL is printed and in the outputs)."""
        self.aws: EmbeddedAws = EmbeddedAws(stack)
        self.server: Any = None
        self.console: Any = None
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> dict[str, Any]:
        ensure_port_free(self.port)
        if self.console_port is not None:
            ensure_port_free(self.console_port, "--console-port")
        # In-process handlers must use the embedded AWS, whatever the caller's shell points at.
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self.aws.start()
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self._pump = threading.Thread(target=self._deliver, name="stream-poller", daemon=True)
        self._pump.start()
        outputs = {**self.aws.outputs, "endpoint_url": self.endpoint_url}
        self.console = self._start_console(outputs)
        return {**outputs, "console_url": self.console.url}

    def _start_console(self, outputs: dict[str, Any]) -> Any:
        """The console page beside the endpoint, in this process (its clients reach the embedded AWS directly)."""
        from changetrail import console
        from changetrail.embedded.accounts import ENVIRONMENT_LOCK
        from changetrail.executions import InterpreterHistory

        machine = outputs["state_machine_arn"]
        history = lambda clients: InterpreterHistory(clients.get("stepfunctions"), machine)  # noqa: E731
        if self.console_port is not None:
            return console.start(outputs, history, self.console_port, ENVIRONMENT_LOCK)
        try:
            return console.start(outputs, history, self.port + 1, ENVIRONMENT_LOCK)
        except OSError:  # taken: any free port will do, the URL is printed and written to the outputs
            return console.start(outputs, history, 0, ENVIRONMENT_LOCK)

    def _deliver(self) -> None:
        while not self._stop.is_set():
            try:
                self.aws.pump(wait_for_batches=True)
                self.aws.publish_execution_logs()
            except Exception:
                logging.getLogger("changetrail.local").exception("stream delivery failed")
            self._stop.wait(POLL_SECONDS)

    def stop(self) -> None:
        if self.console:
            self.console.stop()
        self._stop.set()
        if self._pump:
            self._pump.join(timeout=5)
        if self.server:
            self.server.stop()
        self.aws.stop()


def serve(stack: str, port: int, outputs_path: str | None, say: Callable[[str], None], console_port: int | None = None) -> None:
    """Run until SIGINT/SIGTERM; writes the outputs file once the stack is ready."""
    ensure_port_free(port)
    if console_port is not None:
        ensure_port_free(console_port, "--console-port")
    endpoint = LocalEndpoint(stack, port, console_port)
    started = time.perf_counter()
    say(f"deploying stack '{stack}' into the embedded AWS ...")
    outputs = endpoint.start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        if outputs_path:
            Path(outputs_path).write_text(json.dumps(outputs, indent=2) + "\n")
        resources = len(endpoint.aws.registry.resources)
        say(f"ready in {time.perf_counter() - started:.1f}s: {resources} resources at {endpoint.endpoint_url}")
        for key, value in outputs.items():
            say(f"  {key:<28} {value}")
        if outputs_path:
            say(f"outputs written to {outputs_path}")
        say(
            f"try: AWS_ENDPOINT_URL={endpoint.endpoint_url} aws dynamodb put-item --table-name {outputs['source_table_name']} "
            '--item \'{"key":{"S":"K"},"value":{"N":"1"}}\''
        )
        say(f"console: {outputs['console_url']}  (executions, dead letters, item history)")
        for line in archive_hint(outputs):
            say(line)
        say("Ctrl-C to stop")
        stopping.wait()
    finally:
        say("stopping ...")
        endpoint.stop()


def archive_hint(outputs: dict[str, Any]) -> list[str]:
    """How to read the archive: as on AWS, its account refuses the pipeline account; the reader role is the way."""
    url = outputs.get("endpoint_url", "")
    return [
        f"archive: s3://{outputs['archive_bucket_name']} (account {outputs['archive_account_id']}) refuses the pipeline "
        "account's keys, as on AWS; read it as the reader role:",
        f"  aws --endpoint-url {url} sts assume-role --role-arn {outputs['archive_reader_role_arn']} --role-session-name reader",
        "  then use the returned AccessKeyId/SecretAccessKey/SessionToken with aws s3 ls/cp (README: 'Reading the archive')",
    ]
