"""Whether the workers' pools fit in the connections the database server allows."""

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from infrastructure.backend import Backend, backend_of
from infrastructure.settings import Settings


def connection_budget_problem(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes with this pool could exceed the server's connections, if so.

    Each worker may hold ``pool_size + pool_max_overflow`` connections, and its readiness
    probe one more; together they must fit in ``max_connections`` less the connections
    reserved for superusers. ``None`` when they fit, or when the database is SQLite or
    cannot be asked now (it is checked again at the next start).
    """
    if backend_of(settings.database_url) is not Backend.POSTGRESQL:
        return None
    try:
        engine = create_engine(
            settings.database_url,
            poolclass=NullPool,
            connect_args={"connect_timeout": settings.connect_timeout_seconds},
        )
        with engine.connect() as connection:
            allowed = int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(
                connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one()
            )
        engine.dispose()
    except Exception:
        return None
    # Each worker also keeps its readiness probe's connection (ReadinessProbe).
    wanted = workers * (settings.pool_size + settings.pool_max_overflow + 1)
    if wanted > allowed - reserved:
        return (
            f"{workers} workers x (POOL_SIZE {settings.pool_size} + POOL_MAX_OVERFLOW "
            f"{settings.pool_max_overflow} + 1 readiness probe) = {wanted} connections, but "
            "the database allows "
            f"{allowed - reserved} (max_connections {allowed} - {reserved} reserved). "
            "Lower POOL_SIZE or the number of workers, or raise max_connections."
        )
    return None
