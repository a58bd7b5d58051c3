"""What every response says about itself, and what the API port shows to anyone: security
headers, /metrics behind a token, docs with pinned assets, a readiness probe that reuses
its connection."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.pool import Pool

from api.app import create_app
from api.container import Container
from infrastructure.settings import Settings
from tests.api.conftest import auth
from tests.api.test_errors import _Exploding
from tests.api.test_operations import UNREACHABLE_PG
from tests.conftest import settings_for

METRICS_TOKEN = "a-metrics-token-for-the-tests"


def _client(container: Container, settings: Settings, **changes: Any) -> TestClient:
    container.settings.override(providers.Object(settings.model_copy(update=changes)))
    return TestClient(create_app(container), raise_server_exceptions=False)


# -- headers ----------------------------------------------------------------------------


def test_every_response_says_nosniff(client: TestClient, register, container: Container) -> None:
    alice = register("alice")
    container.comment_service.override(providers.Object(_Exploding()))
    responses = [
        client.get("/api/tags"),
        client.get("/api/articles", headers=auth(alice)),
        client.get("/api/articles/nothing-here"),  # 404
        client.get("/api/user"),  # 401
        client.post("/api/users", content=b"{}", headers={"Content-Length": "99999999"}),  # 413
        client.get("/health/live"),
        client.get("/openapi.json"),
        client.get("/no/such/route"),
        client.get("/api/articles/any/comments"),  # 500
    ]
    assert responses[-1].status_code == 500
    for response in responses:
        assert response.headers.get("X-Content-Type-Options") == "nosniff", response.request.url


def test_responses_that_carry_a_token_are_not_stored(client: TestClient, register) -> None:
    alice = register("alice", password="alice-secret")
    login = {"user": {"email": "alice@example.com", "password": "alice-secret"}}
    carrying_a_token = [
        client.post(
            "/api/users",
            json={"user": {"username": "bob", "email": "bob@example.com", "password": "pw-bob"}},
        ),
        client.post("/api/users/login", json=login),
        client.get("/api/user", headers=auth(alice)),
        client.put("/api/user", json={"user": {"bio": "hi"}}, headers=auth(alice)),
    ]
    for response in carrying_a_token:
        assert response.status_code in (200, 201), response.text
        assert "token" in response.json()["user"]
        assert response.headers.get("Cache-Control") == "no-store", response.request.url


def test_a_response_without_a_token_may_be_cached(client: TestClient) -> None:
    assert "no-store" not in client.get("/api/tags").headers.get("Cache-Control", "")


# -- /metrics -----------------------------------------------------------------------------


def test_metrics_are_not_served_without_a_metrics_token(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 404
    assert "conduit_" not in response.text


def test_metrics_need_the_metrics_token(container: Container, settings: Settings) -> None:
    with _client(container, settings, metrics_token=METRICS_TOKEN) as client:
        missing = client.get("/metrics")
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        as_user = client.get("/metrics", headers={"Authorization": f"Token {METRICS_TOKEN}"})
        right = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for refused in (missing, wrong, as_user):
        assert refused.status_code == 401
        assert "conduit_" not in refused.text
    assert right.status_code == 200
    assert "conduit_http_request_duration_seconds" in right.text


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        settings_for("sqlite://", metrics_token="short")


# -- /docs ----------------------------------------------------------------------------------

EXACT_VERSION = r"@\d+\.\d+\.\d+/"
ASSET = re.compile(r'<(?:script|link)[^>]* (?:src|href)="(https?://[^"]+)"([^>]*)>')


def test_the_docs_load_their_assets_at_exact_versions_and_check_them(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        assets = ASSET.findall(html.text)
        assert any(url.endswith(".js") for url, _ in assets), html.text
        for url, rest in assets:
            if url.endswith((".png", ".ico")):
                continue  # the favicon: an image, it runs nothing
            assert re.search(EXACT_VERSION, url), url
            assert re.search(r'integrity="sha(256|384|512)-[A-Za-z0-9+/=]+"', rest), url
        assert "fonts.googleapis.com" not in html.text


# -- readiness ------------------------------------------------------------------------------


@pytest.fixture
def connections_opened() -> Iterator[list[object]]:
    """Every DBAPI connection any engine opens while the test runs."""
    opened: list[object] = []

    def count(dbapi_connection: object, _record: object) -> None:
        opened.append(dbapi_connection)

    event.listen(Pool, "connect", count)
    try:
        yield opened
    finally:
        event.remove(Pool, "connect", count)


def test_readiness_reuses_one_connection(client: TestClient, connections_opened) -> None:
    statuses = [client.get("/health/ready").status_code for _ in range(30)]

    assert statuses == [200] * 30
    assert len(connections_opened) <= 2, f"{len(connections_opened)} connections for 30 probes"


def test_readiness_of_a_dead_database_stays_503(container: Container) -> None:
    container.settings.override(providers.Object(settings_for(UNREACHABLE_PG)))
    with TestClient(create_app(container)) as client:
        statuses = [client.get("/health/ready").status_code for _ in range(3)]
    assert statuses == [503] * 3
