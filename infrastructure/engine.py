"""The engine (one per process): SQLite or PostgreSQL, with the hooks each needs.

PostgreSQL is reached with psycopg 3 from threads (``create_db_engine``: the threadpool
serving path, migrations, the seed, the tools), or with asyncpg from the event loop through
SQLAlchemy's greenlet bridge (``create_serving_engine`` when ``SERVING=bridge``): the same
synchronous ``Engine`` and sessions, whose I/O waits on the loop instead of blocking a thread.
"""

import socket
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import IsolationLevel
from sqlalchemy.ext.asyncio import create_async_engine

from infrastructure import transaction_ending
from infrastructure.backend import Backend, backend_of
from infrastructure.idle_ping import ping_when_idle
from infrastructure.settings import Serving, Settings
from infrastructure.sqlite_connections import configure_sqlite


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings.database_url``, used from threads (psycopg 3)."""
    if backend_of(settings.database_url) is Backend.SQLITE:
        engine = _sqlite_engine(settings)
    else:
        engine = _postgresql_engine(settings)
    transaction_ending.watch(engine)  # how the unit of work will end its transactions
    return engine


def create_serving_engine(settings: Settings) -> Engine:
    """The engine the API serves from: ``create_db_engine``'s on the threadpool path, or on
    the bridge path (``settings.serving_path``) the synchronous face of an asyncpg engine,
    whose every use must run inside ``sqlalchemy.util.greenlet_spawn`` on the event loop."""
    if settings.serving_path is Serving.THREAD:
        return create_db_engine(settings)
    engine = _bridged_postgresql_engine(settings)
    transaction_ending.watch(engine)
    return engine


def is_bridged(engine: Engine) -> bool:
    """Whether ``engine`` must be used from inside the greenlet bridge (asyncpg)."""
    return bool(engine.dialect.is_async)


def _sqlite_engine(settings: Settings) -> Engine:
    engine = create_engine(
        settings.database_url,
        # Sessions are confined to one service call, but FastAPI may run consecutive calls
        # on different threads of its pool.
        connect_args={"check_same_thread": False},
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
    )
    configure_sqlite(engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    return engine


def _server_options(settings: Settings) -> str:
    """The server settings every session of the service starts with, as the ``options``
    startup parameter (``-c name=value ...``), whichever the driver: PostgreSQL applies it,
    and a PgBouncer in front drops it when told to (``ignore_startup_parameters = options``;
    it refuses any other unknown startup parameter, such as a bare ``statement_timeout``)."""
    return " ".join(
        f"-c {name}={value}"
        for name, value in (
            ("statement_timeout", settings.statement_timeout_ms),
            ("lock_timeout", settings.lock_timeout_ms),
            ("idle_in_transaction_session_timeout", settings.idle_in_transaction_timeout_ms),
        )
    )


_APPLICATION_NAME = "conduit"  # how the service's sessions show in pg_stat_activity


# Without keepalives a dropped network hangs a request for the OS default (~2 h).
_KEEPALIVE_IDLE_S, _KEEPALIVE_INTERVAL_S, _KEEPALIVE_COUNT = 30, 10, 3


def _postgresql_engine(settings: Settings) -> Engine:
    connect_args: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout_seconds,
        "options": _server_options(settings),
        "application_name": _APPLICATION_NAME,
        "keepalives": 1,
        "keepalives_idle": _KEEPALIVE_IDLE_S,
        "keepalives_interval": _KEEPALIVE_INTERVAL_S,
        "keepalives_count": _KEEPALIVE_COUNT,
    }
    if not settings.db_prepared_statements:
        connect_args["prepare_threshold"] = None
    engine = create_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle_seconds,
        connect_args=connect_args,
    )
    if settings.pool_pre_ping:
        ping_when_idle(engine, settings.pool_ping_idle_seconds)
    return engine


def _bridged_postgresql_engine(settings: Settings) -> Engine:
    """asyncpg, with what psycopg gets from its connection string: the same startup
    ``options`` (the server settings), a connect timeout and TCP keepalives.

    Prepared statements: asyncpg prepares every statement, and SQLAlchemy keeps them per
    connection (the gain over psycopg here). Behind PgBouncer in transaction mode
    (``DB_PREPARED_STATEMENTS=false``) a connection's statements may land on another server
    connection: then none is kept (cache 0) and each gets a unique name, so two clients'
    statements never collide on one server connection.
    """
    url = make_url(settings.database_url).set(drivername="postgresql+asyncpg")
    connect_args: dict[str, Any] = {
        "server_settings": {
            "options": _server_options(settings),
            "application_name": _APPLICATION_NAME,
        },
        "timeout": settings.connect_timeout_seconds,
    }
    if not settings.db_prepared_statements:
        connect_args |= {
            "statement_cache_size": 0,  # asyncpg's own cache
            "prepared_statement_cache_size": 0,  # SQLAlchemy's
            "prepared_statement_name_func": _unique_statement_name,
        }
    engine = create_async_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle_seconds,
        connect_args=connect_args,
    ).sync_engine
    if not settings.db_prepared_statements:
        _transactions_only(engine)
    event.listen(engine, "do_connect", _connect_or_fail_as_the_driver)
    event.listen(engine, "connect", _keep_alive)
    if settings.pool_pre_ping:
        ping_when_idle(engine, settings.pool_ping_idle_seconds)
    return engine


def _connect_or_fail_as_the_driver(
    dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]
) -> Any:
    """Connect; a server that cannot be reached is the driver's ``OperationalError``.

    asyncpg raises the socket's own error (``ConnectionRefusedError``, ``TimeoutError`` of
    ``connect_timeout``) and SQLAlchemy passes it on as it is, where psycopg's is a DBAPI
    error: so the unit of work can tell it for an unreachable database (503), as it does
    psycopg's (``db_errors``)."""
    try:
        return dialect.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as error:
        raise dialect.loaded_dbapi.OperationalError(f"could not connect: {error!r}") from error


def _transactions_only(engine: Engine) -> None:
    """Every statement inside a transaction, even where a unit asks for autocommit.

    asyncpg prepares a statement in a round trip of its own, then executes it in another.
    Outside a transaction PgBouncer (transaction mode) may hand the two to different server
    connections ("prepared statement ... does not exist"); inside one, both go to the server
    connection the transaction holds. So here a read-only unit that would read in autocommit
    reads in a READ COMMITTED transaction instead: BEGIN and COMMIT, two round trips more,
    the price of the pooler on this driver (psycopg needs none: it sends an unnamed
    statement's parse and execution in one round trip).
    """
    dialect = engine.dialect
    set_isolation_level = dialect.set_isolation_level

    def in_a_transaction(dbapi_connection: Any, level: IsolationLevel) -> None:
        set_isolation_level(dbapi_connection, "READ COMMITTED" if level == "AUTOCOMMIT" else level)

    dialect.set_isolation_level = in_a_transaction  # type: ignore[method-assign]  # this engine's dialect only


def _unique_statement_name() -> str:
    return f"__asyncpg_{uuid4()}__"


def _keep_alive(dbapi_connection: Any, _record: Any) -> None:
    """TCP keepalives on an asyncpg connection's socket (asyncpg has no option for them)."""
    transport = dbapi_connection.driver_connection._transport  # asyncpg's asyncio transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family == socket.AF_UNIX:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", _KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", _KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", _KEEPALIVE_COUNT),
    ):
        if hasattr(socket, option):  # Linux; macOS names the first TCP_KEEPALIVE
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
