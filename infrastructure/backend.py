"""Which database is behind a URL, an engine or a connection: the one way to ask."""

from enum import StrEnum

from sqlalchemy import URL, Connection, Engine
from sqlalchemy.engine import make_url


class Backend(StrEnum):
    """The databases the service runs on (the value is SQLAlchemy's dialect name)."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


_BY_NAME = {backend.value: backend for backend in Backend}


def backend_of(source: str | URL | Engine | Connection) -> Backend:
    """The backend of a database URL (``postgresql+psycopg://...``), an engine or a
    connection; ``ValueError`` for any other database."""
    if isinstance(source, Engine | Connection):
        name = source.dialect.name
    else:
        name = make_url(source).get_backend_name()
    backend = _BY_NAME.get(name)
    if backend is None:
        raise ValueError(f"unsupported database: {name} (use sqlite or postgresql)")
    return backend
