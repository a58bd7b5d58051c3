"""The bridge's engine (SERVING=bridge: asyncpg under the greenlet bridge) behaves as the
psycopg one does where the unit of work and the operators depend on it: the same server
settings, TCP keepalives, and driver errors that translate to the same application errors."""

import asyncio
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, Float, String, bindparam, exc, func, literal_column, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.util import greenlet_spawn

from application.errors import TemporarilyUnavailable
from infrastructure import statements
from infrastructure.db_errors import translate
from infrastructure.engine import create_serving_engine, is_bridged
from infrastructure.instrumentation import count_statements, counting_statements
from infrastructure.sessions import create_session_factory, read_only_bind
from infrastructure.settings import Settings
from infrastructure.statements import Statement
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import settings_for
from tests.integration.test_database_faults import _terminate

pytestmark = pytest.mark.postgres

R = TypeVar("R")


def on_the_bridge(settings: Settings, use: Callable[[Engine], R]) -> R:
    """``use(engine)`` inside the greenlet bridge on a new event loop, as a request runs."""
    engine = create_serving_engine(settings.model_copy(update={"serving": "bridge"}))
    assert is_bridged(engine)

    def used() -> R:
        try:
            return use(engine)
        finally:
            engine.dispose()

    return asyncio.run(greenlet_spawn(used))


def translated(settings: Settings, sql: str) -> Exception | None:
    def run(engine: Engine) -> Exception | None:
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        except exc.SQLAlchemyError as error:
            return translate(error)
        return None

    return on_the_bridge(settings, run)


def test_sessions_get_the_services_server_settings(postgresql_url: str) -> None:
    settings = settings_for(
        postgresql_url,
        statement_timeout_ms=4321,
        lock_timeout_ms=1234,
        idle_in_transaction_timeout_ms=5678,
    )

    def shown(engine: Engine) -> tuple[str, ...]:
        with engine.connect() as connection:
            return tuple(
                connection.exec_driver_sql(f"SHOW {name}").scalar_one()
                for name in (
                    "statement_timeout",
                    "lock_timeout",
                    "idle_in_transaction_session_timeout",
                    "application_name",
                )
            )

    assert on_the_bridge(settings, shown) == ("4321ms", "1234ms", "5678ms", "conduit")


def test_connections_keep_their_tcp_connection_alive(postgresql_url: str) -> None:
    def keepalive(engine: Engine) -> int:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            sock = driver._transport.get_extra_info("socket")  # type: ignore[union-attr]
            return sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)

    assert on_the_bridge(settings_for(postgresql_url), keepalive) != 0


def test_a_statement_over_its_timeout_is_temporarily_unavailable(postgresql_url: str) -> None:
    settings = settings_for(postgresql_url, statement_timeout_ms=50)
    assert isinstance(translated(settings, "SELECT pg_sleep(1)"), TemporarilyUnavailable)


def test_an_unreachable_server_is_temporarily_unavailable(postgresql_url: str) -> None:
    """asyncpg raises the socket's error, not a DBAPI one: the engine makes it one."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: the connection is refused
        url = make_url(postgresql_url).set(host="127.0.0.1", port=port)
        url = url.render_as_string(hide_password=False)
        assert isinstance(translated(settings_for(url), "SELECT 1"), TemporarilyUnavailable)


def _pid(engine: Engine) -> int:
    with SqlAlchemyUnitOfWork(create_session_factory(engine)) as uow:
        return uow.session.scalar(text("SELECT pg_backend_pid()"))


def test_a_connection_that_died_while_idle_is_replaced_before_use(postgresql_url: str) -> None:
    """The idle ping (POOL_PING_IDLE_SECONDS) works from inside the bridge too."""
    settings = settings_for(postgresql_url, pool_size=1, pool_ping_idle_seconds=0)

    def after_a_kill(engine: Engine) -> tuple[int, int]:
        killed = _pid(engine)
        _terminate(postgresql_url, killed)
        return killed, _pid(engine)

    killed, serving = on_the_bridge(settings, after_a_kill)
    assert serving != killed


def test_a_connection_killed_after_the_last_query_does_not_fail_the_use_case(
    postgresql_url: str,
) -> None:
    def killed_mid_way(engine: Engine) -> tuple[int, int]:
        with SqlAlchemyUnitOfWork(create_session_factory(engine)) as uow:
            _terminate(postgresql_url, uow.session.scalar(text("SELECT pg_backend_pid()")))
        return engine.pool.checkedout(), _pid(engine)  # type: ignore[attr-defined]

    checked_out, _next_pid = on_the_bridge(settings_for(postgresql_url), killed_mid_way)
    assert checked_out == 0


@pytest.mark.parametrize(("prepared_statements", "one_transaction"), [(False, True), (True, False)])
def test_behind_a_pooler_a_read_only_unit_reads_inside_a_transaction(
    postgresql_url: str, prepared_statements: bool, one_transaction: bool
) -> None:
    """asyncpg prepares and executes a statement in two round trips: outside a transaction a
    pooler (PgBouncer, transaction mode) may send them to two server connections. So with
    DB_PREPARED_STATEMENTS=false (the setting for a pooler) the units that would read in
    autocommit read in a transaction; without a pooler they keep autocommit."""
    settings = settings_for(postgresql_url, db_prepared_statements=prepared_statements)
    txid = select(func.txid_current())

    def two_reads(engine: Engine) -> tuple[int, int]:
        with read_only_bind(engine, snapshot=False).connect() as connection:
            return connection.scalar(txid), connection.scalar(txid)

    first, second = on_the_bridge(settings, two_reads)
    assert (first == second) is one_transaction


# A read-only unit's reads (autocommit) go to asyncpg itself once a statement has run once
# (infrastructure.statements): the same rows, counts and errors as from the adapter's cursor.
_PID = Statement(select(func.pg_backend_pid()))
_NAMES = Statement(
    select(
        literal_column("'alice'"),
        func.json_build_array(bindparam("name", type_=String), literal_column("'x'")),
        func.now(),
    )
)
_SLEEP = Statement(select(func.pg_sleep(bindparam("seconds", type_=Float))))


def _read_only_unit(engine: Engine) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(create_session_factory(engine)).read_only()


def test_a_read_in_autocommit_goes_to_asyncpg_itself_and_comes_back_the_same(
    postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent_by_asyncpg = []
    read_on_asyncpg = statements._read_on_asyncpg

    def spied(*args: Any) -> Any:
        sent_by_asyncpg.append(args[2])
        return read_on_asyncpg(*args)

    monkeypatch.setattr(statements, "_read_on_asyncpg", spied)
    given = {"name": "bob"}

    def twice(engine: Engine) -> tuple[list[Any], int]:
        count_statements(engine)
        with _read_only_unit(engine) as uow, counting_statements() as sent:
            runs = [
                (_NAMES.rows(uow.connection(), given), _NAMES.first(uow.connection(), given))
                for _ in range(2)
            ]
        return runs, sent.count

    (by_cursor, by_asyncpg), counted = on_the_bridge(settings_for(postgresql_url), twice)
    assert sent_by_asyncpg == ["fetchrow", "fetch", "fetchrow"]  # the first run: the cursor
    assert counted == 4
    rows, first = by_asyncpg
    assert len(rows) == 1
    assert tuple(rows[0])[:2] == tuple(first)[:2] == tuple(by_cursor[0][0])[:2]
    assert tuple(first)[:2] == ("alice", ["bob", "x"])
    assert isinstance(tuple(first)[2], datetime)


def test_a_connection_killed_under_a_read_in_autocommit_is_invalidated(
    postgresql_url: str,
) -> None:
    settings = settings_for(postgresql_url, pool_size=1, pool_ping_idle_seconds=60)

    def killed(engine: Engine) -> tuple[BaseException, int]:
        with _read_only_unit(engine) as uow:
            killed_pid = _PID.scalar(uow.connection())
            _PID.scalar(uow.connection())  # described: the next one goes to asyncpg
        _terminate(postgresql_url, killed_pid)
        with pytest.raises(TemporarilyUnavailable) as raised, _read_only_unit(engine) as uow:
            _PID.scalar(uow.connection())
        checked_out = engine.pool.checkedout()  # type: ignore[attr-defined]
        with _read_only_unit(engine) as uow:
            assert _PID.scalar(uow.connection()) != killed_pid  # a new connection
        return raised.value, checked_out

    error, checked_out = on_the_bridge(settings, killed)
    cause = error.__cause__
    assert isinstance(cause, exc.DBAPIError)
    assert cause.connection_invalidated
    assert checked_out == 0


def test_a_read_in_autocommit_over_its_timeout_is_temporarily_unavailable(
    postgresql_url: str,
) -> None:
    # Room for the quick reads on a busy machine; the long one is cancelled at the timeout.
    settings = settings_for(postgresql_url, statement_timeout_ms=500, pool_size=1)

    def too_long(engine: Engine) -> tuple[int, int]:
        with _read_only_unit(engine) as uow:
            _SLEEP.rows(uow.connection(), {"seconds": 0})  # described: the next goes to asyncpg
            before = _PID.scalar(uow.connection())
        with pytest.raises(TemporarilyUnavailable), _read_only_unit(engine) as uow:
            _SLEEP.rows(uow.connection(), {"seconds": 30})
        with _read_only_unit(engine) as uow:
            _SLEEP.rows(uow.connection(), {"seconds": 0})
            return before, _PID.scalar(uow.connection())

    before, after = on_the_bridge(settings, too_long)
    assert after == before  # the same connection, still usable
