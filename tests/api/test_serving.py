"""How use cases are served (api.serving): never stalled behind a password hash, and never cut
off half-way by a cancelled request. On SQLite the app serves in threads; on PostgreSQL the
cancellation test runs on both paths, the other tests on the bridge (tests/api/conftest.py).
"""

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

import httpx
import pytest
from dependency_injector import providers
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text

from api.app import create_app
from api.container import Container
from api.serving import UseCaseRunner
from infrastructure.engine import create_db_engine
from infrastructure.security import Argon2PasswordHasher
from tests.api.conftest import auth
from tests.conftest import _emptied_after, settings_for
from tests.fakes import GatedHasher

BURST = 4  # registrations, each hashing a password, more than the hasher runs at once


def _register(client: TestClient, name: str) -> httpx.Response:
    body = {"user": {"username": name, "email": f"{name}@example.com", "password": "secret"}}
    return client.post("/api/users", json=body)


def test_a_read_is_answered_while_password_hashes_are_under_way(
    client: TestClient, container: Container
) -> None:
    """Held at a gate, a hash takes as long as the test wants: were it running on the event
    loop, the loop could answer nothing until the gate gave up waiting (a minute), and the
    read would come back after a hash had finished."""
    hasher = GatedHasher(gate_hashes=True, patience=60)
    container.password_hasher.override(providers.Object(hasher))
    hasher.gate.clear()
    with ThreadPoolExecutor(max_workers=BURST) as pool:
        registrations = [pool.submit(_register, client, f"user{n}") for n in range(BURST)]
        try:
            assert hasher.waiting.acquire(timeout=60), "no registration reached the hasher"
            read = client.get("/api/tags")
            hashes_finished_before_the_read = hasher.finished
        finally:
            hasher.gate.set()
        statuses = [registration.result().status_code for registration in registrations]

    assert read.status_code == 200, read.text
    assert hashes_finished_before_the_read == 0
    assert statuses == [201] * BURST


# -- cancellation, on PostgreSQL: the server's view of the connections ------------------------


@pytest.fixture
def pg_engine(postgresql_url: str) -> Iterator[Engine]:
    """The test's own view of the database (psycopg); tables emptied after."""
    with _emptied_after(create_db_engine(settings_for(postgresql_url))) as engine:
        yield engine


def _app_backends(connection: Connection, state: str) -> int:
    """The service's backends on this database whose state or wait matches ``state``."""
    return connection.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'conduit'"
            " AND (state LIKE :state OR wait_event_type = :state)"
        ),
        {"state": state},
    )


async def _until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``condition()`` (run on a thread) holds; fail after a generous minute."""
    for _ in range(1200):
        if await asyncio.to_thread(condition):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


@pytest.mark.postgres
@pytest.mark.parametrize("serving", ["thread", "bridge"])
def test_a_cancelled_request_leaves_its_use_case_whole_and_its_connection_returned(
    pg_engine: Engine, postgresql_url: str, serving: str
) -> None:
    """A favorite is two writes (the favorite, the article's count). The request is
    cancelled while its unit of work waits for a row another transaction holds: the use
    case still runs to its end once the row is free, both writes are committed, and the
    connection is back in the pool, not left idle in a transaction."""
    container = Container()
    container.settings.override(providers.Object(settings_for(postgresql_url, serving=serving)))
    container.password_hasher.override(
        providers.Singleton(Argon2PasswordHasher, time_cost=1, memory_cost_kib=8, parallelism=1)
    )
    app = create_app(container)
    holder = pg_engine.connect()

    async def cancel_a_favorite_mid_way() -> str:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                body = {"user": {"username": "ann", "email": "a@x.io", "password": "secret"}}
                ann = (await http.post("/api/users", json=body)).json()["user"]
                new = {"article": {"title": "Held", "description": "d", "body": "b"}}
                made = await http.post("/api/articles", json=new, headers=auth(ann))
                slug = made.json()["article"]["slug"]

                def hold_the_article() -> None:
                    holder.execute(
                        text("SELECT 1 FROM articles WHERE slug = :slug FOR UPDATE"),
                        {"slug": slug},
                    )

                await asyncio.to_thread(hold_the_article)
                favorite = asyncio.create_task(
                    http.post(f"/api/articles/{slug}/favorite", headers=auth(ann))
                )

                def waiting_for_the_lock() -> bool:
                    with pg_engine.connect() as connection:
                        return _app_backends(connection, "Lock") == 1

                await _until(waiting_for_the_lock, "the favorite waits for the held row")
                favorite.cancel()
                await asyncio.to_thread(holder.commit)  # the row is free again
                with suppress(asyncio.CancelledError):
                    await favorite
            # The lifespan has ended: the process waited for the use case, then disposed
            # of its engine.
            return slug

    try:
        slug = asyncio.run(cancel_a_favorite_mid_way())
    finally:
        holder.close()

    assert container.engine().pool.checkedout() == 0
    with pg_engine.connect() as connection:
        assert _app_backends(connection, "idle in transaction%") == 0
        favorites, count = connection.execute(
            text(
                "SELECT (SELECT count(*) FROM favorites f WHERE f.article_id = a.id),"
                " a.favorites_count FROM articles a WHERE a.slug = :slug"
            ),
            {"slug": slug},
        ).one()
    assert (favorites, count) == (1, 1)


@pytest.mark.parametrize("bridged", [False, True], ids=["thread", "bridge"])
def test_a_process_round_runs_again_after_one_fails_and_stops_when_cancelled(bridged, caplog):
    """``UseCaseRunner.every``: the replicas' checks, run by the serving process."""
    rounds: list[int] = []

    def a_round() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("this round fails")

    async def three_rounds() -> None:
        runner = UseCaseRunner(bridged=bridged)
        repeating = asyncio.create_task(runner.every(0, a_round))
        while len(rounds) < 3:
            await asyncio.sleep(0)
        repeating.cancel()
        with suppress(asyncio.CancelledError):
            await repeating
        await runner.close(lambda: None)

    asyncio.run(three_rounds())
    assert rounds[:3] == [0, 1, 2]
    assert "this round fails" in caplog.text
