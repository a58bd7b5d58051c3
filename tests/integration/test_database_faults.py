"""What the unit of work does when the database is slow, gone, or in conflict."""

import os
import subprocess
import sys
import time

import pytest
from dependency_injector import providers
from sqlalchemy import text

from api.app import create_app
from api.container import Container
from application.errors import ConcurrentUpdate, TemporarilyUnavailable
from application.retry import ATTEMPTS, retry_on_conflict
from infrastructure.connection_budget import connection_budget_problem
from infrastructure.engine import create_db_engine
from infrastructure.sessions import create_session_factory
from infrastructure.settings import Settings
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import ROOT, settings_for

pytestmark = pytest.mark.postgres
UNREACHABLE_PG = "postgresql+psycopg://conduit@127.0.0.1:9/nowhere"


def unit_of_work(settings: Settings):  # type: ignore[no-untyped-def]
    engine = create_db_engine(settings)
    return engine, lambda: SqlAlchemyUnitOfWork(create_session_factory(engine))


def test_a_statement_over_the_timeout_fails_fast_and_leaves_the_connection_usable(
    postgresql_url: str,
) -> None:
    engine, new_uow = unit_of_work(settings_for(postgresql_url, statement_timeout_ms=300))
    started = time.monotonic()
    with pytest.raises(TemporarilyUnavailable), new_uow() as uow:
        uow.session.execute(text("SELECT pg_sleep(60)"))
    # Cancelled by the timeout, not finished: far less than the sleep, however busy the machine.
    assert time.monotonic() - started < 30
    assert engine.pool.checkedout() == 0
    with new_uow() as uow:  # the same pooled connection serves again
        assert uow.session.scalar(text("SELECT 1")) == 1
    assert engine.pool.checkedout() == 0
    engine.dispose()


def test_an_unreachable_database_is_temporarily_unavailable_within_the_connect_timeout() -> None:
    engine, new_uow = unit_of_work(settings_for(UNREACHABLE_PG, connect_timeout_seconds=1))
    started = time.monotonic()
    with pytest.raises(TemporarilyUnavailable), new_uow() as uow:
        uow.users.get(1)
    # Seconds at worst on a busy machine; without connect_timeout a blackhole waits minutes.
    assert time.monotonic() - started < 30
    engine.dispose()


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_serialization_failures_and_deadlocks_are_concurrent_updates(
    postgresql_url: str, sqlstate: str
) -> None:
    engine, new_uow = unit_of_work(settings_for(postgresql_url))
    raise_it = f"DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = '{sqlstate}'; END $$"
    with pytest.raises(ConcurrentUpdate), new_uow() as uow:
        uow.session.execute(text(raise_it))
    assert engine.pool.checkedout() == 0
    engine.dispose()


def test_a_conflicting_use_case_runs_again_until_it_succeeds() -> None:
    attempts = []

    @retry_on_conflict
    def use_case() -> str:
        attempts.append(1)
        if len(attempts) < ATTEMPTS:
            raise ConcurrentUpdate("lost a race")
        return "done"

    assert use_case() == "done"
    assert len(attempts) == ATTEMPTS


def test_a_use_case_that_keeps_conflicting_is_temporarily_unavailable() -> None:
    attempts = []

    @retry_on_conflict
    def use_case() -> None:
        attempts.append(1)
        raise ConcurrentUpdate("lost a race")

    with pytest.raises(TemporarilyUnavailable):
        use_case()
    assert len(attempts) == ATTEMPTS


def test_more_connections_than_the_server_allows_is_a_clear_problem(postgresql_url: str) -> None:
    settings = settings_for(postgresql_url, pool_size=15, pool_max_overflow=5)
    assert connection_budget_problem(settings, workers=1) is None
    problem = connection_budget_problem(settings, workers=1000)
    assert problem is not None and "= 21000 connections" in problem


def test_each_replica_must_carry_the_pools_too(postgresql_url: str) -> None:
    # The replica here is the same server: it carries the pools, not the readiness probes.
    settings = settings_for(postgresql_url, database_replica_urls=postgresql_url)
    assert connection_budget_problem(settings, workers=1) is None
    problem = connection_budget_problem(settings, workers=1000)
    assert problem is not None and "the database allows" in problem


def test_every_host_counts(postgresql_url: str) -> None:
    one_host = settings_for(postgresql_url, pool_size=1)
    assert connection_budget_problem(one_host, workers=2) is None  # 2 x 2 connections
    many = settings_for(postgresql_url, pool_size=1, api_hosts=1000)
    problem = connection_budget_problem(many, workers=2)
    assert problem is not None and "1000 hosts x 2 workers" in problem and "= 4000" in problem


def test_serve_refuses_a_configuration_the_database_cannot_carry(postgresql_url: str) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": postgresql_url,
        "JWT_SECRET": "a-secret-long-enough-for-the-test-run",
        "POOL_SIZE": "100",
    }
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--workers", "1000", "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "refusing to start" in done.stderr and "max_connections" in done.stderr


def test_no_jwt_secret_is_refused_on_postgresql(postgresql_url: str) -> None:
    settings = Settings(database_url=postgresql_url, jwt_secret="")
    assert "JWT_SECRET" in settings.insecure_for_serving()
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        create_app(Container(settings=providers.Object(settings)))
    assert settings_for(postgresql_url).insecure_for_serving() is None


def test_serve_refuses_to_start_without_a_jwt_secret_on_postgresql(postgresql_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": postgresql_url, "JWT_SECRET": ""}
    env.pop("JWT_SECRET")
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "JWT_SECRET is not set" in done.stderr


def _terminate(postgresql_url: str, pid: int) -> None:
    """End a server backend from another connection, as a restart or an admin would."""
    admin = create_db_engine(settings_for(postgresql_url))
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_a_connection_killed_after_the_last_query_does_not_fail_the_use_case(
    postgresql_url: str,
) -> None:
    """The read is done; the backend dies before the unit of work ends (restart, kill)."""
    engine, new_uow = unit_of_work(settings_for(postgresql_url))
    with new_uow() as uow:
        _terminate(postgresql_url, uow.session.scalar(text("SELECT pg_backend_pid()")))
    assert engine.pool.checkedout() == 0
    with new_uow() as uow:  # and the next one gets a live connection
        assert uow.session.scalar(text("SELECT 1")) == 1
    engine.dispose()


def test_a_lock_wait_over_the_lock_timeout_is_temporarily_unavailable(postgresql_url: str) -> None:
    engine, new_uow = unit_of_work(settings_for(postgresql_url, lock_timeout_ms=300))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS lock_probe (id int PRIMARY KEY)"))
        connection.execute(text("INSERT INTO lock_probe VALUES (1) ON CONFLICT DO NOTHING"))
    holder = engine.connect()
    try:
        holder.execute(text("SELECT * FROM lock_probe WHERE id = 1 FOR UPDATE"))
        started = time.monotonic()
        with pytest.raises(TemporarilyUnavailable), new_uow() as uow:
            uow.session.execute(text("UPDATE lock_probe SET id = 1 WHERE id = 1"))
        # The lock is held until after the check: only the timeout can have ended the wait.
        assert time.monotonic() - started < 30
    finally:
        holder.rollback()
        holder.close()
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE lock_probe"))
        engine.dispose()


def _kill_pooled_connection(postgresql_url: str, new_uow) -> None:  # type: ignore[no-untyped-def]
    with new_uow() as uow:
        pid = uow.session.scalar(text("SELECT pg_backend_pid()"))
    _terminate(postgresql_url, pid)


def test_a_connection_that_died_while_idle_is_replaced_before_use(postgresql_url: str) -> None:
    """A connection idle for longer than POOL_PING_IDLE_SECONDS is pinged at checkout."""
    settings = settings_for(postgresql_url, pool_size=1, pool_ping_idle_seconds=0.05)
    engine, new_uow = unit_of_work(settings)
    _kill_pooled_connection(postgresql_url, new_uow)
    time.sleep(0.1)
    with new_uow() as uow:
        assert uow.session.scalar(text("SELECT 1")) == 1
    engine.dispose()


def test_a_connection_back_within_the_idle_window_is_not_pinged(postgresql_url: str) -> None:
    """Under load a connection returns to work at once; a ping would only cost a round trip.
    A backend that died in that instant fails one unit of work, and the pool is renewed."""
    settings = settings_for(postgresql_url, pool_size=1, pool_ping_idle_seconds=60)
    engine, new_uow = unit_of_work(settings)
    pings = []
    do_ping = engine.dialect.do_ping
    engine.dialect.do_ping = lambda connection: pings.append(1) or do_ping(connection)  # type: ignore[method-assign]
    _kill_pooled_connection(postgresql_url, new_uow)
    with pytest.raises(TemporarilyUnavailable), new_uow() as uow:
        uow.session.scalar(text("SELECT 1"))
    with new_uow() as uow:
        assert uow.session.scalar(text("SELECT 1")) == 1
    assert pings == []
    engine.dispose()
