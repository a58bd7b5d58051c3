"""The real app, on a test database, with the container's providers overridden."""

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.container import Container
from infrastructure.backend import Backend, backend_of
from infrastructure.security import Argon2PasswordHasher
from infrastructure.settings import Settings
from tests.routes import World, auth, build_world

__all__ = ["auth"]


@pytest.fixture
def container(settings: Settings, engine: Engine) -> Container:
    """On SQLite the app serves in threads, on the test's ``engine``. On PostgreSQL it serves
    on the event loop through the greenlet bridge (``SERVING=bridge``), on an asyncpg engine
    of its own that its lifespan disposes of; the test's ``engine`` (psycopg) looks at the
    same database from outside."""
    container = Container()
    if backend_of(engine) is Backend.POSTGRESQL:
        settings = settings.model_copy(update={"serving": "bridge"})
    else:
        container.engine.override(providers.Object(engine))
    container.settings.override(providers.Object(settings))
    # Real argon2id, with the cheapest parameters: hashing is not what these tests are about.
    container.password_hasher.override(
        providers.Singleton(Argon2PasswordHasher, time_cost=1, memory_cost_kib=8, parallelism=1)
    )
    return container


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def register(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Register a user through the API; returns the response's ``user`` with its token."""

    def register(
        username: str = "alice", email: str | None = None, password: str = "secret"
    ) -> dict[str, Any]:
        response = client.post(
            "/api/users",
            json={
                "user": {
                    "username": username,
                    "email": email or f"{username}@example.com",
                    "password": password,
                }
            },
        )
        assert response.status_code == 201, response.text
        return response.json()["user"]

    return register


# createdAt / updatedAt: ISO 8601 with fractional seconds and a zone, as the spec's tests want.
TIMESTAMP = re.compile(
    r"^\d{4,}-[01]\d-[0-3]\dT[0-2]\d:[0-5]\d:[0-5]\d\.\d+(?:[+-][0-2]\d:[0-5]\d|Z)$"
)


def assert_error(response: httpx.Response, status: int) -> list[str]:
    """Assert ``status`` and the spec's error body, ``{"errors": {"body": [...]}}``.

    Returns the messages (a non-empty list of non-empty strings).
    """
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["errors"], body
    assert list(body["errors"]) == ["body"], body
    messages = body["errors"]["body"]
    assert isinstance(messages, list) and messages, body
    assert all(isinstance(message, str) and message for message in messages), body
    return messages


@pytest.fixture
def create_article(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Write an article through the API as ``author``; returns the response's ``article``."""

    def create_article(
        author: dict[str, Any],
        title: str = "How to train your dragon",
        description: str = "Ever wonder how?",
        body: str = "You have to believe",
        tags: list[str] | None = None,
    ) -> dict[str, Any]:
        article: dict[str, Any] = {"title": title, "description": description, "body": body}
        if tags is not None:
            article["tagList"] = tags
        response = client.post("/api/articles", json={"article": article}, headers=auth(author))
        assert response.status_code == 201, response.text
        return response.json()["article"]

    return create_article


@pytest.fixture
def add_comment(client: TestClient) -> Callable[..., dict[str, Any]]:
    """Comment on the article ``slug`` as ``author``; returns the response's ``comment``."""

    def add_comment(author: dict[str, Any], slug: str, body: str = "Nice one") -> dict[str, Any]:
        response = client.post(
            f"/api/articles/{slug}/comments", json={"comment": {"body": body}}, headers=auth(author)
        )
        assert response.status_code == 200, response.text
        return response.json()["comment"]

    return add_comment


@pytest.fixture
def world(
    client: TestClient,
    register: Callable[..., dict[str, Any]],
    create_article: Callable[..., dict[str, Any]],
    add_comment: Callable[..., dict[str, Any]],
) -> World:
    """Alice and Bob, with an article and a comment each (``tests.routes.World``)."""
    return build_world(client, register, create_article, add_comment)
