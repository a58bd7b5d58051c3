"""Whether the workers' pools fit in the connections the database servers allow."""

from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from infrastructure.backend import Backend, backend_of
from infrastructure.settings import Settings


def connection_budget_problem(settings: Settings, workers: int) -> str | None:
    """Why ``workers`` processes on each of ``API_HOSTS`` hosts could exceed a server's
    connections, if so.

    Each worker may hold ``pool_size + pool_max_overflow`` connections to the primary, and
    its readiness probe one more; and as many to each replica (``DATABASE_REPLICA_URLS``).
    On each server they must fit in ``max_connections`` less the connections reserved for
    superusers. ``None`` when they fit, or when the database is SQLite or a server cannot
    be asked now (it is checked again at the next start).
    """
    if backend_of(settings.database_url) is not Backend.POSTGRESQL:
        return None
    pool = settings.pool_size + settings.pool_max_overflow
    servers = [("the database", settings.database_url, pool + 1)]
    servers += [(f"replica {n}", url, pool) for n, url in enumerate(settings.replica_urls, 1)]
    hosts = settings.api_hosts
    for name, url, per_worker in servers:
        allowed = _allowed_connections(url, settings.connect_timeout_seconds)
        wanted = hosts * workers * per_worker
        if allowed is None or wanted <= allowed:
            continue
        probe = " + 1 readiness probe" if per_worker > pool else ""
        on_hosts = f"{hosts} hosts x " if hosts > 1 else ""
        return (
            f"{on_hosts}{workers} workers x (POOL_SIZE {settings.pool_size} + POOL_MAX_OVERFLOW "
            f"{settings.pool_max_overflow}{probe}) = {wanted} connections, but "
            f"{name} allows {allowed} (max_connections less the superuser reserve). Lower "
            "POOL_SIZE or the number of workers, or raise max_connections."
        )
    return None


def _allowed_connections(url: str, connect_timeout: int) -> int | None:
    try:
        engine = create_engine(
            url, poolclass=NullPool, connect_args={"connect_timeout": connect_timeout}
        )
        with engine.connect() as connection:
            allowed = int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(
                connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one()
            )
        engine.dispose()
    except Exception:
        return None
    return allowed - reserved
