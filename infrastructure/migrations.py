"""Schema migrations as a step of their own (``conduit migrate``), never at app start-up;
and ``make migration``, which writes a new one from the change to ``infrastructure.orm``."""

import argparse
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import Script
from sqlalchemy import MetaData

REPO = Path(__file__).resolve().parent.parent
ALEMBIC_DIR = REPO / "alembic"
# As alembic.ini names them: the date first, so the files list in the order they were written.
FILE_TEMPLATE = "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


class MigrationRefused(Exception):
    """A migration found data it must not change by itself; the message says what to do."""


def write_revision(
    message: str,
    *,
    versions: Iterable[Path] = (),
    write_to: Path | None = None,
    target_metadata: MetaData | None = None,
) -> Path | None:
    """Autogenerate a revision for what the mapped metadata has and the migrations lack;
    its path, or None when they agree (and nothing is written).

    The comparison is with a scratch SQLite database brought to head, so nothing needs to
    be running; env.py renders SQLite's batch operations (copy-and-move), which also run on
    PostgreSQL. SQLite cannot reflect expression indexes: a change to one is written by
    hand (the drift test on PostgreSQL catches it if not). The file is formatted with ruff.
    ``versions`` (more version directories), ``write_to`` and ``target_metadata`` let a
    test write a revision without touching ``alembic/versions``.
    """
    with (
        tempfile.TemporaryDirectory(prefix="conduit-migration-") as scratch,
        warnings.catch_warnings(),
    ):
        # SQLite's expression indexes, said above; each would warn on every run.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression")
        config = alembic_config(f"sqlite:///{Path(scratch) / 'head.db'}")
        config.set_main_option("file_template", FILE_TEMPLATE)
        config.set_main_option("path_separator", "os")
        locations = [ALEMBIC_DIR / "versions", *versions]
        config.set_main_option("version_locations", _pathsep_join(locations))
        if target_metadata is not None:
            config.attributes["target_metadata"] = target_metadata
        command.upgrade(config, "head")
        written = command.revision(
            config,
            message,
            autogenerate=True,
            version_path=str(write_to) if write_to else None,
            process_revision_directives=_nothing_if_unchanged,
        )
    if isinstance(written, Script):  # the revision written (None: nothing changed)
        path = Path(written.path)
        _ruff("format", "--config", str(REPO / "pyproject.toml"), str(path))
        return path
    return None


def _nothing_if_unchanged(
    _context: MigrationContext, _revision: Any, directives: list[MigrationScript]
) -> None:
    if all(script.upgrade_ops is None or script.upgrade_ops.is_empty() for script in directives):
        directives[:] = []


def _pathsep_join(paths: Iterable[Path]) -> str:
    return os.pathsep.join(str(path) for path in paths)


def _ruff(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ruff", *args], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make migration m=...",
        description="Write alembic/versions/<date>_<rev>_<message>.py from the changes to "
        "infrastructure/orm.py that the migrations do not have yet.",
    )
    parser.add_argument("message", help="what the migration does, e.g. 'add bookmarks'")
    args = parser.parse_args(argv)
    if not args.message.strip():
        parser.error('say what the migration does: make migration m="add bookmarks"')
    path = write_revision(args.message)
    if path is None:
        print("No changes: the migrations already match infrastructure/orm.py; nothing written.")
        return 0
    print(f"Wrote {path.relative_to(REPO)}: read it, then `make test` (the drift test checks it).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
