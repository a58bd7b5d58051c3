"""What the database layer reports: statements sent, sessions, rollbacks, the pool.

Statements are counted once, by one hook on the engine (``count_statements``), for
everyone who asks: the ``conduit_db_statements`` metric, the count in each request's
log line, the tests' bounds on statements per request and the benchmark's capture.

Metrics live in a registry of their own per app (not prometheus_client's global one), so
several apps in one process (tests) do not collide.
"""

from collections.abc import Callable, Iterable
from contextvars import ContextVar
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import QueuePool

from infrastructure.db_errors import is_conflict


class SentStatement(NamedTuple):
    sql: str
    parameters: Any


class SentStatements:
    """What was sent inside one ``counting_statements`` block: ``count`` statements, and
    with ``record`` each one's SQL and parameters as the driver got them.

    Its own context manager, not a generator's: every request opens one (half the cost).
    """

    __slots__ = ("_token", "count", "sent")

    def __init__(self, record: bool) -> None:
        self.count = 0
        self.sent: list[SentStatement] | None = [] if record else None

    def __enter__(self) -> "SentStatements":
        self._token = _open.set((*_open.get(), self))
        return self

    def __exit__(self, *_exc_info: object) -> None:
        _open.reset(self._token)

    def queries(self) -> list[str]:
        """The recorded statements' SQL, but SQLite's ``BEGIN IMMEDIATE``: what a use case
        asked of the database, without the transaction control around it."""
        assert self.sent is not None, "counting_statements(record=True) records them"
        return [statement.sql for statement in self.sent if not statement.sql.startswith("BEGIN")]


# The blocks open in this context, innermost last. The engine hook runs in a worker thread,
# which shares the request's context (and so these objects) but cannot rebind the variable.
_open: ContextVar[tuple[SentStatements, ...]] = ContextVar("conduit_statements", default=())


def counting_statements(*, record: bool = False) -> SentStatements:
    """A block (``with``) that counts the SQL statements sent inside it, by this context
    (and the threads it runs work on), on the engines ``count_statements`` watches. Blocks
    nest: a request's own count inside a test's counts in both."""
    return SentStatements(record)


def count_statements(engine: Engine, each: Callable[[], object] | None = None) -> None:
    """Count every statement ``engine`` sends in the ``counting_statements`` blocks open
    where it is sent, and call ``each`` for it (a metric's increment)."""

    @event.listens_for(engine, "before_cursor_execute")
    def _on_statement(
        _connection: Any, _cursor: Any, sql: str, parameters: Any, *_rest: Any
    ) -> None:
        if each is not None:
            each()
        for statements in _open.get():
            statements.count += 1
            if statements.sent is not None:
                statements.sent.append(SentStatement(sql, parameters))


class DatabaseMetrics:
    """Counters fed by SQLAlchemy events, and gauges read from the pool at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.statements = Counter("conduit_db_statements", "SQL statements sent", registry=registry)
        self.sessions_opened = Counter(
            "conduit_db_sessions_opened", "Sessions that began a transaction", registry=registry
        )
        self.sessions_closed = Counter(
            "conduit_db_sessions_closed", "Sessions whose transaction ended", registry=registry
        )
        self.rollbacks = Counter(
            "conduit_db_rollbacks", "Transactions rolled back on a connection", registry=registry
        )
        self.conflicts = Counter(
            "conduit_db_conflicts",
            "Serialization failures and deadlocks; each is retried while attempts remain",
            registry=registry,
        )

    def instrument(self, engine: Engine, session_factory: sessionmaker[Session]) -> None:
        count_statements(engine, each=self.statements.inc)
        event.listen(engine, "rollback", lambda _connection: self.rollbacks.inc())
        event.listen(engine, "handle_error", self._on_error)
        event.listen(session_factory, "after_transaction_create", self._on_transaction_begin)
        event.listen(session_factory, "after_transaction_end", self._on_transaction_end)
        self.registry.register(_PoolCollector(engine))

    def _on_error(self, context: ExceptionContext) -> None:
        if is_conflict(context.original_exception):
            self.conflicts.inc()

    def _on_transaction_begin(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self.sessions_opened.inc()

    def _on_transaction_end(self, _session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is None:
            self.sessions_closed.inc()


class _PoolCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return []
        return [
            GaugeMetricFamily("conduit_db_pool_size", "Connections the pool keeps", pool.size()),
            GaugeMetricFamily(
                "conduit_db_pool_checked_out", "Connections in use", pool.checkedout()
            ),
            GaugeMetricFamily(
                "conduit_db_pool_overflow",
                "Connections above the pool size",
                max(pool.overflow(), 0),
            ),
            GaugeMetricFamily(
                "conduit_db_pool_idle", "Connections idle in the pool", pool.checkedin()
            ),
        ]
