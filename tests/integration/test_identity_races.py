"""Registrations racing for one username in different cases make one user (finding 7).

The service's early check cannot see a registration that has not committed yet; the unique
index on ``lower(username)`` is what decides, and its violation is the same 422 message.
"""

from sqlalchemy import func, select

from application.errors import NotAuthenticated
from application.users import UpdatedUser, UserChanges, UserService
from domain import messages
from domain.errors import AlreadyExists
from infrastructure.orm import users
from infrastructure.security import Argon2PasswordHasher, JwtTokenService
from infrastructure.sessions import create_session_factory
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import TEST_JWT_SECRET
from tests.integration.test_concurrency import WORKERS, at_once, count, wide_engine

__all__ = ["wide_engine"]  # the fixture, shared with the other concurrency tests


def test_concurrent_registrations_of_one_username_in_any_case_make_one_user(wide_engine):
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(wide_engine))  # noqa: E731
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    tokens = JwtTokenService(TEST_JWT_SECRET, ttl_seconds=60)
    variants = ["alice", "Alice", "ALICE", "aLiCe", "alicE"]

    def register(n: int) -> object:
        return UserService(new_uow(), hasher, tokens).register(
            username=variants[n % len(variants)], email=f"user{n}@example.com", password="pw"
        )

    results = at_once([lambda n=n: register(n) for n in range(WORKERS)])

    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == WORKERS - 1
    assert all(isinstance(f, AlreadyExists) for f in failures), failures
    assert {f.messages for f in failures} == {(messages.USERNAME_TAKEN,)}
    assert count(wide_engine, select(func.count()).select_from(users)) == 1
    assert wide_engine.pool.checkedout() == 0


def test_concurrent_password_changes_from_one_session_leave_one_session(wide_engine):
    """Each change ends the session the others came from: exactly one may win.

    Without a lock on PostgreSQL, every change read the same generation and wrote the next,
    so all of them got a working token from sessions that should have ended."""
    new_uow = lambda: SqlAlchemyUnitOfWork(create_session_factory(wide_engine))  # noqa: E731
    hasher = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)
    tokens = JwtTokenService(TEST_JWT_SECRET, ttl_seconds=60)
    service = lambda: UserService(new_uow(), hasher, tokens)  # noqa: E731
    token = service().register(username="alice", email="alice@example.com", password="pw").token
    caller = tokens.verify(token)
    changes = 10

    results = at_once(
        [
            lambda n=n: service().update(caller, UserChanges(password=f"new-{n}"))
            for n in range(changes)
        ]
    )

    won = [r for r in results if isinstance(r, UpdatedUser)]
    assert len(won) == 1, results
    assert all(isinstance(r, NotAuthenticated) for r in results if r not in won), results
    with new_uow() as uow:
        stored = uow.users.get(caller.user_id)
        assert stored is not None and stored.token_generation == 1
    assert won[0].token is not None and tokens.verify(won[0].token).token_generation == 1
