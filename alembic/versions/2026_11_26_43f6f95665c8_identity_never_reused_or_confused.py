"""identity is never reused or confused

Usernames are unique whatever their case (a unique index on ``lower(username)`` replaces
the plain unique constraint); ``users.token_generation`` lets a password change end the
sessions before it; on SQLite the tables with a surrogate id (users, articles, comments,
tags) become AUTOINCREMENT, so a deleted row's id is never given again (PostgreSQL's
sequences never reuse: nothing to do there).

Refuses to run, changing nothing, if stored usernames differ only in case: which account
keeps the name is a decision for people, not for a migration.

Revision ID: 43f6f95665c8
Revises: e8d28930eea4
Create Date: 2026-11-26 01:50:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

from infrastructure.migrations import MigrationRefused

revision: str = "43f6f95665c8"
down_revision: str | None = "e8d28930eea4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES_WITH_SURROGATE_IDS = ("users", "articles", "comments", "tags")
LOWER_USERNAME_INDEX = "uq_users_lower_username"


def upgrade() -> None:
    bind = op.get_bind()
    # Before any change: SQLite runs each DDL statement in a transaction of its own.
    _refuse_usernames_differing_only_in_case(bind)
    op.add_column(
        "users",
        sa.Column("token_generation", sa.Integer(), server_default="0", nullable=False),
    )
    if bind.dialect.name == "sqlite":
        _recreate_sqlite_tables(
            bind,
            autoincrement=True,
            change_users=lambda batch_op: batch_op.drop_constraint(
                "uq_users_username", type_="unique"
            ),
        )
    else:
        op.drop_constraint("uq_users_username", "users", type_="unique")
    op.create_index(LOWER_USERNAME_INDEX, "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index(LOWER_USERNAME_INDEX, table_name="users")
    if bind.dialect.name == "sqlite":

        def change_users(batch_op: BatchOperations) -> None:
            batch_op.drop_column("token_generation")
            batch_op.create_unique_constraint("uq_users_username", ["username"])

        _recreate_sqlite_tables(bind, autoincrement=False, change_users=change_users)
    else:
        op.drop_column("users", "token_generation")
        op.create_unique_constraint("uq_users_username", "users", ["username"])


def _recreate_sqlite_tables(
    bind: sa.Connection,
    *,
    autoincrement: bool,
    change_users: Callable[[BatchOperations], None],
) -> None:
    """SQLite cannot alter a table's primary key: batch mode copies each table into a new
    one, with or without AUTOINCREMENT (ids kept; sqlite_sequence starts at the largest).

    Batch mode copies only the indexes SQLAlchemy can reflect, which leaves out expression
    indexes such as ``uq_users_lower_username``: create or drop that one outside of it.
    """
    _refuse_with_foreign_keys_enforced(bind)
    for table in TABLES_WITH_SURROGATE_IDS:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ) as batch_op:
            if table == "users":
                change_users(batch_op)


def _refuse_usernames_differing_only_in_case(bind: sa.Connection) -> None:
    rows = bind.execute(
        sa.text(
            "SELECT username FROM users WHERE lower(username) IN ("
            " SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1)"
            " ORDER BY lower(username), username"
        )
    ).scalars()
    groups: dict[str, list[str]] = {}
    for username in rows:
        groups.setdefault(username.lower(), []).append(username)
    if groups:
        listed = "; ".join(", ".join(repr(name) for name in names) for names in groups.values())
        raise MigrationRefused(
            f"usernames must now be unique whatever their case, and {len(groups)} group(s) of"
            f" stored usernames differ only in case: {listed}. Rename all but one in each"
            " group (UPDATE users SET username = ... WHERE id = ...), then migrate again."
            " Nothing was changed."
        )


def _refuse_with_foreign_keys_enforced(bind: sa.Connection) -> None:
    # Batch mode drops the old tables; with foreign keys enforced, dropping users would
    # cascade to every article, comment, follow and favorite. env.py's engine leaves them off.
    if bind.execute(sa.text("PRAGMA foreign_keys")).scalar():
        raise MigrationRefused("run this migration with SQLite's foreign keys off")
