"""The real app, on a test database, with the container's providers overridden."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from api.container import Container
from infrastructure.security import Argon2PasswordHasher
from infrastructure.settings import Settings


@pytest.fixture
def container(settings: Settings, engine: Engine) -> Container:
    container = Container()
    container.settings.override(providers.Object(settings))
    container.engine.override(providers.Object(engine))
    # Real argon2id, with the cheapest parameters: hashing is not what these tests are about.
    container.hasher.override(
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


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Token {user['token']}"}
