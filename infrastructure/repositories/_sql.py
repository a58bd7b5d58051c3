"""Dialect helpers shared by the repositories."""

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignoring_duplicates(session: Session, table: Table, rows: list[dict[str, Any]]) -> int:
    """``INSERT ... ON CONFLICT DO NOTHING``; returns how many rows were really inserted.

    The conflict is resolved by the database, so two transactions inserting the same key at
    once both succeed and the key is stored once.
    """
    if not rows:
        return 0
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    first_key = table.primary_key.columns.values()[0]
    # Count the RETURNING rows: a cursor's rowcount for INSERT is not reliable across drivers.
    statement = dialect.insert(table).values(rows).on_conflict_do_nothing().returning(first_key)
    return len(session.execute(statement).all())
