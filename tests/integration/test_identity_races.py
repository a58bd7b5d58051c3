"""Registrations racing for one username in different cases make one user (finding 7).

The service's early check cannot see a registration that has not committed yet; the unique
index on ``lower(username)`` is what decides, and its violation is the same 422 message.
"""

from sqlalchemy import func, select

from application.users import UserService
from domain.errors import AlreadyExists
from infrastructure.database import create_session_factory
from infrastructure.orm import users
from infrastructure.security import Argon2PasswordHasher, JwtTokenService
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
    assert {f.messages for f in failures} == {("username has already been taken",)}
    assert count(wide_engine, select(func.count()).select_from(users)) == 1
    assert wide_engine.pool.checkedout() == 0
