"""`make migration`: the metadata's change becomes a formatted revision, in batch mode for
SQLite, that brings a database to that metadata; no change writes nothing. The revisions
go to a temporary directory, never to alembic/versions."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Boolean, Column, ForeignKey, MetaData, Table, create_engine, false

from infrastructure.migrations import (
    ALEMBIC_DIR,
    REPO,
    alembic_config,
    write_revision,
)
from infrastructure.orm import Timestamp, metadata
from tests.integration.test_migrations import sqlite_skips_expression_indexes

PYPROJECT = REPO / "pyproject.toml"


def _with_highlights() -> MetaData:
    """The mapped metadata plus what a feature would add: a table, and a column on a table
    SQLite cannot alter in place."""
    extended = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.tables.values():
        table.to_metadata(extended)
    Table(
        "highlights",
        extended,
        Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
        Column("created_at", Timestamp, nullable=False),
    )
    extended.tables["articles"].append_column(
        Column("pinned", Boolean, nullable=False, server_default=false())
    )
    return extended


def test_no_change_writes_nothing(tmp_path: Path) -> None:
    assert write_revision("nothing", versions=[tmp_path], write_to=tmp_path) is None
    assert list(tmp_path.iterdir()) == []


@sqlite_skips_expression_indexes
def test_a_change_becomes_a_formatted_batch_revision_that_reaches_it(tmp_path: Path) -> None:
    extended = _with_highlights()

    path = write_revision(
        "add highlights", versions=[tmp_path], write_to=tmp_path, target_metadata=extended
    )

    assert path is not None and path.parent == tmp_path
    source = path.read_text()
    assert 'op.create_table(\n        "highlights",' in source
    assert 'with op.batch_alter_table("articles"' in source
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--config", str(PYPROJECT), str(path)]
    )
    assert formatted.returncode == 0

    config = alembic_config(f"sqlite:///{tmp_path / 'applied.db'}")
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", f"{ALEMBIC_DIR / 'versions'}{os.pathsep}{tmp_path}")
    command.upgrade(config, "head")
    assert _drift(config, extended) == []
    assert write_revision("again", versions=[tmp_path], target_metadata=extended) is None
    command.downgrade(config, "-1")
    assert _drift(config, metadata) == []


def _drift(config: Config, target: MetaData) -> list[Any]:
    """What ``target`` has and the database lacks, but SQLite's expression indexes (see
    tests/integration/test_migrations.py)."""
    engine = create_engine(config.attributes["database_url"])
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, target)
    finally:
        engine.dispose()
