"""Alembic environment: the schema is ``infrastructure.orm.metadata``.

On PostgreSQL the upgrade runs under an advisory lock, so instances that migrate at the
same time take turns and the second finds the schema already at head; ``lock_timeout``
bounds how long a migration waits for a table lock held by live traffic.
"""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool, text

from infrastructure.backend import Backend, backend_of
from infrastructure.orm import metadata
from infrastructure.settings import Settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)

# `make migration`'s test compares with metadata of its own (infrastructure/migrations.py).
target_metadata = config.attributes.get("target_metadata", metadata)

# Any 64-bit number that no other tool on the database uses for an advisory lock.
MIGRATION_LOCK_ID = 7_305_021_977_001


def _database_url() -> str:
    return config.attributes.get("database_url") or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    settings = Settings()
    engine = create_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        is_postgresql = backend_of(connection) is Backend.POSTGRESQL
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=not is_postgresql,  # SQLite cannot ALTER constraints: copy-and-move
            compare_type=True,
        )
        with context.begin_transaction():
            if is_postgresql:
                # Transaction-scoped, so nothing outlives the migration, also behind
                # PgBouncer in transaction mode; the current revision is read after the lock.
                connection.execute(
                    text(f"SET LOCAL lock_timeout = {int(settings.lock_timeout_ms)}")
                )
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
