"""The session factory the unit of work opens its sessions from, and what a read-only unit
of work runs on."""

from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from infrastructure.backend import Backend, backend_of

# The execution option that marks a read-only unit of work's connection
# (``transaction_ending`` refuses writes on it; SQLite's BEGIN hook leaves it alone).
READ_ONLY = "conduit_read_only"


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never flush or expire behind the caller's back.

    The entities must be mapped first (``infrastructure.orm.map_entities``, called by the
    composition root): sessions of unmapped classes fail at their first query.
    """
    return sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)


def read_only_bind(engine: Engine, *, snapshot: bool) -> Engine:
    """``engine``'s pool, as a read-only unit of work uses it.

    Without ``snapshot``: autocommit, so a read is one round trip, not three (BEGIN, the
    SELECT, COMMIT). Each statement reads what was committed when it started, which is all a
    READ COMMITTED transaction guarantees to a unit that only reads. With ``snapshot``: a
    read-only transaction in which every statement reads one snapshot (REPEATABLE READ on
    PostgreSQL; a deferred BEGIN on SQLite in WAL mode).

    Made once per engine (an engine with options is a cheap view of the same pool).
    """
    binds = _binds.get(engine)
    if binds is None:
        binds = _binds[engine] = _read_only_binds(engine)
    return binds[snapshot]


def is_read_only(connection: Connection) -> bool:
    return bool(connection.get_execution_options().get(READ_ONLY))


_binds: "WeakKeyDictionary[Engine, dict[bool, Engine]]" = WeakKeyDictionary()


def _read_only_binds(engine: Engine) -> dict[bool, Engine]:
    if backend_of(engine) is Backend.SQLITE:
        # The BEGIN hook (sqlite_connections) sends no BEGIN for a statement-wise unit (the
        # connection is in autocommit already) and a deferred one for a snapshot.
        return {
            False: engine.execution_options(**{READ_ONLY: "statements"}),
            True: engine.execution_options(**{READ_ONLY: "snapshot"}),
        }
    return {
        False: engine.execution_options(isolation_level="AUTOCOMMIT", **{READ_ONLY: "statements"}),
        True: engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True, **{READ_ONLY: "snapshot"}
        ),
    }
