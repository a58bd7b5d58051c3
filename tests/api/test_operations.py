"""Probes, metrics, the per-request log line, CORS, and the limits in front of the API."""

import gc
import json
import logging
import time

import anyio
import httpx
import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from api.app import create_app
from api.middleware import Admission
from domain import messages
from infrastructure.settings import Settings
from tests.api.conftest import auth
from tests.conftest import settings_for

UNREACHABLE_PG = "postgresql+psycopg://conduit@127.0.0.1:9/nowhere"  # port 9: discard, closed


def test_liveness_answers_without_the_database(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}


def test_readiness_pings_the_database(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_fails_fast_when_the_database_is_unreachable(container) -> None:
    container.settings.override(providers.Object(settings_for(UNREACHABLE_PG)))
    with TestClient(create_app(container)) as client:
        started = time.monotonic()
        response = client.get("/health/ready")
        assert time.monotonic() - started < 2
        live = client.get("/health/live")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json() == {"errors": {"body": ["database unreachable"]}}
    assert live.status_code == 200


def test_metrics_report_requests_pool_and_sessions(container, settings) -> None:
    token = "a-metrics-token-for-the-tests"
    container.settings.override(
        providers.Object(settings.model_copy(update={"metrics_token": token}))
    )
    with TestClient(create_app(container)) as client:
        user = {"username": "alice", "email": "alice@example.com", "password": "secret"}
        alice = client.post("/api/users", json={"user": user}).json()["user"]
        for _ in range(3):
            client.get("/api/articles", headers=auth(alice))
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert (
        'conduit_http_request_duration_seconds_count{method="GET",route="/api/articles",'
        'status="200"} 3.0' in text
    )
    assert "conduit_db_pool_checked_out 0.0" in text
    assert "conduit_db_pool_size" in text
    # The registration's session; the lists, read-only units, hold a connection and no session.
    opened = _sample(text, "conduit_db_sessions_opened_total")
    assert opened >= 1
    assert _sample(text, "conduit_db_sessions_closed_total") == opened
    assert _sample(text, "conduit_db_statements_total") >= 4  # registration + 3 lists


def _sample(text: str, name: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(name + " "))
    return float(line.split()[1])


def test_one_structured_log_line_per_request(
    client: TestClient, register, caplog: pytest.LogCaptureFixture
) -> None:
    alice = register("alice")
    with caplog.at_level(logging.INFO, logger="conduit.request"):
        client.get("/api/articles?limit=5", headers={**auth(alice), "X-Request-ID": "req-1"})
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "conduit.request"]
    assert line["method"] == "GET"
    assert line["route"] == "/api/articles"
    assert line["status"] == 200
    assert line["request_id"] == "req-1"
    assert line["sql_statements"] >= 1
    assert line["duration_ms"] > 0


@pytest.mark.parametrize("offered", ["", "x" * 65, "bad id", "<script>"])
def test_an_invalid_client_request_id_is_replaced(client: TestClient, offered: str) -> None:
    response = client.get("/api/tags", headers={"X-Request-ID": offered})
    assert response.headers["X-Request-ID"] not in ("", offered)
    assert len(response.headers["X-Request-ID"]) == 32


def test_a_body_announced_too_large_is_refused_before_it_is_read(
    client: TestClient, settings: Settings
) -> None:
    response = client.post(
        "/api/users",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(10 * 1024 * 1024)},
    )
    assert response.status_code == 413
    assert response.json()["errors"]["body"][0] == messages.body_too_large(settings.max_body_bytes)


def test_a_streamed_body_too_large_is_refused(client: TestClient) -> None:
    def chunks():
        for _ in range(2048):
            yield b"x" * 1024

    response = client.post(
        "/api/users", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


def test_objects_made_at_start_up_are_frozen_out_of_the_garbage_collector(container) -> None:
    with TestClient(create_app(container)):
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_cors_is_off_unless_configured(client: TestClient) -> None:
    response = client.get("/api/tags", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_allows_the_configured_origins(container, settings) -> None:
    container.settings.override(
        providers.Object(settings.model_copy(update={"cors_origins": ["https://app.example.com"]}))
    )
    with TestClient(create_app(container)) as client:
        preflight = client.options(
            "/api/articles",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Authorization, Content-Type",
            },
        )
        other = client.get("/api/tags", headers={"Origin": "https://evil.example.com"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers


def _admission(app: ASGIApp) -> Admission:
    """One slot in each lane; ``POST /api/login`` is the password lane's route."""
    return Admission(
        app,
        max_bytes=1024,
        slots=1,
        password_slots=1,
        password_routes=frozenset({("POST", "/api/login")}),
        timeout=0.3,
    )


def test_requests_beyond_the_admission_limit_get_503_after_the_timeout() -> None:
    """One slot, held by a slow request: the next waits ``timeout`` seconds, then 503."""
    release = anyio.Event()

    async def slow_app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["path"] == "/api/slow":
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    app = _admission(slow_app)

    async def scenario() -> tuple[int, float, int, int, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(client.get, "/api/slow")
                await anyio.sleep(0.05)
                started = time.monotonic()
                refused = await client.get("/api/other")
                waited = time.monotonic() - started
                probe = await client.get("/health/live")  # outside /api: never waits
                login = await client.post("/api/login", content=b"{}")  # its own lane
                release.set()
            after = await client.get("/api/other")
        assert refused.headers["Retry-After"] == "1"
        return refused.status_code, waited, probe.status_code, login.status_code, after.status_code

    refused, waited, probe, login, after = anyio.run(scenario)
    assert refused == 503
    assert 0.25 < waited < 1.0
    assert probe == 200
    assert login == 200
    assert after == 200


def test_a_request_whose_body_is_still_arriving_holds_no_slot() -> None:
    """The only slot stays free while a body trickles in; the app then gets it whole."""
    more = anyio.Event()
    seen: list[bytes] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        message = await receive()
        seen.append(message["body"])
        assert not message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    admission = _admission(app)

    async def call(path: str, chunks: list[bytes], wait_before_last: bool) -> int:
        messages = [
            {"type": "http.request", "body": chunk, "more_body": n < len(chunks) - 1}
            for n, chunk in enumerate(chunks)
        ]
        status = 0

        async def receive():  # type: ignore[no-untyped-def]
            if wait_before_last and len(messages) == 1:
                await more.wait()
            return messages.pop(0)

        async def send(message) -> None:  # type: ignore[no-untyped-def]
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        length = str(sum(len(c) for c in chunks)).encode()
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": [(b"content-length", length)],
        }
        await admission(scope, receive, send)
        return status

    async def scenario() -> tuple[int, int]:
        results: dict[str, int] = {}

        async def slow() -> None:
            results["slow"] = await call("/api/slow", [b'{"a"', b": 1}"], wait_before_last=True)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(slow)
            await anyio.sleep(0.05)
            # Admitted at once: the slow one has not taken the only slot.
            with anyio.fail_after(5):
                fast = await call("/api/fast", [b"{}"], wait_before_last=False)
            more.set()
        return fast, results["slow"]

    assert anyio.run(scenario) == (200, 200)
    assert seen == [b"{}", b'{"a": 1}']
