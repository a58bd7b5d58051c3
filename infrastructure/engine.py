"""The engine (one per process): SQLite or PostgreSQL (psycopg 3), with the hooks each needs."""

from typing import Any

from sqlalchemy import Engine, create_engine

from infrastructure import transaction_ending
from infrastructure.backend import Backend, backend_of
from infrastructure.idle_ping import ping_when_idle
from infrastructure.settings import Settings
from infrastructure.sqlite_connections import configure_sqlite


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings.database_url``."""
    if backend_of(settings.database_url) is Backend.SQLITE:
        engine = _sqlite_engine(settings)
    else:
        engine = _postgresql_engine(settings)
    transaction_ending.watch(engine)  # how the unit of work will end its transactions
    return engine


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


def _postgresql_engine(settings: Settings) -> Engine:
    server_options = " ".join(
        f"-c {name}={value}"
        for name, value in (
            ("statement_timeout", settings.statement_timeout_ms),
            ("lock_timeout", settings.lock_timeout_ms),
            ("idle_in_transaction_session_timeout", settings.idle_in_transaction_timeout_ms),
        )
    )
    connect_args: dict[str, Any] = {
        "connect_timeout": settings.connect_timeout_seconds,
        "options": server_options,
        "application_name": "conduit",
        # Without keepalives a dropped network hangs a request for the OS default (~2 h).
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
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
