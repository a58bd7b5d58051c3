"""The schema comes only from the migrations, and they agree with the mapped metadata."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Engine, Index, inspect, text
from sqlalchemy.schema import CreateIndex

from infrastructure.backend import Backend, backend_of
from infrastructure.migrations import alembic_config, upgrade_to_head
from infrastructure.orm import metadata

# SQLAlchemy cannot reflect SQLite's expression indexes (it warns and skips them), so there
# they are compared by their CREATE INDEX statement instead (below).
_SKIPPED_WARNINGS = (
    "Skipped unsupported reflection of expression-based index",  # SQLAlchemy
    "autogenerate skipping metadata-specified expression-based index",  # alembic
)


def sqlite_skips_expression_indexes(test: Any) -> Any:
    for message in _SKIPPED_WARNINGS:
        test = pytest.mark.filterwarnings(f"ignore:{message}")(test)
    return test


def _expression_indexes() -> list[Index]:
    return [
        index
        for table in metadata.tables.values()
        for index in table.indexes
        if any(not isinstance(e, Column) for e in index.expressions)
    ]


@sqlite_skips_expression_indexes
def test_migrations_and_mapped_metadata_agree(engine: Engine):
    # The test database was built by `upgrade head` (tests/conftest.py).
    sqlite = backend_of(engine) is Backend.SQLITE
    unreflectable = {index.name for index in _expression_indexes()} if sqlite else set()

    def include(_object: Any, name: str | None, type_: str, *_: Any) -> bool:
        return not (type_ == "index" and name in unreflectable)

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include}
        )
        assert compare_metadata(context, metadata) == []


def test_expression_indexes_are_as_mapped(engine: Engine):
    """Compared by their definition where reflection cannot see them (SQLite).

    Also what catches a later SQLite batch migration of their table, which would drop them
    silently (batch mode copies only the indexes it can reflect)."""
    if backend_of(engine) is not Backend.SQLITE:
        pytest.skip("PostgreSQL reflects expression indexes: compare_metadata covers them")
    with engine.connect() as connection:
        for index in _expression_indexes():
            stored = connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
                {"name": index.name},
            )
            mapped = str(CreateIndex(index).compile(dialect=engine.dialect))
            assert stored is not None, index.name
            assert _words(stored) == _words(mapped)


def _words(sql: str) -> str:
    return " ".join(sql.replace('"', "").replace("(", " ( ").replace(")", " ) ").split()).lower()


def test_database_is_at_the_latest_revision(engine: Engine, database_url: str):
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head


def test_upgrading_an_up_to_date_database_changes_nothing(engine: Engine, database_url: str):
    tables_before = sorted(inspect(engine).get_table_names())
    upgrade_to_head(database_url)
    assert sorted(inspect(engine).get_table_names()) == tables_before


@sqlite_skips_expression_indexes
def test_every_lookup_the_api_does_has_an_index(engine: Engine):
    inspector = inspect(engine)

    def indexed(table: str) -> set[tuple[str, ...]]:
        found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        found |= {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)}
        found.add(tuple(inspector.get_pk_constraint(table)["constrained_columns"]))
        return found

    assert {("email",)} <= indexed("users")  # usernames: test_expression_indexes_are_as_mapped
    assert {("slug",), ("created_at", "id"), ("author_id", "created_at")} <= indexed("articles")
    assert {("follower_id", "followee_id"), ("followee_id",)} <= indexed("follows")
    assert {("user_id", "article_id"), ("article_id",)} <= indexed("favorites")
    assert {("article_id", "tag_id"), ("tag_id", "article_id")} <= indexed("article_tags")
    assert {("name",)} <= indexed("tags")
    assert {("article_id", "id")} <= indexed("comments")
