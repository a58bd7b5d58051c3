"""Many requests at the same moment, through the app, on SQLite and PostgreSQL."""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from domain import messages
from infrastructure.orm import users
from tests.api.conftest import assert_error, auth

REQUESTS = 50


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def user_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(users))


def register(client: TestClient, username: str, email: str) -> httpx.Response:
    body = {"user": {"username": username, "email": email, "password": "secret"}}
    return client.post("/api/users", json=body)


def test_one_of_many_registrations_with_one_email_wins(client: TestClient, engine: Engine):
    # Emails are compared trimmed and lower-cased: these are all the same address.
    variants = ["same@example.com", " Same@Example.com", "SAME@EXAMPLE.COM "]
    responses = at_once(
        [
            lambda n=n: register(client, f"user{n}", variants[n % len(variants)])
            for n in range(REQUESTS)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * (REQUESTS - 1)
    for refused in (r for r in responses if r.status_code == 422):
        assert assert_error(refused, 422) == [messages.EMAIL_TAKEN]
    assert user_rows(engine) == 1


def test_one_of_many_registrations_with_one_username_wins(client: TestClient, engine: Engine):
    responses = at_once(
        [lambda n=n: register(client, "alice", f"alice{n}@example.com") for n in range(REQUESTS)]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [422] * (REQUESTS - 1)
    for refused in (r for r in responses if r.status_code == 422):
        assert assert_error(refused, 422) == [messages.USERNAME_TAKEN]
    assert user_rows(engine) == 1


def test_concurrent_edits_of_one_article_are_applied_one_after_the_other(
    client: TestClient, register
):
    alice = register("alice")
    created = client.post(
        "/api/articles",
        json={"article": {"title": "Draft", "description": "d", "body": "b"}},
        headers=auth(alice),
    ).json()["article"]
    slug = created["slug"]

    def edit(n: int) -> httpx.Response:
        change = {"title": f"Title {n}"} if n % 2 else {"description": f"Description {n}"}
        # Every edit addresses the article by its current slug, as a client that re-reads
        # before it writes would; a title change may have moved it.
        current = client.get("/api/articles?author=alice").json()["articles"][0]["slug"]
        return client.put(f"/api/articles/{current}", json={"article": change}, headers=auth(alice))

    responses = at_once([lambda n=n: edit(n) for n in range(20)])
    # A request may find the slug it read already moved by another title change: 404.
    assert {r.status_code for r in responses} <= {200, 404}
    assert sum(r.status_code == 200 for r in responses) >= 1
    [final] = client.get("/api/articles?author=alice").json()["articles"]
    assert final["slug"] == final["title"].lower().replace(" ", "-")
    assert final["slug"] != slug or final["title"] == "Draft"
