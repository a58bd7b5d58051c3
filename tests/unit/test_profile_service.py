"""ProfileService on the fake unit of work: reading a profile, following, unfollowing."""

import pytest

from application.profiles import ProfileService
from application.read_models import ProfileView
from domain import messages
from domain.errors import Forbidden, NotFound
from domain.users import User
from tests.factories import Follow, UserFactory, as_caller, store
from tests.fakes import FakeUnitOfWork


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def profiles(uow: FakeUnitOfWork) -> ProfileService:
    return ProfileService(uow)


@pytest.fixture
def alice(uow: FakeUnitOfWork) -> User:
    user = UserFactory(username="alice")
    store(uow.another, user)
    return user


@pytest.fixture
def bob(uow: FakeUnitOfWork) -> User:
    user = UserFactory(username="bob", bio="Bob's bio", image="https://img/bob.png")
    store(uow.another, user)
    return user


def _id(user: User) -> int:
    assert user.id is not None
    return user.id


def test_a_profile_read_anonymously_is_not_followed_and_commits_nothing(
    uow: FakeUnitOfWork, profiles: ProfileService, bob: User
) -> None:
    assert profiles.get("bob", None) == ProfileView(
        username="bob", bio="Bob's bio", image="https://img/bob.png", following=False
    )
    assert not uow.committed


def test_a_profile_shows_whether_the_viewer_follows_it(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User, bob: User
) -> None:
    store(uow.another, Follow(follower_id=_id(alice), followee_id=_id(bob)))

    assert profiles.get("bob", _id(alice)).following
    assert not profiles.get("alice", _id(bob)).following


def test_an_unknown_profile_is_not_found(profiles: ProfileService) -> None:
    with pytest.raises(NotFound, match=messages.PROFILE_NOT_FOUND):
        profiles.get("nobody", None)


def test_follow_commits_the_follow(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User, bob: User
) -> None:
    followed = profiles.follow(as_caller(alice), "bob")

    assert uow.committed
    assert followed == ProfileView(
        username="bob", bio="Bob's bio", image="https://img/bob.png", following=True
    )
    assert profiles.get("bob", _id(alice)).following


def test_following_twice_is_the_same_as_once(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User, bob: User
) -> None:
    profiles.follow(as_caller(alice), "bob")
    again = profiles.follow(as_caller(alice), "bob")

    assert uow.committed
    assert again.following
    assert uow.users.follows == {(_id(alice), _id(bob))}


def test_following_yourself_is_forbidden_and_commits_nothing(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User
) -> None:
    with pytest.raises(Forbidden, match="you cannot follow yourself"):
        profiles.follow(as_caller(alice), "alice")

    assert not uow.committed
    assert uow.users.follows == set()


def test_following_an_unknown_user_is_not_found_and_commits_nothing(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User
) -> None:
    with pytest.raises(NotFound):
        profiles.follow(as_caller(alice), "nobody")

    assert not uow.committed


def test_unfollow_commits_the_unfollow(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User, bob: User
) -> None:
    profiles.follow(as_caller(alice), "bob")

    unfollowed = profiles.unfollow(as_caller(alice), "bob")

    assert uow.committed
    assert not unfollowed.following
    assert not profiles.get("bob", _id(alice)).following
    assert uow.users.follows == set()


def test_unfollowing_someone_not_followed_changes_nothing(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User, bob: User
) -> None:
    store(uow.another, Follow(follower_id=_id(bob), followee_id=_id(alice)))

    assert not profiles.unfollow(as_caller(alice), "bob").following
    assert uow.users.follows == {(_id(bob), _id(alice))}


def test_unfollowing_an_unknown_user_is_not_found_and_commits_nothing(
    uow: FakeUnitOfWork, profiles: ProfileService, alice: User
) -> None:
    with pytest.raises(NotFound):
        profiles.unfollow(as_caller(alice), "nobody")

    assert not uow.committed
