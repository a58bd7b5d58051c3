"""UserService on the fake unit of work: registration, login, the current user, updates."""

import pytest

from application.caller import Caller
from application.errors import NotAuthenticated
from application.read_models import UserView
from application.users import UpdatedUser, UserChanges, UserService
from domain import messages
from domain.errors import AlreadyExists, InvalidCredentials, ValidationFailed
from domain.users import User
from tests.factories import UserFactory, as_caller, store
from tests.fakes import CountingHasher, FakePasswordHasher, FakeTokenService, FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def users(uow: FakeUnitOfWork) -> UserService:
    return UserService(uow, FakePasswordHasher(), FakeTokenService())


@pytest.fixture
def alice(uow: FakeUnitOfWork) -> User:
    """Alice is registered (by another unit of work: ``uow`` has not been used yet)."""
    user = UserFactory(
        username="alice", email="alice@example.com", password_hash="hashed:alice-secret"
    )
    store(uow.another, user)
    return user


# -- register ---------------------------------------------------------------------------


def test_register_commits_the_new_user(uow: FakeUnitOfWork, users: UserService) -> None:
    registered = users.register(username="alice", email="alice@example.com", password="s3cret")

    assert uow.committed
    stored = uow.users.get_by_username("alice")
    assert stored is not None and stored.id is not None
    assert stored.password_hash == "hashed:s3cret"
    assert registered.user == UserView(
        email="alice@example.com", username="alice", bio="", image=""
    )
    assert registered.token == f"token-for-{stored.id}"


def test_register_stores_the_email_trimmed_and_lower_cased(
    uow: FakeUnitOfWork, users: UserService
) -> None:
    registered = users.register(username="alice", email="  Alice@Example.COM ", password="s3cret")

    assert registered.user.email == "alice@example.com"
    assert uow.users.get_by_email("alice@example.com") is not None


def test_register_with_a_taken_email_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    with pytest.raises(AlreadyExists, match=messages.EMAIL_TAKEN):
        users.register(username="alice2", email="ALICE@example.com", password="s3cret")

    assert not uow.committed
    assert uow.rolled_back
    assert uow.users.get_by_username("alice2") is None


def test_a_registration_that_will_be_refused_hashes_no_password(
    uow: FakeUnitOfWork, alice: User
) -> None:
    """A burst of registrations with one email costs one hash, not one each."""

    class CountingHasher(FakePasswordHasher):
        hashed = 0

        def hash(self, password: str) -> str:
            CountingHasher.hashed += 1
            return super().hash(password)

    users = UserService(uow, CountingHasher(), FakeTokenService())
    for username, email in (("alice2", "alice@example.com"), ("alice", "new@example.com")):
        with pytest.raises(AlreadyExists):
            users.register(username=username, email=email, password="s3cret")
    assert CountingHasher.hashed == 0


def test_register_with_a_taken_username_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    with pytest.raises(AlreadyExists, match=messages.USERNAME_TAKEN):
        users.register(username="alice", email="other@example.com", password="s3cret")

    assert not uow.committed
    assert uow.users.get_by_email("other@example.com") is None


def test_register_with_a_taken_email_and_username_reports_both(
    users: UserService, alice: User
) -> None:
    with pytest.raises(AlreadyExists) as error:
        users.register(username="alice", email="alice@example.com", password="s3cret")

    assert error.value.messages == (
        messages.EMAIL_TAKEN,
        messages.USERNAME_TAKEN,
    )


@pytest.mark.parametrize(
    ("username", "email", "password"),
    [
        ("alice", "alice@example.com", ""),
        ("alice", "not-an-email", "s3cret"),
        ("not valid", "alice@example.com", "s3cret"),
        ("alice", "alice@example.com", "nul\x00byte"),
    ],
)
def test_register_with_an_invalid_value_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, username: str, email: str, password: str
) -> None:
    with pytest.raises(ValidationFailed):
        users.register(username=username, email=email, password=password)

    assert not uow.committed
    assert uow.users.users == {}


# -- login ------------------------------------------------------------------------------


def test_login_with_the_right_password_gives_a_token(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    logged_in = users.login(email="alice@example.com", password="alice-secret")

    assert logged_in.token == f"token-for-{alice.id}"
    assert logged_in.user.username == "alice"
    assert not uow.committed


def test_login_accepts_the_email_in_any_case_and_with_spaces(
    users: UserService, alice: User
) -> None:
    logged_in = users.login(email=" ALICE@Example.com ", password="alice-secret")

    assert logged_in.user.email == "alice@example.com"


def test_login_with_a_wrong_password_is_invalid_credentials(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    with pytest.raises(InvalidCredentials, match=messages.WRONG_CREDENTIALS):
        users.login(email="alice@example.com", password="wrong")

    assert not uow.committed


@pytest.mark.parametrize("email", ["nobody@example.com", "not-an-email", ""])
def test_login_with_an_unknown_or_malformed_email_is_the_same_invalid_credentials(
    users: UserService, alice: User, email: str
) -> None:
    with pytest.raises(InvalidCredentials, match=messages.WRONG_CREDENTIALS):
        users.login(email=email, password="alice-secret")


def test_login_with_an_unknown_email_still_verifies_a_password(
    uow: FakeUnitOfWork, alice: User
) -> None:
    # Verifying costs as much as for a wrong password: no timing oracle for emails.
    hasher = CountingHasher()
    users = UserService(uow, hasher, FakeTokenService())

    with pytest.raises(InvalidCredentials):
        users.login(email="nobody@example.com", password="whatever")

    assert hasher.verified == 1


# -- current ----------------------------------------------------------------------------


def test_current_returns_the_user_and_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    assert alice.id is not None
    assert users.current(as_caller(alice)) == UserView(
        email="alice@example.com", username="alice", bio="", image=""
    )
    assert not uow.committed


def test_current_for_a_user_that_no_longer_exists_is_not_authenticated(
    users: UserService,
) -> None:
    with pytest.raises(NotAuthenticated):
        users.current(as_caller(404))


# -- update -----------------------------------------------------------------------------


def test_update_commits_the_new_values(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    assert alice.id is not None
    changes = UserChanges(
        email=" New@Example.com", username="alice2", bio="I write", image="https://img/a.png"
    )

    view = users.update(as_caller(alice), changes).user

    assert uow.committed
    assert view == UserView(
        email="new@example.com", username="alice2", bio="I write", image="https://img/a.png"
    )
    assert users.current(as_caller(alice)) == view


def test_update_leaves_the_fields_given_as_none_untouched(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    assert alice.id is not None
    users.update(as_caller(alice), UserChanges(bio="Only the bio"))

    stored = uow.users.get(alice.id)
    assert stored is not None
    assert (stored.email, stored.username, stored.image) == ("alice@example.com", "alice", "")
    assert stored.password_hash == "hashed:alice-secret"
    assert stored.bio == "Only the bio"


def test_update_with_nothing_to_change_changes_nothing(users: UserService, alice: User) -> None:
    assert alice.id is not None
    before = users.current(as_caller(alice))

    assert users.update(as_caller(alice), UserChanges()) == UpdatedUser(before, token=None)


def test_update_of_the_password_re_hashes_it(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    assert alice.id is not None
    users.update(as_caller(alice), UserChanges(password="new-secret"))

    assert uow.committed
    assert users.login(email="alice@example.com", password="new-secret").user.username == "alice"
    with pytest.raises(InvalidCredentials):
        users.login(email="alice@example.com", password="alice-secret")


def test_update_to_an_email_another_user_has_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    bob = UserFactory(username="bob", email="bob@example.com")
    store(uow.another, bob)
    assert bob.id is not None

    with pytest.raises(AlreadyExists, match=messages.EMAIL_TAKEN):
        users.update(as_caller(bob), UserChanges(email="Alice@Example.com"))

    assert not uow.committed
    assert bob.email == "bob@example.com"


def test_update_to_a_username_another_user_has_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    bob = UserFactory(username="bob", email="bob@example.com")
    store(uow.another, bob)
    assert bob.id is not None

    with pytest.raises(AlreadyExists, match=messages.USERNAME_TAKEN):
        users.update(as_caller(bob), UserChanges(username="alice"))

    assert not uow.committed
    assert bob.username == "bob"


def test_update_to_ones_own_email_and_username_is_not_a_conflict(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    assert alice.id is not None
    view = users.update(
        as_caller(alice), UserChanges(email="ALICE@example.com", username="alice")
    ).user

    assert uow.committed
    assert (view.email, view.username) == ("alice@example.com", "alice")


@pytest.mark.parametrize(
    "changes",
    [
        UserChanges(email="not-an-email"),
        UserChanges(username="not valid"),
        UserChanges(password=""),
        UserChanges(bio="\x00"),
        UserChanges(image="i" * 5000),
    ],
)
def test_update_with_an_invalid_value_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User, changes: UserChanges
) -> None:
    assert alice.id is not None
    with pytest.raises(ValidationFailed):
        users.update(as_caller(alice), changes)

    assert not uow.committed


def test_update_for_a_user_that_no_longer_exists_is_not_authenticated(
    uow: FakeUnitOfWork, users: UserService
) -> None:
    with pytest.raises(NotAuthenticated):
        users.update(as_caller(404), UserChanges(bio="ghost"))

    assert not uow.committed


# -- sessions end when the password changes ----------------------------------------------


def test_a_new_password_ends_the_sessions_before_it_and_gives_the_caller_a_new_token(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    before = as_caller(alice)

    updated = users.update(before, UserChanges(password="new-secret"))

    assert uow.committed
    assert updated.token == FakeTokenService().issue(Caller(before.user_id, 1))
    with pytest.raises(NotAuthenticated, match="session ended"):
        users.current(before)
    with pytest.raises(NotAuthenticated, match="session ended"):
        users.update(before, UserChanges(bio="from a stolen token"))
    assert users.current(FakeTokenService().verify(updated.token)).username == "alice"


@pytest.mark.parametrize(
    "changes",
    [
        UserChanges(username="alice2"),
        UserChanges(email="alice2@example.com"),
        UserChanges(bio="b", image="i"),
    ],
)
def test_other_changes_keep_the_callers_token(
    users: UserService, alice: User, changes: UserChanges
) -> None:
    before = as_caller(alice)

    assert users.update(before, changes).token is None
    assert users.current(before).bio == (changes.bio or "")


def test_a_login_after_a_password_change_gives_a_token_of_the_new_generation(
    users: UserService, alice: User
) -> None:
    users.update(as_caller(alice), UserChanges(password="new-secret"))

    token = users.login(email="alice@example.com", password="new-secret").token

    assert FakeTokenService().verify(token) == Caller(alice.id or 0, 1)


# -- usernames are one whatever their case -----------------------------------------------


@pytest.mark.parametrize("variant", ["Alice", "ALICE"])
def test_register_with_a_case_variant_of_a_taken_username_commits_nothing(
    uow: FakeUnitOfWork, users: UserService, alice: User, variant: str
) -> None:
    with pytest.raises(AlreadyExists, match=messages.USERNAME_TAKEN):
        users.register(username=variant, email="other@example.com", password="pw")

    assert not uow.committed


def test_a_user_may_change_the_case_of_their_own_name(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    assert users.update(as_caller(alice), UserChanges(username="ALICE")).user.username == "ALICE"
    assert uow.committed


def test_nobody_may_take_another_users_name_in_another_case(
    uow: FakeUnitOfWork, users: UserService, alice: User
) -> None:
    bob = UserFactory(username="bob", email="bob@example.com")
    store(uow.another, bob)

    with pytest.raises(AlreadyExists, match=messages.USERNAME_TAKEN):
        users.update(as_caller(bob), UserChanges(username="Alice"))

    assert not uow.committed
