"""What every repository may use: inserts that ignore duplicates, deletes by key."""

from functools import cache
from typing import Any, Protocol

from sqlalchemy import Delete, Insert, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from infrastructure.backend import Backend, backend_of


def dialect_insert(backend: Backend, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The backend's own ``INSERT`` into ``table``: the one that has ``ON CONFLICT``."""
    # The function, not the module: a module chosen at run time is untyped to the checker.
    insert = postgresql.insert if backend is Backend.POSTGRESQL else sqlite.insert
    return insert(table)


@cache
def _insert_ignoring_duplicates(backend: Backend, table: Table) -> Insert:
    first_key = table.primary_key.columns.values()[0]
    # Count the RETURNING rows: a cursor's rowcount for INSERT is not reliable across drivers.
    return dialect_insert(backend, table).on_conflict_do_nothing().returning(first_key)


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``; returns how many rows were really inserted.

    The conflict is resolved by the database, so two transactions inserting the same key at
    once both succeed and the key is stored once. The statement is built once per table
    (SQLAlchemy sends the rows as one multi-row INSERT), and runs on the session's Core
    connection: no entity is involved.
    """
    if not rows:
        return 0
    connection = session.connection()
    statement = _insert_ignoring_duplicates(backend_of(connection), table)
    return len(connection.execute(statement, rows).all())


class _Stored(Protocol):
    id: int | None


@cache
def _delete_by_id(table: Table) -> Delete:
    return delete(table).where(table.c.id == bindparam("target_id"))


def delete_entity(session: Session, table: Table, entity: _Stored) -> None:
    """The one way an entity is deleted: a Core ``DELETE`` of its row by id, now, and the
    entity taken out of the session.

    Rows that refer to it go by the database's ``ON DELETE CASCADE`` in the same statement,
    so the session loads none of them (``session.delete`` would, for a relationship).
    """
    session.connection().execute(_delete_by_id(table), {"target_id": entity.id})
    session.expunge(entity)
