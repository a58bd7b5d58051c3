"""The session factory the unit of work opens its sessions from."""

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that never flush or expire behind the caller's back.

    The entities must be mapped first (``infrastructure.orm.map_entities``, called by the
    composition root): sessions of unmapped classes fail at their first query.
    """
    return sessionmaker(bind=engine, autoflush=False, expire_on_commit=False)
