"""The engine (one per process) and the session factory the unit of work uses."""

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, QueuePool

from infrastructure import transaction_ending
from infrastructure.backend import Backend, backend_of
from infrastructure.orm import map_entities
from infrastructure.settings import Settings


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for ``settings.database_url``: SQLite or PostgreSQL (psycopg 3)."""
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
    busy_timeout = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite (its legacy implicit BEGIN breaks
        # SAVEPOINTs and rollbacks); the "begin" hook below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at BEGIN, waiting up to busy_timeout for it. A
        # deferred transaction that later tries to write fails at once with "database is
        # locked" if another writer got there first; this one waits its turn instead.
        # Readers are not blocked in WAL mode.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

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
        _ping_when_idle(engine, settings.pool_ping_idle_seconds)
    return engine


_IDLE_SINCE = "conduit.idle_since"


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a connection at checkout if it sat in the pool longer than ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: one more round trip per unit
    of work (7% of a single-row read, measured with make bench). Connections go stale
    while idle (a restart, a NAT or proxy dropping quiet sockets), so only those are
    pinged, as HikariCP does (``aliveBypassWindowMs``). A connection back at work within
    the window whose server died meanwhile fails one unit of work (503, retry); that
    error invalidates the whole pool, so every other stale connection is replaced.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)  # None: a new connection
        if idle_since is None or time.monotonic() - idle_since <= idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # The pool replaces this connection (and those as old) and tries again.
                raise sa_exc.InvalidatePoolError() from error
            raise


def connection_budget_problem(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes with this pool could exceed the server's connections, if so.

    Each worker may hold ``pool_size + pool_max_overflow`` connections, and its readiness
    probe one more; together they must fit in ``max_connections`` less the connections
    reserved for superusers. ``None`` when they fit, or when the database is SQLite or
    cannot be asked now (it is checked again at the next start).
    """
    if backend_of(settings.database_url) is not Backend.POSTGRESQL:
        return None
    try:
        engine = create_engine(
            settings.database_url,
            poolclass=NullPool,
            connect_args={"connect_timeout": settings.connect_timeout_seconds},
        )
        with engine.connect() as connection:
            allowed = int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(
                connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one()
            )
        engine.dispose()
    except Exception:
        return None
    # Each worker also keeps its readiness probe's connection (ReadinessProbe).
    wanted = workers * (settings.pool_size + settings.pool_max_overflow + 1)
    if wanted > allowed - reserved:
        return (
            f"{workers} workers x (POOL_SIZE {settings.pool_size} + POOL_MAX_OVERFLOW "
            f"{settings.pool_max_overflow} + 1 readiness probe) = {wanted} connections, but "
            "the database allows "
            f"{allowed - reserved} (max_connections {allowed} - {reserved} reserved). "
            "Lower POOL_SIZE or the number of workers, or raise max_connections."
        )
    return None


class DatabaseUnreachable(Exception):
    """The database did not answer the readiness probe."""


class ReadinessProbe:
    """Readiness: ``SELECT 1`` on one connection kept for probing, the answer reused for
    ``max_age`` seconds.

    The connection is not the pool's: readiness is about the database being reachable, and
    must answer while every pooled connection is busy. It is one connection, reused: a new
    connection per probe cost PostgreSQL a backend start each time (10 clients polling made
    ~195 connections/s, and the API's median went from 4 to 10 ms). Whatever the callers'
    rate, the database sees about one ``SELECT 1`` per ``max_age`` per process; concurrent
    probes take turns, and wait at most ``timeout_seconds`` for theirs.
    """

    def __init__(
        self,
        settings: Settings,
        timeout_seconds: int = 1,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        connect_args: dict[str, Any] = {"check_same_thread": False}  # probes run on any thread
        if backend_of(settings.database_url) is Backend.POSTGRESQL:
            connect_args = {
                "connect_timeout": timeout_seconds,
                "options": f"-c statement_timeout={timeout_seconds * 1000}",
                "application_name": "conduit-readiness",
            }
        self.engine = create_engine(
            settings.database_url,
            poolclass=QueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout_seconds,
            # The kept connection may have died since (a restart): pinged first and replaced,
            # so a restart costs no failed probe. Two round trips, at most once per max_age.
            pool_pre_ping=True,
            isolation_level="AUTOCOMMIT",  # no transaction to end after the SELECT
            connect_args=connect_args,
        )
        self.timeout_seconds = timeout_seconds
        self.max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._failure: str | None = None

    def recent(self) -> bool | None:
        """The last answer (did the database answer?) if it is younger than ``max_age``,
        else ``None``. No I/O and no lock: the event loop may ask, and skip a thread."""
        checked_at, failure = self._checked_at, self._failure
        if checked_at is None or self._clock() - checked_at >= self.max_age:
            return None
        return failure is None

    def check(self) -> None:
        """Return if the database answered, within ``max_age``; else raise
        ``DatabaseUnreachable``."""
        if not self._lock.acquire(timeout=self.timeout_seconds):
            raise DatabaseUnreachable("an earlier probe is still waiting for the database")
        try:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.max_age:
                # Failure first: a reader between the two assignments sees a stale time.
                self._failure = self._select_one()
                self._checked_at = now
            failure = self._failure
        finally:
            self._lock.release()
        if failure is not None:
            raise DatabaseUnreachable(failure)

    def _select_one(self) -> str | None:
        """``None`` if the database answered, else why not."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except Exception as error:
            first_line = str(error).partition("\n")[0]
            return f"{type(error).__name__}: {first_line}"
        return None

    def close(self) -> None:
        self.engine.dispose()


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never flush or expire behind the caller's back."""
    map_entities()
    return sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)
