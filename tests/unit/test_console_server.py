"""The console's HTTP layer: the page, routing to the API, and the guards of a server acting with operator credentials."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from changetrail.console import ConsoleError, ConsoleServer
from changetrail.executions import NoSuchExecutionError


class FakeConsole:
    """Answers like ``Console`` without AWS; records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        def answer(*args: Any) -> Any:
            self.asked.append((name, args))
            if name == "execution" and args[0] == "missing":
                raise NoSuchExecutionError("no execution missing of machine")
            if name == "redrive" and args[0].get("confirm") == "stale":
                raise ConsoleError(409, "this confirmation is unknown, used or expired")
            return {"called": name}

        return answer


@pytest.fixture
def server():
    console = FakeConsole()
    running = ConsoleServer(console, 0).start()  # type: ignore[arg-type]
    yield running, console
    running.stop()


def request(server: ConsoleServer, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, dict, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    payload = json.dumps(body).encode() if body is not None else None
    connection.request(method, path, body=payload, headers={"Host": f"127.0.0.1:{server.port}", **headers})
    response = connection.getresponse()
    raw = response.read()
    kind = response.getheader("Content-Type", "")
    connection.close()
    return response.status, dict(response.getheaders()), json.loads(raw) if kind == "application/json" else raw.decode()


def test_the_page_and_its_assets_come_from_the_package_and_name_nothing_outside(server):
    running, _ = server
    status, headers, page = request(running, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "/static/console.js" in page and "/static/console.css" in page
    for asset in ("/static/console.js", "/static/console.css"):
        status, headers, text = request(running, "GET", asset)
        assert status == 200 and "http://" not in text.replace("http://www.w3.org", "") and "https://" not in text
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert running.url == f"http://127.0.0.1:{running.port}/"


def test_api_routes_reach_the_console_with_their_parameters(server):
    running, console = server
    assert request(running, "GET", "/api/executions?status=FAILED&limit=5")[2] == {"called": "executions"}
    request(running, "GET", "/api/executions?table=orders.v2")
    request(running, "GET", "/api/executions/chg-1%3Ax")
    request(running, "GET", "/api/history?key=K%7C1&table=T")
    request(running, "GET", "/api/archive-line?table=T&time=2026-01-01T00:00Z&sequence=12&eventId=e")
    request(running, "GET", "/api/dead-letters")
    request(running, "GET", "/api/dead-letters?table=Beta")
    request(running, "POST", "/api/redrive", {"error": "S3.S3Exception"}, **{"Content-Type": "application/json"})
    assert console.asked == [
        ("executions", ("FAILED", 5, None)),
        ("executions", (None, 25, "orders.v2")),
        ("execution", ("chg-1:x",)),
        ("history", ("K|1", "T", 100)),
        ("archive_line", ("T", "2026-01-01T00:00Z", "12", "e")),
        ("dead_letters", (100, None)),
        ("dead_letters", (100, "Beta")),
        ("redrive", ({"error": "S3.S3Exception"},)),
    ]


def test_errors_are_json_with_the_status_that_says_what_went_wrong(server):
    running, _ = server
    assert request(running, "GET", "/api/executions/missing")[:3:2] == (404, {"error": "no execution missing of machine"})
    assert request(running, "GET", "/api/nothing")[0] == 404
    assert request(running, "GET", "/api/executions?limit=lots")[0] == 400
    stale = request(running, "POST", "/api/redrive", {"confirm": "stale"}, **{"Content-Type": "application/json"})
    assert stale[0] == 409 and "expired" in stale[2]["error"]


def test_a_request_for_another_host_name_is_refused_so_a_rebound_dns_name_reaches_nothing(server):
    running, console = server
    status, _, body = request(running, "GET", "/api/dead-letters", Host="attacker.example:80")
    assert status == 421 and "127.0.0.1 or localhost" in body["error"]
    assert request(running, "GET", "/api/info", Host=f"localhost:{running.port}")[0] == 200
    assert [name for name, _ in console.asked] == ["info"]


def test_a_redrive_is_taken_only_as_json_which_another_sites_form_cannot_send(server):
    running, console = server
    status, _, body = request(running, "POST", "/api/redrive", {"confirm": "x"}, **{"Content-Type": "text/plain"})
    assert status == 415 and "application/json" in body["error"]
    assert console.asked == []
