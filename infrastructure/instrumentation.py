"""What the database layer reports: statements per request, sessions, rollbacks, the pool.

Metrics live in a registry of their own per app (not prometheus_client's global one), so
several apps in one process (tests) do not collide.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.pool import QueuePool

from infrastructure.db_errors import is_conflict

# A one-element list per request: the engine hook runs in a worker thread, which shares the
# request's context (and so this list) but cannot rebind the variable itself.
_statements: ContextVar[list[int] | None] = ContextVar("conduit_statements", default=None)


@contextmanager
def counting_statements() -> Iterator[list[int]]:
    """Count the SQL statements sent while inside; ``counter[0]`` is the count."""
    counter = [0]
    token = _statements.set(counter)
    try:
        yield counter
    finally:
        _statements.reset(token)


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
        event.listen(engine, "before_cursor_execute", self._on_statement)
        event.listen(engine, "rollback", lambda _connection: self.rollbacks.inc())
        event.listen(engine, "handle_error", self._on_error)
        event.listen(session_factory, "after_transaction_create", self._on_transaction_begin)
        event.listen(session_factory, "after_transaction_end", self._on_transaction_end)
        self.registry.register(_PoolCollector(engine))

    def _on_statement(self, *_args: Any) -> None:
        self.statements.inc()
        counter = _statements.get()
        if counter is not None:
            counter[0] += 1

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
