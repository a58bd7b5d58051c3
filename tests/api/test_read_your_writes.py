"""Read-your-writes over HTTP: with replicas, a write tells the client where the primary's
WAL reached (a cookie), and the client's next reads wait for a replica past it or go to the
primary (infrastructure.replicas; tests/integration/test_replicas.py). Without replicas,
nothing changes."""

import time
from collections.abc import Iterator

import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient

from api.app import create_app
from api.container import Container
from api.middleware import POSITION_COOKIE
from infrastructure.replicas import parse_position
from infrastructure.security import Argon2PasswordHasher
from tests.conftest import settings_for
from tests.factories import UserFactory


@pytest.fixture(params=["thread", "bridge"])
def replicated(postgresql_url: str, request: pytest.FixtureRequest) -> Iterator[Container]:
    settings = settings_for(
        postgresql_url, database_replica_urls=postgresql_url, serving=request.param
    )
    container = Container()
    container.settings.override(providers.Object(settings))
    container.hasher.override(
        providers.Singleton(Argon2PasswordHasher, time_cost=1, memory_cost_kib=8, parallelism=1)
    )
    yield container
    container.shutdown_resources()


@pytest.fixture
def replicated_client(replicated: Container) -> Iterator[TestClient]:
    with TestClient(create_app(replicated), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.postgres
def test_the_serving_process_checks_the_replicas_on_its_serving_path(replicated, replicated_client):
    [replica] = replicated.replicas()._members
    deadline = time.monotonic() + 30  # the first check runs at start-up; a busy machine may lag
    while not replica.healthy and time.monotonic() < deadline:
        time.sleep(0.05)
    assert replica.healthy


@pytest.mark.postgres
def test_a_write_sets_the_position_cookie_and_the_client_reads_its_write(replicated_client):
    client = replicated_client
    name = f"ryw{UserFactory().username}"[:20]
    registered = client.post(
        "/api/users",
        json={"user": {"username": name, "email": f"{name}@example.com", "password": "secret-pw"}},
    )
    assert registered.status_code == 201, registered.text
    cookie = registered.cookies.get(POSITION_COOKIE)
    assert parse_position(cookie) is not None
    assert "Max-Age=6" in registered.headers["set-cookie"]
    profile = client.get(f"/api/profiles/{name}")  # the client sends its cookie back
    assert profile.status_code == 200
    assert POSITION_COOKIE not in profile.cookies  # a read sets none


def test_without_replicas_no_cookie_is_set(client, register):
    response = client.post(
        "/api/users",
        json={"user": {"username": "plain", "email": "plain@example.com", "password": "secret-pw"}},
    )
    assert response.status_code == 201
    assert "set-cookie" not in response.headers
