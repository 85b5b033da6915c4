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


def ensure_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise PortInUseError(f"port {port} on 127.0.0.1 is in use; choose another with --port") from error


class LocalEndpoint:
    """The stack in moto behind moto's HTTP server, with the stream delivered continuously."""

    def __init__(self, stack: str, port: int) -> None:
        # Here, not at the top: the CLI imports this module for every command, and only this one needs moto.
        from changetrail.embedded import EmbeddedAws

        self.stack, self.port = stack, port
        self.aws: EmbeddedAws = EmbeddedAws(stack)
        self.server: Any = None
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> dict[str, Any]:
        ensure_port_free(self.port)
        # In-process handlers must use the embedded AWS, whatever the caller's shell points at.
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self.aws.start()
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self._pump = threading.Thread(target=self._deliver, name="stream-poller", daemon=True)
        self._pump.start()
        return {**self.aws.outputs, "endpoint_url": self.endpoint_url}

    def _deliver(self) -> None:
        while not self._stop.is_set():
            try:
                self.aws.pump()
                self.aws.publish_execution_logs()
            except Exception:
                logging.getLogger("changetrail.local").exception("stream delivery failed")
            self._stop.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._stop.set()
        if self._pump:
            self._pump.join(timeout=5)
        if self.server:
            self.server.stop()
        self.aws.stop()


def serve(stack: str, port: int, outputs_path: str | None, say: Callable[[str], None]) -> None:
    """Run until SIGINT/SIGTERM; writes the outputs file once the stack is ready."""
    ensure_port_free(port)
    endpoint = LocalEndpoint(stack, port)
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
        say("Ctrl-C to stop")
        stopping.wait()
    finally:
        say("stopping ...")
        endpoint.stop()
