"""The local console: executions, dead letters and item history in the browser.

``changetrail local`` serves it beside the embedded AWS (``console_url`` in the outputs);
``changetrail console --outputs FILE`` serves it against any deployed stack, reading what the CLI
reads. ``graph`` draws the deployed state machine, ``api`` answers over the operator library,
``server`` is the HTTP layer, ``static/`` the page (no asset comes from the internet).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from changetrail.console.api import Clients, Console, ConsoleError
from changetrail.console.server import ConsoleServer
from changetrail.executions import ExecutionSource

__all__ = ["Clients", "Console", "ConsoleError", "ConsoleServer", "start"]


def start(
    outputs: dict[str, Any],
    history_source: Callable[[Clients], ExecutionSource],
    port: int = 0,
    guard: AbstractContextManager[Any] | None = None,
) -> ConsoleServer:
    """Serve the console for a stack on ``127.0.0.1:port`` from a background thread; returns the running server.

    ``history_source`` makes the execution source from the console's clients (once per request).
    """
    clients = Clients(outputs, guard)
    return ConsoleServer(Console(outputs, clients, lambda: history_source(clients)), port).start()


def serve(
    outputs: dict[str, Any],
    history_source: Callable[[Clients], ExecutionSource],
    port: int,
    say: Callable[[str], None],
) -> None:
    """``changetrail console``: serve until SIGINT/SIGTERM."""
    import signal
    import threading

    server = start(outputs, history_source, port)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        say(f"console for stack '{outputs.get('stack', '?')}' ({outputs.get('region', '?')}): {server.url}")
        say("Ctrl-C to stop")
        stopping.wait()
    finally:
        server.stop()
