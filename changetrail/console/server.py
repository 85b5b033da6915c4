"""The console over HTTP: the page and its JSON API, on 127.0.0.1 only, with the standard library's server.

Routes (all JSON but the page and its two static files):

- ``GET /``, ``GET /static/console.js``, ``GET /static/console.css``: the page (package data;
  nothing is fetched from the internet, by the server or by the page);
- ``GET /api/info``: the stack's names; ``GET /api/graph``: the deployed state machine, uncoloured;
- ``GET /api/executions?status=FAILED&limit=25&table=T``; ``GET /api/executions/<name>``;
- ``GET /api/dead-letters?table=T``; ``POST /api/redrive`` ``{"error": ..., "table": ...}`` (dry run) or ``{"confirm": <token>}``;
- ``GET /api/history?key=K&table=T&limit=N``; ``GET /api/archive-line?table=&time=&sequence=&eventId=``.

The console acts with the operator's credentials, so it answers only requests addressed to
127.0.0.1/localhost (no DNS rebinding) and takes POSTs only as ``application/json`` (which a page
of another origin cannot send without a CORS preflight that this server never grants).
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from changetrail.console.api import Console, ConsoleError
from changetrail.executions import NoSuchExecutionError

STATIC = Path(__file__).with_name("static")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
MAX_BODY = 64 * 1024
POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'"
"""Only the console's own files: the page loads nothing from elsewhere, and nothing injected would run."""
HOST = "127.0.0.1"
log = logging.getLogger("changetrail.console")


class ConsoleServer(ThreadingHTTPServer):
    """Serves one ``Console`` on ``127.0.0.1:port`` (port 0: any free port) from a background thread."""

    daemon_threads = True

    def __init__(self, console: Console, port: int = 0) -> None:
        self.console = console
        self.files = {f"/static/{p.name}": p for p in STATIC.iterdir() if p.suffix in CONTENT_TYPES}
        self.files["/"] = STATIC / "index.html"
        super().__init__((HOST, port), ConsoleHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(target=self.serve_forever, name="console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)


class ConsoleHandler(BaseHTTPRequestHandler):
    server: ConsoleServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    # -- dispatch --------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _answer(self, route: Any) -> None:
        try:
            if not self._addressed_to_us():
                raise ConsoleError(HTTPStatus.MISDIRECTED_REQUEST, "the console answers only requests to 127.0.0.1 or localhost")
            route(urlsplit(self.path))
        except ConsoleError as error:
            self._json({"error": str(error)}, error.status)
        except NoSuchExecutionError as error:
            self._json({"error": str(error)}, HTTPStatus.NOT_FOUND)
        except (ClientError, BotoCoreError) as error:
            self._json({"error": f"AWS said: {error}"}, HTTPStatus.BAD_GATEWAY)
        except Exception as error:  # one request fails, the console stays up
            log.exception("console request %s failed", self.path)
            self._json({"error": f"{type(error).__name__}: {error}"}, HTTPStatus.INTERNAL_SERVER_ERROR)

    def _addressed_to_us(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in ("127.0.0.1", "localhost", "::1")

    def _get(self, url: Any) -> None:
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        console = self.server.console
        if path in self.server.files:
            return self._file(self.server.files[path])
        if path == "/api/info":
            return self._json(console.info())
        if path == "/api/graph":
            return self._json(console.graph())
        if path == "/api/executions":
            return self._json(
                console.executions(query.get("status") or None, _number(query, "limit", 25), query.get("table") or None)
            )
        if path.startswith("/api/executions/"):
            return self._json(console.execution(unquote(path.removeprefix("/api/executions/"))))
        if path == "/api/dead-letters":
            return self._json(console.dead_letters(_number(query, "limit", 100), query.get("table") or None))
        if path == "/api/history":
            return self._json(console.history(query.get("key", ""), query.get("table") or None, _number(query, "limit", 100)))
        if path == "/api/archive-line":
            fields = (query.get(name, "") for name in ("table", "time", "sequence", "eventId"))
            return self._json(console.archive_line(*fields))
        raise ConsoleError(HTTPStatus.NOT_FOUND, f"no such page or API: {path}")

    def _post(self, url: Any) -> None:
        if url.path != "/api/redrive":
            raise ConsoleError(HTTPStatus.NOT_FOUND, f"no such API: {url.path}")
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise ConsoleError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the request as application/json")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ConsoleError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as error:
            raise ConsoleError(HTTPStatus.BAD_REQUEST, f"the request is not JSON: {error.msg}") from error
        if not isinstance(request, dict):
            raise ConsoleError(HTTPStatus.BAD_REQUEST, "the request must be a JSON object")
        self._json(self.server.console.redrive(request))

    # -- responses -------------------------------------------------------------------------
    def _send(self, body: bytes, content_type: str, status: int = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", POLICY)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, data: Any, status: int = HTTPStatus.OK) -> None:
        self._send(json.dumps(data, default=str).encode(), "application/json", status)

    def _file(self, path: Path) -> None:
        self._send(path.read_bytes(), CONTENT_TYPES[path.suffix])


def _number(query: dict[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if not text:
        return default
    if not text.isdigit():
        raise ConsoleError(HTTPStatus.BAD_REQUEST, f"{name} must be a whole number, got {text!r}")
    return int(text)
