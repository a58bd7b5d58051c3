"""The identity migration: ids never reused on SQLite, one username whatever its case.

Each test migrates a database of its own (a file on SQLite, a schema on PostgreSQL) from the
revision before it, with data in it, as a deployed service would be upgraded.
"""

import re
import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from infrastructure.backend import Backend, backend_of
from infrastructure.migrations import MigrationRefused, alembic_config, upgrade_to_head

BEFORE = "e8d28930eea4"  # the initial schema: plain unique usernames, reusable SQLite ids


@pytest.fixture
def old_database(database_url: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A URL of an empty database migrated to the revision before identity's."""
    if backend_of(database_url) is Backend.SQLITE:
        url = f"sqlite:///{tmp_path / 'old.db'}"
        schema = None
    else:
        schema = f"migration_{uuid.uuid4().hex[:12]}"
        admin = create_engine(database_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = (
            make_url(database_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    command.upgrade(alembic_config(url), BEFORE)
    try:
        yield url
    finally:
        if schema is not None:
            admin = create_engine(database_url)
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def _insert_users(url: str, *usernames: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for name in usernames:
            connection.execute(
                text(
                    "INSERT INTO users (username, email, password_hash, bio, image)"
                    " VALUES (:name, :email, 'h', '', '')"
                ),
                {"name": name, "email": f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"},
            )
    engine.dispose()


def _revision(url: str) -> str | None:
    engine = create_engine(url)
    with engine.connect() as connection:
        revision = connection.scalar(text("SELECT version_num FROM alembic_version"))
    engine.dispose()
    return revision


def test_the_migration_refuses_usernames_that_differ_only_in_case_and_names_them(
    old_database: str,
) -> None:
    _insert_users(old_database, "alice", "Alice", "bob", "BOB", "Bob", "carol")

    with pytest.raises(MigrationRefused) as refused:
        upgrade_to_head(old_database)

    message = str(refused.value)
    assert "differ only in case" in message
    for name in ("alice", "Alice", "bob", "BOB", "Bob"):
        assert re.search(rf"'{name}'", message), (name, message)
    assert "'carol'" not in message
    assert _revision(old_database) == BEFORE  # nothing was changed


def test_the_migration_keeps_users_and_their_ids_and_then_never_reuses_one(
    old_database: str,
) -> None:
    _insert_users(old_database, "alice", "Bob", "carol")
    engine = create_engine(old_database)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE username = 'carol'"))
        before = dict(connection.execute(text("SELECT username, id FROM users")).all())

    upgrade_to_head(old_database)

    with engine.begin() as connection:
        assert dict(connection.execute(text("SELECT username, id FROM users")).all()) == before
        generations = connection.scalars(text("SELECT token_generation FROM users")).all()
        assert generations == [0, 0]
        connection.execute(text("DELETE FROM users WHERE username = 'Bob'"))
    _insert_users(old_database, "dave")
    with engine.begin() as connection:
        dave = connection.scalar(text("SELECT id FROM users WHERE username = 'dave'"))
    engine.dispose()
    assert dave > before["Bob"]


def test_sqlite_tables_with_surrogate_ids_never_reuse_them(engine: Engine) -> None:
    if backend_of(engine) is not Backend.SQLITE:
        pytest.skip("PostgreSQL sequences never give a number twice")
    with engine.connect() as connection:
        for table in ("users", "articles", "comments", "tags"):
            sql = connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
                {"name": table},
            )
            assert "AUTOINCREMENT" in sql, (table, sql)


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_usernames_are_unique_by_an_index_on_their_lower_case(engine: Engine) -> None:
    if backend_of(engine) is Backend.SQLITE:  # reflection skips expression indexes there
        with engine.connect() as connection:
            sql = connection.scalar(
                text("SELECT sql FROM sqlite_master WHERE name = 'uq_users_lower_username'")
            )
        assert sql is not None and "UNIQUE" in sql and "lower(username)" in sql
    else:
        (lower,) = [
            ix
            for ix in inspect(engine).get_indexes("users")
            if ix["name"] == "uq_users_lower_username"
        ]
        (expression,) = lower["expressions"]
        assert lower["unique"] and expression.replace("(", "").startswith("lowerusername"), lower
    unique_columns = {
        column
        for uq in inspect(engine).get_unique_constraints("users")
        for column in uq["column_names"]
    }
    assert unique_columns == {"email"}


def test_the_migration_can_be_undone_and_done_again(old_database: str) -> None:
    _insert_users(old_database, "alice", "Bob")
    upgrade_to_head(old_database)

    command.downgrade(alembic_config(old_database), BEFORE)
    assert _revision(old_database) == BEFORE
    upgrade_to_head(old_database)

    engine = create_engine(old_database)
    with engine.connect() as connection:
        names = connection.scalars(text("SELECT username FROM users ORDER BY id")).all()
    engine.dispose()
    assert names == ["alice", "Bob"]
