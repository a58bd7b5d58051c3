"""Failed logins are limited per account (the email asked for), in the login use case."""

import pytest

from application.errors import TooManyAttempts
from application.users import UserService
from domain.errors import InvalidCredentials
from domain.users import User
from tests.factories import UserFactory, store
from tests.fakes import CountingHasher, FakeLoginAttempts, FakeTokenService, FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def attempts() -> FakeLoginAttempts:
    return FakeLoginAttempts(limit=3, window_seconds=900)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def users(uow: FakeUnitOfWork, hasher: CountingHasher, attempts: FakeLoginAttempts) -> UserService:
    return UserService(uow, hasher, FakeTokenService(), login_attempts=attempts)


def _store(uow: FakeUnitOfWork, name: str) -> User:
    user = UserFactory(
        username=name, email=f"{name}@example.com", password_hash=f"hashed:{name}-secret"
    )
    store(uow.another, user)
    return user


@pytest.fixture
def alice(uow: FakeUnitOfWork) -> User:
    return _store(uow, "alice")


def _fail(users: UserService, email: str, times: int) -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            users.login(email=email, password="wrong")


def test_failures_up_to_the_limit_are_invalid_credentials_then_the_account_is_locked(
    users: UserService, alice: User
) -> None:
    _fail(users, "alice@example.com", 3)

    with pytest.raises(TooManyAttempts) as locked:
        users.login(email="alice@example.com", password="alice-secret")  # even the right one

    assert locked.value.retry_after == 900


def test_a_locked_account_is_refused_without_hashing(
    users: UserService, alice: User, hasher: CountingHasher
) -> None:
    _fail(users, "alice@example.com", 3)
    verified = hasher.verified

    for _ in range(5):
        with pytest.raises(TooManyAttempts):
            users.login(email="alice@example.com", password="wrong")

    assert hasher.verified == verified


def test_the_lock_ends_when_the_window_has_moved_past_the_failures(
    users: UserService, alice: User, attempts: FakeLoginAttempts
) -> None:
    _fail(users, "alice@example.com", 3)
    attempts.advance(600)
    with pytest.raises(TooManyAttempts) as locked:
        users.login(email="alice@example.com", password="alice-secret")
    assert locked.value.retry_after == 300

    attempts.advance(300)

    assert users.login(email="alice@example.com", password="alice-secret").user.username == "alice"


def test_a_successful_login_does_not_count_as_a_failure(users: UserService, alice: User) -> None:
    for _ in range(10):
        users.login(email="alice@example.com", password="alice-secret")
    _fail(users, "alice@example.com", 2)
    users.login(email="alice@example.com", password="alice-secret")

    _fail(users, "alice@example.com", 3)  # a fresh allowance after the success


def test_the_limit_is_per_account(uow: FakeUnitOfWork, users: UserService, alice: User) -> None:
    _store(uow, "bob")
    _fail(users, "alice@example.com", 3)

    assert users.login(email="bob@example.com", password="bob-secret").user.username == "bob"


def test_the_account_is_the_normalised_email(users: UserService, alice: User) -> None:
    _fail(users, "alice@example.com", 2)
    _fail(users, " ALICE@Example.com ", 1)

    with pytest.raises(TooManyAttempts):
        users.login(email="Alice@example.com", password="alice-secret")


def test_an_unknown_email_is_limited_like_a_known_one(users: UserService, alice: User) -> None:
    # The same answers in the same order: the limit tells nobody which emails have accounts.
    _fail(users, "nobody@example.com", 3)

    with pytest.raises(TooManyAttempts) as locked:
        users.login(email="nobody@example.com", password="wrong")

    assert locked.value.retry_after == 900
    assert users.login(email="alice@example.com", password="alice-secret").user.username == "alice"
