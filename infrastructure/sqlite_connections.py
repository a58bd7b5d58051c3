"""What every SQLite connection is set to: WAL, foreign keys, a busy timeout, and
transactions that take the write lock at BEGIN."""

from typing import Any

from sqlalchemy import Connection, Engine, event

from infrastructure.sessions import READ_ONLY


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite (its legacy implicit BEGIN breaks
        # SAVEPOINTs and rollbacks); the "begin" hook below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN, waiting up to busy_timeout for it. A
        # deferred transaction that later tries to write fails at once with "database is
        # locked" if another writer got there first; this one waits its turn instead.
        # Readers are not blocked in WAL mode. A read-only unit of work takes no lock: it
        # reads statement by statement (no BEGIN: the connection is in autocommit), or in
        # one snapshot, from a deferred BEGIN (infrastructure.sessions.read_only_bind).
        read_only = connection.get_execution_options().get(READ_ONLY)
        if read_only is None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif read_only == "snapshot":
            # Past the statement hooks: they refuse anything but SELECT in a read-only unit.
            connection.connection.driver_connection.execute("BEGIN")  # type: ignore[union-attr]
