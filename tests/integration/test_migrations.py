"""The schema comes only from the migrations, and they agree with the mapped metadata."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from infrastructure.migrations import alembic_config, upgrade_to_head
from infrastructure.orm import metadata


def test_migrations_and_mapped_metadata_agree(engine: Engine):
    # The test database was built by `upgrade head` (tests/conftest.py).
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_database_is_at_the_latest_revision(engine: Engine, database_url: str):
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == head


def test_upgrading_an_up_to_date_database_changes_nothing(engine: Engine, database_url: str):
    tables_before = sorted(inspect(engine).get_table_names())
    upgrade_to_head(database_url)
    assert sorted(inspect(engine).get_table_names()) == tables_before


def test_every_lookup_the_api_does_has_an_index(engine: Engine):
    inspector = inspect(engine)

    def indexed(table: str) -> set[tuple[str, ...]]:
        found = {tuple(ix["column_names"]) for ix in inspector.get_indexes(table)}
        found |= {tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)}
        found.add(tuple(inspector.get_pk_constraint(table)["constrained_columns"]))
        return found

    assert {("email",), ("username",)} <= indexed("users")
    assert {("slug",), ("created_at", "id"), ("author_id", "created_at")} <= indexed("articles")
    assert {("follower_id", "followee_id"), ("followee_id",)} <= indexed("follows")
    assert {("user_id", "article_id"), ("article_id",)} <= indexed("favorites")
    assert {("article_id", "tag_id"), ("tag_id", "article_id")} <= indexed("article_tags")
    assert {("name",)} <= indexed("tags")
    assert {("article_id", "id")} <= indexed("comments")
