"""Database errors as the application's errors: one table, for the unit of work and the metrics.

A driver error is known by its code: the SQLSTATE on PostgreSQL (psycopg's, or asyncpg's through
SQLAlchemy's adapter: ``.sqlstate`` on both), the extended error name on
SQLite (``sqlite3.Error.sqlite_errorname``). ``_BY_CODE`` maps each code that means something
to the use case to what it means; everything else propagates as it is (a 500 with a request
id: a bug to look at, not a condition to handle).
"""

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from application.errors import ConcurrentUpdate, TemporarilyUnavailable
from domain import messages
from domain.errors import AlreadyExists, NotFound, ValidationFailed

# Unique constraints (by the naming convention in orm.py) and what a client is told.
_TAKEN = {
    "uq_users_email": messages.EMAIL_TAKEN,
    "uq_users_lower_username": messages.USERNAME_TAKEN,
    "uq_articles_slug": messages.SLUG_TAKEN,
}
# SQLite names the columns instead of the constraint, and an expression index as
# "index 'name'" (the lower(username) one).
_SQLITE_UNIQUE = {
    "users.email": "uq_users_email",
    "index 'uq_users_lower_username'": "uq_users_lower_username",
    "articles.slug": "uq_articles_slug",
}


def _taken(error: sa_exc.DBAPIError) -> Exception | None:
    message = _TAKEN.get(_unique_constraint(error) or "")
    return AlreadyExists(message) if message is not None else None


def _gone(_error: sa_exc.DBAPIError) -> Exception:
    # What the use case looked up was deleted by a concurrent request before it wrote.
    return NotFound(messages.REFERENCE_GONE)


def _unstorable(_error: sa_exc.DBAPIError) -> Exception:
    # Values are checked before they reach the database; this is the net under that.
    return ValidationFailed(messages.UNSTORABLE_VALUE)


def _conflict(_error: sa_exc.DBAPIError) -> Exception:
    # The transaction lost a race (serialization failure, deadlock); running it again may win.
    return ConcurrentUpdate(messages.CONCURRENT_CHANGE)


def _unavailable(_error: sa_exc.DBAPIError) -> Exception:
    return TemporarilyUnavailable(messages.DATABASE_CANNOT_SERVE)


_BY_CODE: dict[str, Callable[[sa_exc.DBAPIError], Exception | None]] = {
    # PostgreSQL SQLSTATEs
    "23505": _taken,  # unique violation
    "23503": _gone,  # foreign key violation
    "40001": _conflict,  # serialization failure
    "40P01": _conflict,  # deadlock detected
    "57014": _unavailable,  # statement_timeout cancelled the query
    "55P03": _unavailable,  # a lock was not granted within lock_timeout
    "08": _unavailable,  # class 08: connection exception
    "57P0": _unavailable,  # 57P01-57P05: the server is shutting down or restarting
    "22": _unstorable,  # class 22: data exception (a value out of range, a bad encoding)
    # SQLite extended error names
    "SQLITE_CONSTRAINT_UNIQUE": _taken,
    "SQLITE_CONSTRAINT_FOREIGNKEY": _gone,
    "SQLITE_BUSY": _unavailable,  # the write lock was not free within busy_timeout
    "SQLITE_LOCKED": _unavailable,
    "SQLITE_TOOBIG": _unstorable,
}


def translate(error: sa_exc.SQLAlchemyError) -> Exception | None:
    """The application's error for a database error, or None to let it propagate as it is."""
    if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection within its timeout
        return TemporarilyUnavailable(messages.NO_CONNECTION_FREE)
    if not isinstance(error, sa_exc.DBAPIError):
        return None
    if error.connection_invalidated:  # the connection died under the statement
        return _unavailable(error)
    code = _code(error.orig)
    if code is None:
        # psycopg could not connect at all: no server said anything.
        could_not_connect = isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
        return _unavailable(error) if could_not_connect else None
    meaning = _meaning(code)
    return meaning(error) if meaning is not None else None


def is_conflict(error: BaseException) -> bool:
    """Whether a driver error is a lost race (for the metrics, which see driver errors)."""
    code = _code(error)
    return code is not None and _meaning(code) is _conflict


def _meaning(code: str) -> Callable[[sa_exc.DBAPIError], Exception | None] | None:
    """The entry for ``code``, or for its class: the SQLSTATE's first 4 or 2 characters,
    the SQLite primary error name (``SQLITE_BUSY`` for ``SQLITE_BUSY_SNAPSHOT``)."""
    candidates: tuple[str, ...]
    if code.startswith("SQLITE_"):
        candidates = (code, "_".join(code.split("_")[:2]))
    else:
        candidates = (code, code[:4], code[:2])
    return next((_BY_CODE[c] for c in candidates if c in _BY_CODE), None)


@contextmanager
def translated_errors() -> Iterator[None]:
    """Database errors raised inside leave as the application's errors, where they have one."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        translated = translate(error)
        if translated is None:
            raise
        raise translated from error


def _code(driver_error: BaseException | None) -> str | None:
    if isinstance(driver_error, sqlite3.Error):
        return getattr(driver_error, "sqlite_errorname", None)
    return getattr(driver_error, "sqlstate", None)


def _unique_constraint(error: sa_exc.DBAPIError) -> str | None:
    diag = getattr(error.orig, "diag", None)
    if diag is not None:  # psycopg
        return getattr(diag, "constraint_name", None)
    # asyncpg: SQLAlchemy's adapter error (its SQLSTATE as .sqlstate, like psycopg's) wraps
    # the driver's own, which names the constraint.
    asyncpg_error = getattr(error.orig, "orig", None)
    if asyncpg_error is not None:
        return getattr(asyncpg_error, "constraint_name", None)
    message = str(error.orig)
    prefix = "UNIQUE constraint failed: "
    if message.startswith(prefix):
        return _SQLITE_UNIQUE.get(message[len(prefix) :].split(",")[0].strip())
    return None
