"""Driver errors as the application's errors: the one table the unit of work and metrics use."""

import sqlite3

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from application.errors import ConcurrentUpdate, TemporarilyUnavailable
from domain import messages
from domain.errors import AlreadyExists, NotFound, ValidationFailed
from infrastructure.db_errors import is_conflict, translate


def wrapped(driver_error: Exception, kind: type[sa_exc.DBAPIError] = sa_exc.DBAPIError):
    return kind("SELECT 1", {}, driver_error)


def sqlite_error(name: str, message: str = "") -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("driver_error", "expected"),
    [
        (psycopg.errors.SerializationFailure(), ConcurrentUpdate),
        (psycopg.errors.DeadlockDetected(), ConcurrentUpdate),
        (psycopg.errors.QueryCanceled(), TemporarilyUnavailable),
        (psycopg.errors.LockNotAvailable(), TemporarilyUnavailable),
        (psycopg.errors.AdminShutdown(), TemporarilyUnavailable),  # 57P01, by its class
        (psycopg.errors.ConnectionFailure(), TemporarilyUnavailable),  # 08006, by its class
        (psycopg.errors.ForeignKeyViolation(), NotFound),
        (psycopg.errors.NumericValueOutOfRange(), ValidationFailed),  # 22003, by its class
        (sqlite_error("SQLITE_BUSY", "database is locked"), TemporarilyUnavailable),
        (sqlite_error("SQLITE_BUSY_SNAPSHOT"), TemporarilyUnavailable),  # by its primary name
        (sqlite_error("SQLITE_CONSTRAINT_FOREIGNKEY"), NotFound),
    ],
)
def test_driver_errors_that_mean_something_to_a_use_case_are_translated(
    driver_error: Exception, expected: type[Exception]
) -> None:
    assert isinstance(translate(wrapped(driver_error)), expected)


def test_a_unique_violation_of_a_known_constraint_is_already_exists() -> None:
    error = sqlite3.IntegrityError("UNIQUE constraint failed: users.email")
    error.sqlite_errorname = "SQLITE_CONSTRAINT_UNIQUE"

    translated = translate(wrapped(error, sa_exc.IntegrityError))

    assert isinstance(translated, AlreadyExists)
    assert translated.messages == (messages.EMAIL_TAKEN,)


@pytest.mark.parametrize(
    "driver_error",
    [
        psycopg.errors.UniqueViolation(),  # a constraint with no message for clients
        psycopg.errors.NotNullViolation(),
        psycopg.errors.UndefinedTable(),
        sqlite_error("SQLITE_ERROR", "no such table: nowhere"),
    ],
)
def test_other_driver_errors_propagate_as_they_are(driver_error: Exception) -> None:
    assert translate(wrapped(driver_error)) is None


def test_an_exhausted_pool_and_a_failed_connect_are_temporarily_unavailable() -> None:
    assert isinstance(translate(sa_exc.TimeoutError()), TemporarilyUnavailable)
    no_server = wrapped(psycopg.OperationalError("connection refused"), sa_exc.OperationalError)
    assert isinstance(translate(no_server), TemporarilyUnavailable)


def test_the_metrics_count_as_conflicts_what_the_unit_of_work_retries() -> None:
    assert is_conflict(psycopg.errors.SerializationFailure())
    assert is_conflict(psycopg.errors.DeadlockDetected())
    assert not is_conflict(psycopg.errors.LockNotAvailable())
    assert not is_conflict(sqlite_error("SQLITE_BUSY"))
