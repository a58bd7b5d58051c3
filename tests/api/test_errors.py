"""Errors leave in the spec's shape; the API documents itself."""

import logging
import re

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from api.container import Container
from application.errors import (
    ConcurrentUpdate,
    NotAuthenticated,
    TemporarilyUnavailable,
    TooManyAttempts,
)
from domain import messages
from domain.errors import (
    AlreadyExists,
    Forbidden,
    InvalidCredentials,
    NotFound,
    ValidationFailed,
)
from tests.api.conftest import assert_error


class _Exploding:
    """An article service whose every use case fails with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error or RuntimeError("boom secret")

    def __getattr__(self, name: str) -> object:
        def explode(*_args: object, **_kwargs: object) -> None:
            raise self.error

        return explode


def test_unknown_route_is_not_found(client: TestClient) -> None:
    response = client.get("/api/no-such-thing")

    assert assert_error(response, 404) == [messages.NOT_FOUND]


def test_unknown_route_outside_the_api_is_not_found(client: TestClient) -> None:
    response = client.post("/no-such-thing", json={})

    assert_error(response, 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/tags", "GET"),
        # One route per method in the app: the answer names those of every route of the path.
        ("PATCH", "/api/articles/some-slug", "DELETE, GET, PUT"),
        ("GET", "/api/articles/some-slug/favorite", "DELETE, POST"),
    ],
)
def test_method_not_allowed_is_405_with_every_allowed_method(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)

    assert assert_error(response, 405) == ["Method Not Allowed"]
    assert response.headers["Allow"] == allowed


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        (ValidationFailed("v"), 422, {}),
        (AlreadyExists("a"), 422, {}),
        (NotFound("n"), 404, {}),
        (Forbidden("f"), 403, {}),
        (InvalidCredentials("i"), 401, {}),
        (NotAuthenticated("t"), 401, {"WWW-Authenticate": "Token"}),
        (TooManyAttempts("m", retry_after=7), 429, {"Retry-After": "7"}),
        (TemporarilyUnavailable("u"), 503, {"Retry-After": "1"}),
        # Write use cases retry a lost race; one that escapes is a 503 too, never a 409.
        (ConcurrentUpdate("c"), 503, {"Retry-After": "1"}),
    ],
)
def test_each_kind_of_error_has_one_status(
    client: TestClient, container: Container, error: Exception, status: int, headers: dict[str, str]
) -> None:
    container.article_service.override(providers.Object(_Exploding(error)))

    response = client.get("/api/tags")

    assert assert_error(response, status) == [str(error)]
    assert {name: response.headers.get(name) for name in headers} == headers


def test_a_503_logs_its_cause_under_the_request_id(
    client: TestClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    # What the unit of work raises for a database that cannot serve: the driver's error is
    # the cause. The client is told only that it may retry; the operator reads why.
    try:
        raise TemporarilyUnavailable("u") from OSError("server closed the connection")
    except TemporarilyUnavailable as error:
        unavailable = error
    container.article_service.override(providers.Object(_Exploding(unavailable)))

    with caplog.at_level(logging.WARNING, logger="conduit.errors"):
        response = client.get("/api/tags", headers={"X-Request-ID": "client-id-42"})

    assert assert_error(response, 503) == ["u"]
    assert "server closed" not in response.text
    [record] = [r for r in caplog.records if r.name == "conduit.errors"]
    assert record.levelno == logging.WARNING
    assert "client-id-42" in record.getMessage()
    assert "server closed the connection" in record.getMessage()
    assert record.exc_info is None  # a condition, not a bug: one line, no traceback


def test_unexpected_error_is_500_with_a_request_id_and_no_details(
    client: TestClient, container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    container.article_service.override(providers.Object(_Exploding()))

    with caplog.at_level(logging.ERROR, logger="conduit.errors"):
        response = client.get("/api/tags")

    [message] = assert_error(response, 500)
    match = re.fullmatch(r"internal error \(request id ([0-9a-f]{32})\)", message)
    assert match, message
    assert "boom secret" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    # The details go to the log, under the same request id.
    [record] = [r for r in caplog.records if r.name == "conduit.errors"]
    assert match.group(1) in record.getMessage()
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "boom secret"


def test_unexpected_error_reports_the_request_id_the_client_sent(
    client: TestClient, container: Container
) -> None:
    container.article_service.override(providers.Object(_Exploding()))

    response = client.get("/api/tags", headers={"X-Request-ID": "client-id-42"})

    assert assert_error(response, 500) == ["internal error (request id client-id-42)"]


def test_unexpected_error_echoes_the_request_id_header(
    client: TestClient, container: Container
) -> None:
    container.article_service.override(providers.Object(_Exploding()))

    response = client.get("/api/tags", headers={"X-Request-ID": "client-id-42"})

    assert assert_error(response, 500) == ["internal error (request id client-id-42)"]
    assert response.headers.get("X-Request-ID") == "client-id-42"


def test_every_other_response_echoes_the_request_id_header(client: TestClient) -> None:
    ok = client.get("/api/tags", headers={"X-Request-ID": "client-id-42"})
    not_found = client.get("/api/nope", headers={"X-Request-ID": "client-id-43"})
    generated = client.get("/api/tags")

    assert (ok.status_code, ok.headers["X-Request-ID"]) == (200, "client-id-42")
    assert_error(not_found, 404)
    assert not_found.headers["X-Request-ID"] == "client-id-43"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["X-Request-ID"])


def test_oversize_request_body_is_413_and_nothing_is_created(client: TestClient) -> None:
    huge = {"user": {"username": "alice", "email": "alice@example.com", "password": "x" * 2**21}}

    response = client.post("/api/users", json=huge)

    assert_error(response, 413)
    assert_error(client.get("/api/profiles/alice"), 404)


def test_unexpected_errors_get_distinct_request_ids(
    client: TestClient, container: Container
) -> None:
    container.article_service.override(providers.Object(_Exploding()))

    first = assert_error(client.get("/api/tags"), 500)
    second = assert_error(client.get("/api/articles"), 500)

    assert first != second


def test_app_still_serves_after_an_unexpected_error(
    client: TestClient, container: Container
) -> None:
    container.article_service.override(providers.Object(_Exploding()))
    assert_error(client.get("/api/tags"), 500)
    container.article_service.reset_override()

    response = client.get("/api/tags")

    assert response.status_code == 200, response.text
    assert response.json() == {"tags": []}


def test_openapi_document_describes_the_api(client: TestClient) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200, response.text
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Conduit"
    # The spec's endpoints, at least: that it lists every route of the app and nothing else
    # is tests/api/test_route_rules.py's to check (it reads the routes from the app).
    spec = {
        "/api/users",
        "/api/users/login",
        "/api/user",
        "/api/profiles/{username}",
        "/api/profiles/{username}/follow",
        "/api/articles",
        "/api/articles/feed",
        "/api/articles/{slug}",
        "/api/articles/{slug}/favorite",
        "/api/articles/{slug}/comments",
        "/api/articles/{slug}/comments/{comment_id}",
        "/api/tags",
    }
    assert spec <= set(document["paths"])


def test_docs_page_is_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
