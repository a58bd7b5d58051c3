"""One set of repository and read-side tests, run against every implementation.

The fakes (tests/fakes.py) and the SQLAlchemy repositories on SQLite and on PostgreSQL must
pass the same tests, so service tests on the fake unit of work mean what they say. Each
test uses ``make_uow`` as the container's UoW factory: every call is a new unit of work on
the same data, and only committed work is meant to be seen by the next one.
"""

import inspect
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from application.articles import ArticleDraft, ArticleService
from application.caller import Caller
from application.read_models import (
    ArticleFilter,
    ArticleList,
    ArticlePage,
    FavoritedBy,
    FollowedBy,
    ListFilter,
    ListOrder,
    ListSource,
    ReadQueries,
    TaggedWith,
    UserView,
)
from application.unit_of_work import UnitOfWork
from domain import messages
from domain.articles import Article, ArticleRepository
from domain.comments import Comment, CommentRepository
from domain.errors import AlreadyExists
from domain.users import User, UserRepository, username_key
from infrastructure.instrumentation import counting_statements
from infrastructure.orm import articles as articles_table
from infrastructure.orm import comments as comments_table
from infrastructure.orm import users as users_table
from infrastructure.queries import sql_part, user_id
from tests.conftest import MakeUow
from tests.factories import (
    ArticleFactory,
    CommentFactory,
    Favorite,
    Follow,
    UserFactory,
    as_caller,
    store,
)
from tests.fakes import (
    FakeArticleRepository,
    FakeCommentRepository,
    FakeReadQueries,
    FakeUnitOfWork,
    FakeUserRepository,
    FixedClock,
    Listed,
    fake_part,
)


def _id(thing: User | Article | Comment) -> int:
    assert thing.id is not None, "stored things have an id"
    return thing.id


def _following(uow: UnitOfWork, username: str, viewer_id: int | None) -> bool:
    profile = uow.reads.profile(username, viewer_id)
    assert profile is not None, username
    return profile.following


def _favorites(uow: UnitOfWork, slug: str, viewer_id: int | None) -> tuple[bool, int]:
    """(favorited by the viewer, favorites count) of the article, as the read side has it."""
    view = uow.reads.article(slug, viewer_id)
    assert view is not None, slug
    return view.favorited, view.favorites_count


def _feed(uow: UnitOfWork, reader: Caller, limit: int, offset: int) -> ArticlePage:
    return uow.reads.page(
        ArticleList(FollowedBy(reader), limit=limit, offset=offset), reader.user_id
    )


def _users(make_uow: MakeUow, *usernames: str) -> list[User]:
    users = [UserFactory(username=name) for name in usernames]
    store(make_uow, *users)
    return users


T0 = datetime(2026, 2, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- the fakes have the interfaces' methods -----------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "fake"),
    [
        (UserRepository, FakeUserRepository),
        (ArticleRepository, FakeArticleRepository),
        (CommentRepository, FakeCommentRepository),
        (ReadQueries, FakeReadQueries),
        (UnitOfWork, FakeUnitOfWork),
    ],
)
def test_a_fake_has_every_method_of_its_interface_with_the_same_parameters(
    protocol: type, fake: type
) -> None:
    methods = {
        name: member
        for name, member in vars(protocol).items()
        if callable(member) and (not name.startswith("_") or name in {"__enter__", "__exit__"})
    }
    assert methods, protocol
    for name, method in methods.items():
        assert hasattr(fake, name), f"{fake.__name__} lacks {name}"
        expected = list(inspect.signature(method).parameters)
        assert list(inspect.signature(getattr(fake, name)).parameters) == expected, name


def test_a_fake_unit_of_work_has_the_repositories_and_the_read_side() -> None:
    uow = FakeUnitOfWork()
    for name in UnitOfWork.__annotations__:
        assert hasattr(uow, name), name


# -- users ------------------------------------------------------------------------------


def test_added_users_get_distinct_ids_and_are_found_by_id_email_and_username(
    make_uow: MakeUow,
) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    assert _id(alice) != _id(bob)

    with make_uow() as uow:
        by_id, by_email, by_name = (
            uow.users.get(_id(alice)),
            uow.users.get_by_email("alice@example.com"),
            uow.users.get_by_username("alice"),
        )
        assert by_id is not None and by_email is not None and by_name is not None
        assert {_id(by_id), _id(by_email), _id(by_name)} == {_id(alice)}
        assert (by_id.username, by_id.email, by_id.password_hash) == (
            "alice",
            "alice@example.com",
            alice.password_hash,
        )


def test_whether_a_user_exists_is_known_by_id_and_session_generation(
    make_uow: MakeUow,
) -> None:
    (alice,) = _users(make_uow, "alice")
    with make_uow() as uow:
        assert uow.users.exists(_id(alice), 0)
        assert not uow.users.exists(_id(alice), 1)
        assert not uow.users.exists(10_000, 0)


def test_a_password_change_moves_the_user_to_the_next_session_generation(
    make_uow: MakeUow,
) -> None:
    (alice,) = _users(make_uow, "alice")
    with make_uow() as uow:
        user = uow.users.get(_id(alice))
        assert user is not None and user.token_generation == 0
        user.change_password("another-hash")
        uow.users.save(user)
        uow.commit()

    with make_uow() as uow:
        stored = uow.users.get(_id(alice))
        assert stored is not None
        assert (stored.password_hash, stored.token_generation) == ("another-hash", 1)
        assert uow.users.exists(_id(alice), 1) and not uow.users.exists(_id(alice), 0)


def test_unknown_users_are_none(make_uow: MakeUow) -> None:
    _users(make_uow, "alice")
    with make_uow() as uow:
        assert uow.users.get(10_000) is None
        assert uow.users.get_by_email("nobody@example.com") is None
        assert uow.users.get_by_username("nobody") is None


def test_usernames_are_looked_up_in_any_case_and_kept_as_written(make_uow: MakeUow) -> None:
    _users(make_uow, "Alice", "Kate")
    with make_uow() as uow:
        for variant in ("Alice", "alice", "ALICE"):
            found = uow.users.get_by_username(variant)
            assert found is not None and found.username == "Alice", variant
        # Only ASCII letters have a case here: the Kelvin sign is not a "K".
        assert uow.users.get_by_username("\u212aate") is None
        assert uow.users.get_by_username("kate") is not None
        profile = uow.reads.profile("aLICE", None)
        assert profile is not None and profile.username == "Alice"


@pytest.mark.parametrize("variant", ["alice", "ALICE"])
def test_a_username_differing_only_in_case_from_a_taken_one_is_refused(
    make_uow: MakeUow, variant: str
) -> None:
    """The constraint itself: what a race past the service's early check meets."""
    _users(make_uow, "Alice")

    with pytest.raises(AlreadyExists, match=messages.USERNAME_TAKEN), make_uow() as uow:
        uow.users.add(UserFactory(username=variant))
        uow.commit()


def test_the_id_of_a_deleted_user_is_never_given_to_another(make_uow: MakeUow) -> None:
    """A token names a user id: a reused id would hand a deleted user's token a new account."""
    alice, bob = _users(make_uow, "alice", "bob")
    _delete_user(make_uow, bob)
    (carol,) = _users(make_uow, "carol")
    assert _id(carol) not in {_id(alice), _id(bob)}
    assert _id(carol) > _id(bob)


def test_the_id_of_a_deleted_article_or_comment_is_never_given_to_another(
    make_uow: MakeUow,
) -> None:
    (alice,) = _users(make_uow, "alice")
    first, second = ArticleFactory(author_id=_id(alice)), ArticleFactory(author_id=_id(alice))
    store(make_uow, first, second)
    comment = CommentFactory(article_id=_id(second), author_id=_id(alice))
    store(make_uow, comment)
    with make_uow() as uow:
        uow.comments.remove(uow.comments.get(_id(comment)))  # type: ignore[arg-type]
        uow.articles.remove(uow.articles.get_by_slug(second.slug))  # type: ignore[arg-type]
        uow.commit()
    third = ArticleFactory(author_id=_id(alice))
    store(make_uow, third)
    another = CommentFactory(article_id=_id(first), author_id=_id(alice))
    store(make_uow, another)
    assert _id(third) > _id(second)
    assert _id(another) > _id(comment)


def _delete_user(make_uow: MakeUow, user: User) -> None:
    """Deleting accounts is no use case yet (an admin or an erasure request does it)."""
    with make_uow() as uow:
        if isinstance(uow, FakeUnitOfWork):
            del uow.users.users[_id(user)]
        else:
            session = uow.session  # type: ignore[attr-defined]
            session.connection().execute(users_table.delete().where(users_table.c.id == _id(user)))
        uow.commit()


@pytest.mark.parametrize(
    ("taken", "message"),
    [
        ({"email": "alice@example.com"}, messages.EMAIL_TAKEN),
        ({"username": "alice"}, messages.USERNAME_TAKEN),
    ],
)
def test_a_user_with_a_taken_email_or_username_is_refused(
    make_uow: MakeUow, taken: dict[str, str], message: str
) -> None:
    _users(make_uow, "alice")
    newcomer = UserFactory(**{"username": "newcomer", "email": "new@example.com", **taken})

    with pytest.raises(AlreadyExists, match=message), make_uow() as uow:
        uow.users.add(newcomer)
        uow.commit()


@pytest.mark.parametrize(
    ("taken", "message"),
    [
        ({"email": "alice@example.com"}, messages.EMAIL_TAKEN),
        ({"username": "ALICE"}, messages.USERNAME_TAKEN),
    ],
)
def test_saving_a_user_with_a_taken_email_or_username_is_refused(
    make_uow: MakeUow, taken: dict[str, str], message: str
) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    assert alice.email == "alice@example.com"

    with pytest.raises(AlreadyExists, match=message), make_uow() as uow:
        user = uow.users.get(_id(bob))
        assert user is not None
        for field, value in taken.items():
            setattr(user, field, value)
        uow.users.save(user)
        uow.commit()


def test_saved_changes_to_a_user_are_read_in_the_same_unit_and_kept(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    with make_uow() as uow:
        user = uow.users.get(_id(alice))
        assert user is not None
        user.bio = "Now with a bio"
        uow.users.save(user)
        seen = uow.reads.profile("alice", None)
        assert seen is not None and seen.bio == "Now with a bio"
        uow.commit()

    with make_uow() as uow:
        profile = uow.reads.profile("alice", None)
        assert profile is not None and profile.bio == "Now with a bio"


def test_a_follow_is_seen_from_the_follower_only(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    with make_uow() as uow:
        uow.users.follow(_id(alice), _id(bob))
        uow.commit()

    with make_uow() as uow:
        assert _following(uow, "bob", _id(alice))
        assert not _following(uow, "alice", _id(bob))
        assert not _following(uow, "bob", None)


def test_following_twice_leaves_one_follow_and_one_unfollow_removes_it(
    make_uow: MakeUow,
) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    with make_uow() as uow:
        uow.users.follow(_id(alice), _id(bob))
        uow.users.follow(_id(alice), _id(bob))
        uow.commit()
    with make_uow() as uow:
        uow.users.follow(_id(alice), _id(bob))
        uow.users.unfollow(_id(alice), _id(bob))
        uow.commit()

    with make_uow() as uow:
        assert not _following(uow, "bob", _id(alice))


def test_unfollowing_someone_not_followed_changes_nothing(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    store(make_uow, Follow(follower_id=_id(bob), followee_id=_id(alice)))
    with make_uow() as uow:
        uow.users.unfollow(_id(alice), _id(bob))
        uow.commit()

    with make_uow() as uow:
        assert _following(uow, "alice", _id(bob))
        assert not _following(uow, "bob", _id(alice))


def test_the_profile_of_an_unknown_user_is_none(make_uow: MakeUow) -> None:
    with make_uow() as uow:
        assert uow.reads.profile("nobody", None) is None


# -- articles ---------------------------------------------------------------------------


def test_an_added_article_is_read_with_its_body_tags_and_author(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    article = ArticleFactory(
        author_id=_id(alice), title="Dragons", body="Fire!", with_tags=["b", "a"], created_at=T0
    )
    store(make_uow, article)

    with make_uow() as uow:
        view = uow.reads.article("dragons", None)
        assert view is not None
        assert (view.slug, view.title, view.description, view.body) == (
            "dragons",
            "Dragons",
            "What it is about",
            "Fire!",
        )
        assert view.tag_list == ("a", "b")
        assert (view.created_at, view.updated_at) == (T0, T0)
        assert (view.favorited, view.favorites_count) == (False, 0)
        assert (view.author.username, view.author.following) == ("alice", False)


def test_an_article_is_found_by_its_slug(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    article = ArticleFactory(author_id=_id(alice), title="Dragons")
    store(make_uow, article)

    with make_uow() as uow:
        found = uow.articles.get_by_slug("dragons")
        assert found is not None
        assert (_id(found), found.title, found.author_id) == (_id(article), "Dragons", _id(alice))
        assert uow.articles.get_by_slug("no-such-article") is None
        assert uow.articles.slug_exists("dragons")
        assert not uow.articles.slug_exists("no-such-article")


def test_tag_names_shared_by_articles_are_stored_once(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    store(make_uow, ArticleFactory(author_id=_id(alice), with_tags=["python", "web"]))
    store(make_uow, ArticleFactory(author_id=_id(alice), with_tags=["db", "python"]))

    with make_uow() as uow:
        assert uow.reads.tags() == ["db", "python", "web"]


def test_an_article_with_a_taken_slug_is_not_added_and_leaves_the_unit_usable(
    make_uow: MakeUow,
) -> None:
    (alice,) = _users(make_uow, "alice")
    store(make_uow, ArticleFactory(author_id=_id(alice), title="Dragons", body="First"))

    with make_uow() as uow:
        second = ArticleFactory(author_id=_id(alice), title="Dragons", with_tags=["new"])
        assert uow.articles.add(second) is False
        assert second.id is None
        # Not an error: the same unit of work goes on, with another slug.
        second.slug = "dragons-2"
        assert uow.articles.add(second) is True
        uow.commit()

    with make_uow() as uow:
        first = uow.reads.article("dragons", None)
        assert first is not None and (first.body, first.tag_list) == ("First", ())
        again = uow.reads.article("dragons-2", None)
        assert again is not None and again.tag_list == ("new",)
        assert uow.reads.tags() == ["new"]


def test_saved_changes_are_read_in_the_same_unit_and_kept_after_commit(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    store(make_uow, ArticleFactory(author_id=_id(alice), title="Dragons", with_tags=["x"]))

    with make_uow() as uow:
        article = uow.articles.get_by_slug("dragons")
        assert article is not None
        article.title, article.slug, article.body = "Wyverns", "wyverns", "New body"
        article.updated_at = _at(5)
        uow.articles.save(article)
        seen = uow.reads.article("wyverns", None)
        assert seen is not None and seen.title == "Wyverns"
        uow.commit()

    with make_uow() as uow:
        assert uow.reads.article("dragons", None) is None
        view = uow.reads.article("wyverns", None)
        assert view is not None
        assert (view.body, view.updated_at, view.tag_list) == ("New body", _at(5), ("x",))


def test_a_favorite_counts_once_and_is_seen_by_the_reader_who_gave_it(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    store(make_uow, ArticleFactory(author_id=_id(alice), title="Dragons"))

    with make_uow() as uow:
        assert uow.articles.add_favorite("dragons", _id(bob)) == 1
        assert uow.articles.add_favorite("dragons", _id(bob)) is None
        assert uow.articles.add_favorite("no-such-article", _id(bob)) is None
        uow.commit()

    with make_uow() as uow:
        assert _favorites(uow, "dragons", _id(bob)) == (True, 1)
        assert _favorites(uow, "dragons", _id(alice)) == (False, 1)


def test_favorites_of_several_readers_add_up_and_unfavorite_takes_one_away(
    make_uow: MakeUow,
) -> None:
    alice, bob, carol = _users(make_uow, "alice", "bob", "carol")
    store(
        make_uow,
        ArticleFactory(author_id=_id(alice), title="Dragons"),
        Favorite(user_id=_id(bob), article_slug="dragons"),
        Favorite(user_id=_id(carol), article_slug="dragons"),
    )

    with make_uow() as uow:
        assert _favorites(uow, "dragons", None) == (False, 2)
        assert uow.articles.remove_favorite("dragons", _id(bob)) == 1
        assert uow.articles.remove_favorite("dragons", _id(bob)) is None
        assert uow.articles.remove_favorite("dragons", _id(alice)) is None  # never favorited
        assert uow.articles.remove_favorite("no-such-article", _id(carol)) is None
        # Seen at once in the same unit of work: the service returns this view.
        assert _favorites(uow, "dragons", None) == (False, 1)
        uow.commit()

    with make_uow() as uow:
        assert _favorites(uow, "dragons", _id(carol)) == (True, 1)
        assert _favorites(uow, "dragons", _id(bob)) == (False, 1)


def test_removing_an_article_removes_its_comments_and_favorites_only(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    doomed = ArticleFactory(author_id=_id(alice), title="Doomed", with_tags=["t"])
    kept = ArticleFactory(author_id=_id(alice), title="Kept", with_tags=["t"])
    store(make_uow, doomed, kept)
    doomed_comment = CommentFactory(article_id=_id(doomed), author_id=_id(bob))
    kept_comment = CommentFactory(article_id=_id(kept), author_id=_id(bob))
    store(
        make_uow,
        doomed_comment,
        kept_comment,
        Favorite(user_id=_id(bob), article_slug="doomed"),
        Favorite(user_id=_id(bob), article_slug="kept"),
    )

    with make_uow() as uow:
        article = uow.articles.get_by_slug("doomed")
        assert article is not None
        uow.articles.remove(article)
        uow.commit()

    with make_uow() as uow:
        assert uow.articles.get_by_slug("doomed") is None
        assert not uow.articles.slug_exists("doomed")
        assert uow.comments.get(_id(doomed_comment)) is None
        assert uow.comments.get(_id(kept_comment)) is not None
        favorites = uow.reads.page(ArticleList(filters=(FavoritedBy("bob"),)), None)
        assert [a.slug for a in favorites.articles] == ["kept"]
        assert [
            a.slug for a in uow.reads.page(ArticleList(filters=(TaggedWith("t"),)), None).articles
        ] == ["kept"]


def test_an_article_read_for_a_caller_is_as_they_see_it_while_their_session_holds(
    make_uow: MakeUow,
) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    store(
        make_uow,
        ArticleFactory(author_id=_id(alice), title="Dragons", with_tags=["b", "a"]),
        Follow(follower_id=_id(bob), followee_id=_id(alice)),
        Favorite(user_id=_id(bob), article_slug="dragons"),
    )

    with make_uow() as uow:
        seen = uow.reads.article_for_caller("dragons", as_caller(bob))
        assert seen is not None
        assert seen == uow.reads.article("dragons", _id(bob))
        assert (seen.favorited, seen.favorites_count, seen.author.following) == (True, 1, True)
        assert uow.reads.article_for_caller("no-such-article", as_caller(bob)) is None
        # A token of an ended session, or of a user that is gone, reads nothing.
        assert uow.reads.article_for_caller("dragons", Caller(_id(bob), 1)) is None
        assert uow.reads.article_for_caller("dragons", Caller(10_000, 0)) is None


def test_an_account_reads_as_its_owner_sees_it_while_their_session_holds(
    make_uow: MakeUow,
) -> None:
    [alice] = _users(make_uow, "alice")

    with make_uow() as uow:
        seen = uow.reads.account(as_caller(alice))
        assert seen == UserView(
            email=alice.email, username="alice", bio=alice.bio, image=alice.image
        )
        # A token of an ended session, or of a user that is gone, reads nothing.
        assert uow.reads.account(Caller(_id(alice), alice.token_generation + 1)) is None
        assert uow.reads.account(Caller(10_000, 0)) is None


def test_an_article_created_reads_back_as_the_use_case_returned_it(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    store(make_uow, ArticleFactory(author_id=_id(bob), title="Taken", with_tags=["old"]))
    clock = FixedClock(datetime(2026, 2, 1, 12, 30, 15, 123456, tzinfo=UTC))
    service = lambda: ArticleService(make_uow(), clock)  # noqa: E731

    fresh = service().create(
        as_caller(alice), ArticleDraft("Fresh", "About", "Body", ("zebra", "old", "Apple"))
    )
    taken = service().create(as_caller(alice), ArticleDraft("Taken", "About", "Body"))

    assert fresh.tag_list == ("Apple", "old", "zebra")
    assert taken.slug.startswith("taken-") and taken.slug != "taken"
    for view in (fresh, taken):
        assert service().get(view.slug, _id(alice)) == view
    with make_uow() as uow:
        assert uow.reads.tags() == ["Apple", "old", "zebra"]


# -- article lists ----------------------------------------------------------------------


def test_lists_are_newest_first_with_the_later_added_first_on_a_tie(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    store(
        make_uow,
        ArticleFactory(author_id=_id(alice), title="Old", created_at=_at(1)),
        ArticleFactory(author_id=_id(alice), title="Tie one", created_at=_at(2)),
        ArticleFactory(author_id=_id(alice), title="Tie two", created_at=_at(2)),
        ArticleFactory(author_id=_id(alice), title="New", created_at=_at(3)),
        ArticleFactory(author_id=_id(alice), title="Older", created_at=_at(0)),
    )

    with make_uow() as uow:
        page = uow.reads.page(ArticleList(), None)
        assert [a.title for a in page.articles] == ["New", "Tie two", "Tie one", "Old", "Older"]
        assert page.total == 5


def test_lists_omit_the_body_but_carry_tags_and_favorites(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    store(
        make_uow,
        ArticleFactory(author_id=_id(alice), title="Tagged", with_tags=["z", "a"]),
        Favorite(user_id=_id(bob), article_slug="tagged"),
        Follow(follower_id=_id(bob), followee_id=_id(alice)),
    )

    with make_uow() as uow:
        (view,) = uow.reads.page(ArticleList(), _id(bob)).articles
        assert view.body is None
        assert view.tag_list == ("a", "z")
        assert (view.favorited, view.favorites_count, view.author.following) == (True, 1, True)


def test_lists_filter_by_tag_author_and_favorited_by(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    store(
        make_uow,
        ArticleFactory(author_id=_id(alice), title="A rust", with_tags=["rust"]),
        ArticleFactory(author_id=_id(alice), title="A python", with_tags=["python", "web"]),
        ArticleFactory(author_id=_id(bob), title="B python", with_tags=["python"]),
        Favorite(user_id=_id(bob), article_slug="a-rust"),
        Favorite(user_id=_id(alice), article_slug="b-python"),
    )

    def titles(**filters: str) -> list[str]:
        with make_uow() as uow:
            return [
                a.title for a in uow.reads.page(ArticleFilter(**filters).as_list(), None).articles
            ]

    assert titles(tag="python") == ["B python", "A python"]
    assert titles(author="alice") == ["A python", "A rust"]
    assert titles(favorited_by="bob") == ["A rust"]
    assert titles(tag="python", author="alice") == ["A python"]
    assert titles(tag="python", favorited_by="alice") == ["B python"]
    assert titles(tag="no-such-tag") == []
    assert titles(author="nobody") == []
    assert titles(favorited_by="nobody") == []


def test_lists_page_with_limit_and_offset_and_count_all_matches(make_uow: MakeUow) -> None:
    (alice,) = _users(make_uow, "alice")
    store(
        make_uow,
        *(
            ArticleFactory(author_id=_id(alice), title=f"Article {n}", created_at=_at(n))
            for n in range(5)
        ),
    )

    def page(limit: int, offset: int) -> tuple[list[str], int]:
        with make_uow() as uow:
            found = uow.reads.page(ArticleList(limit=limit, offset=offset), None)
            return [a.title for a in found.articles], found.total

    assert page(2, 0) == (["Article 4", "Article 3"], 5)
    assert page(2, 2) == (["Article 2", "Article 1"], 5)
    assert page(2, 4) == (["Article 0"], 5)
    assert page(2, 5) == ([], 5)
    assert page(100, 10) == ([], 5)


def test_the_feed_is_the_articles_of_followed_authors_newest_first(make_uow: MakeUow) -> None:
    alice, bob, carol, dave = _users(make_uow, "alice", "bob", "carol", "dave")
    store(
        make_uow,
        ArticleFactory(author_id=_id(bob), title="Bob old", created_at=_at(1)),
        ArticleFactory(author_id=_id(carol), title="Carol", created_at=_at(2)),
        ArticleFactory(author_id=_id(dave), title="Dave", created_at=_at(3)),
        ArticleFactory(author_id=_id(alice), title="Alice", created_at=_at(4)),
        ArticleFactory(author_id=_id(bob), title="Bob new", created_at=_at(5)),
        Follow(follower_id=_id(alice), followee_id=_id(bob)),
        Follow(follower_id=_id(alice), followee_id=_id(carol)),
        Follow(follower_id=_id(dave), followee_id=_id(alice)),
    )

    with make_uow() as uow:
        feed = _feed(uow, as_caller(alice), 20, 0)
        assert [a.title for a in feed.articles] == ["Bob new", "Carol", "Bob old"]
        assert feed.total == 3
        assert all(a.author.following and a.body is None for a in feed.articles)

        second_page = _feed(uow, as_caller(alice), 2, 2)
        assert ([a.title for a in second_page.articles], second_page.total) == (["Bob old"], 3)

        assert _feed(uow, as_caller(bob), 20, 0).total == 0
        # A token of an ended session reads nothing (the service then refuses it).
        stale = Caller(_id(alice), token_generation=1)
        assert _feed(uow, stale, 20, 0) == ArticlePage((), 0)
        assert _feed(uow, stale, 2, 2) == ArticlePage((), 0)


# -- comments ---------------------------------------------------------------------------


def test_comments_are_added_found_and_removed(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    article = ArticleFactory(author_id=_id(alice))
    store(make_uow, article)
    comment = CommentFactory(article_id=_id(article), author_id=_id(bob), body="Nice")
    store(make_uow, comment)

    with make_uow() as uow:
        found = uow.comments.get(_id(comment))
        assert found is not None
        assert (found.body, found.article_id, found.author_id) == ("Nice", _id(article), _id(bob))
        assert uow.comments.get(10_000) is None
        uow.comments.remove(found)
        assert uow.reads.comments(article.slug, None) == []  # removed now, in this unit
        uow.commit()

    with make_uow() as uow:
        assert uow.comments.get(_id(comment)) is None
        assert uow.reads.comments(article.slug, None) == []
        assert uow.reads.comments("no-such-article", None) is None


def test_comments_are_read_newest_first_with_their_authors(make_uow: MakeUow) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    article, other = ArticleFactory(author_id=_id(alice)), ArticleFactory(author_id=_id(alice))
    store(make_uow, article, other, Follow(follower_id=_id(alice), followee_id=_id(bob)))
    first = CommentFactory(article_id=_id(article), author_id=_id(bob), created_at=_at(1))
    second = CommentFactory(article_id=_id(article), author_id=_id(alice), created_at=_at(2))
    elsewhere = CommentFactory(article_id=_id(other), author_id=_id(bob))
    store(make_uow, first, second, elsewhere)

    with make_uow() as uow:
        listed = uow.reads.comments(article.slug, _id(alice))
        assert listed is not None
        assert [c.id for c in listed] == [_id(second), _id(first)]
        assert [(c.author.username, c.author.following) for c in listed] == [
            ("alice", False),
            ("bob", True),
        ]
        assert (listed[1].body, listed[1].created_at, listed[1].updated_at) == (
            first.body,
            _at(1),
            _at(1),
        )

        one = uow.reads.comment(_id(first), None)
        assert one is not None and (one.id, one.author.following) == (_id(first), False)
        assert uow.reads.comment(10_000, None) is None


# -- a list composed from new parts -----------------------------------------------------
# Lists are parts put together (application/read_models.py). Here a source and an order
# that exist nowhere in production are written in this module alone, each once for SQL and
# once for the fake, and composed with an existing filter: no statement was edited. The
# source walks a link table (comments: a user, an article, a time) and the order sorts on
# the link's time: the shape of a bookmarks list, "newest bookmark first".


@dataclass(frozen=True, slots=True)
class CommentedOnBy(ListSource):
    username: str


@dataclass(frozen=True, slots=True)
class NewestCommentFirst(ListOrder):
    pass


sql_part(
    CommentedOnBy,
    join=((comments_table, comments_table.c.article_id == articles_table.c.id),),
    where=(comments_table.c.author_id == user_id("commenter"),),
    parameters=lambda part: {"commenter": username_key(part.username)},
)
sql_part(
    NewestCommentFirst, order_by=(comments_table.c.created_at.desc(), comments_table.c.id.desc())
)


def _commented_on_by(reads: FakeReadQueries, part: CommentedOnBy) -> list[Listed]:
    commenter = reads.uow.users.get_by_username(part.username)
    return [
        Listed(reads.uow.articles.articles[comment.article_id], link=comment)
        for comment in reads.uow.comments.comments.values()
        if commenter is not None and comment.author_id == commenter.id
    ]


def _newest_comment_first(rows: list[Listed]) -> list[Listed]:
    def when(row: Listed) -> tuple[datetime, int]:
        assert isinstance(row.link, Comment) and row.link.id is not None
        return row.link.created_at, row.link.id

    return sorted(rows, key=when, reverse=True)


fake_part(CommentedOnBy, rows=_commented_on_by)
fake_part(NewestCommentFirst, order=_newest_comment_first)


def test_a_list_composed_from_new_parts_reads_the_same_everywhere_in_one_statement(
    implementation: str, make_uow: MakeUow
) -> None:
    alice, bob = _users(make_uow, "alice", "bob")
    old, tagged, new, other = (
        ArticleFactory(author_id=_id(alice), title=title, with_tags=tags, created_at=_at(n))
        for n, (title, tags) in enumerate(
            [("Old", ["t"]), ("Tagged", ["t"]), ("New", ["t", "u"]), ("Other", ["t"])]
        )
    )
    store(make_uow, old, tagged, new, other)
    # Bob comments on the newest article first and the oldest last: the order is his.
    store(
        make_uow,
        *(
            CommentFactory(article_id=_id(article), author_id=_id(bob), created_at=_at(10 + n))
            for n, article in enumerate([new, tagged, old])
        ),
        CommentFactory(article_id=_id(other), author_id=_id(alice), created_at=_at(20)),
    )

    def page(*filters: ListFilter, limit: int = 20, offset: int = 0) -> tuple[list[str], int]:
        listing = ArticleList(
            CommentedOnBy("BOB"), filters, NewestCommentFirst(), limit=limit, offset=offset
        )
        with make_uow() as uow:
            found = uow.reads.page(listing, _id(alice))
        return [a.title for a in found.articles], found.total

    with counting_statements(record=True) as sent:
        assert page() == (["Old", "Tagged", "New"], 3)
        assert page(limit=2, offset=1) == (["Tagged", "New"], 3)
        assert page(TaggedWith("u")) == (["New"], 1)
    if implementation != "fake":
        assert len(sent.queries()) == 3
