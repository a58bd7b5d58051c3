"""What every repository works on (its unit of work, as a ``Store``) and may use: inserts
that ignore duplicates, deletes by key."""

from functools import cache, lru_cache
from typing import Any, Protocol

from sqlalchemy import Connection, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from infrastructure.backend import Backend, backend_of
from infrastructure.statements import Statement


class Store(Protocol):
    """What a repository is made on: its unit of work's connection, on which ``Statement``s
    run in the unit's transaction, and an ORM session on that connection, for the entities
    it loads and adds. The session is opened when first asked for: a repository method that
    only runs statements costs no session."""

    def connection(self) -> Connection: ...

    @property
    def session(self) -> Session: ...


def dialect_insert(backend: Backend, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The backend's own ``INSERT`` into ``table``: the one that has ``ON CONFLICT``."""
    # The function, not the module: a module chosen at run time is untyped to the checker.
    insert = postgresql.insert if backend is Backend.POSTGRESQL else sqlite.insert
    return insert(table)


@lru_cache(maxsize=256)
def _insert_ignoring_duplicates(
    backend: Backend, table: Table, columns: tuple[str, ...], count: int
) -> Statement:
    first_key = table.primary_key.columns.values()[0]
    rows: list[dict[str, Any]] = [
        {column: bindparam(f"{column}_{n}") for column in columns} for n in range(count)
    ]
    # Count the RETURNING rows: a cursor's rowcount for INSERT is not reliable across drivers.
    statement = dialect_insert(backend, table).values(rows)
    return Statement(statement.on_conflict_do_nothing().returning(first_key))


def insert_ignoring_duplicates(
    connection: Connection, table: Table, rows: list[dict[str, Any]]
) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``; returns how many rows were really inserted.

    The conflict is resolved by the database, so two transactions inserting the same key at
    once both succeed and the key is stored once. The rows (all with the same columns) go
    as one multi-row INSERT, a statement built once per table, columns and number of rows.
    """
    if not rows:
        return 0
    columns = tuple(rows[0])
    statement = _insert_ignoring_duplicates(backend_of(connection), table, columns, len(rows))
    values = {f"{column}_{n}": row[column] for n, row in enumerate(rows) for column in columns}
    return len(statement.rows(connection, values))


class _Stored(Protocol):
    id: int | None


@cache
def _delete_by_id(table: Table) -> Statement:
    return Statement(delete(table).where(table.c.id == bindparam("target_id")))


def delete_entity(store: Store, table: Table, entity: _Stored) -> None:
    """The one way an entity is deleted: a Core ``DELETE`` of its row by id, now, and the
    entity taken out of the session.

    Rows that refer to it go by the database's ``ON DELETE CASCADE`` in the same statement,
    so the session loads none of them (``session.delete`` would, for a relationship).
    """
    _delete_by_id(table).run(store.connection(), {"target_id": entity.id})
    store.session.expunge(entity)
