"""Use cases on the fake unit of work: no database, no network."""

import pytest

from tests.factories import UserFactory, store
from tests.fakes import FakeUnitOfWork, FixedClock


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def stored_user_id(uow: FakeUnitOfWork, username: str) -> int:
    """Store a user through another unit of work on the same fake data, so ``uow``'s
    ``committed`` flag stays about the use case under test."""
    user = UserFactory(username=username)
    store(uow.another, user)
    assert user.id is not None
    return user.id


@pytest.fixture
def alice(uow: FakeUnitOfWork) -> int:
    """Alice's user id (modules about users override it with the User itself)."""
    return stored_user_id(uow, "alice")


@pytest.fixture
def bob(uow: FakeUnitOfWork) -> int:
    return stored_user_id(uow, "bob")
