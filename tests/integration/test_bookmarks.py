"""The reading list's use cases, each test on the fake unit of work, SQLite and PostgreSQL."""

from collections.abc import Callable
from datetime import datetime

import pytest

from application.bookmarks import BookmarkedBy, BookmarkService, NewestBookmarkFirst
from application.caller import Caller
from application.errors import NotAuthenticated
from domain import messages
from domain.articles import Article
from domain.errors import NotFound
from domain.users import User
from infrastructure.bookmarks import SqlAlchemyBookmarks
from tests.conftest import MakeUow
from tests.factories import ArticleFactory, UserFactory, as_caller, store
from tests.fakes import FakeUnitOfWork, FixedClock, Listed, fake_part


class FakeBookmarks:
    """Bookmarks in a dict; those of a removed article are gone, as by the cascade."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.kept: dict[tuple[int, int], datetime] = {}  # (user_id, article_id) -> when

    def add(self, user_id: int, article: Article, at: datetime) -> None:
        assert article.id is not None
        self.kept.setdefault((user_id, article.id), at)

    def remove(self, user_id: int, article: Article) -> None:
        assert article.id is not None
        self.kept.pop((user_id, article.id), None)

    def of(self, user_id: int) -> list[Listed]:
        stored = self.uow.articles.articles
        return [
            Listed(stored[article_id], link=at)
            for (owner, article_id), at in self.kept.items()
            if owner == user_id and article_id in stored
        ]


fake_part(
    BookmarkedBy,
    rows=lambda reads, part: reads.uow.repository(FakeBookmarks).of(part.caller.user_id),
)
fake_part(
    NewestBookmarkFirst,
    order=lambda rows: sorted(rows, key=lambda row: (row.link, row.article.id), reverse=True),
)

Service = Callable[[], BookmarkService]


@pytest.fixture
def service(implementation: str, make_uow: MakeUow) -> Service:
    """A new service per use case, as each request gets; the clock moves a second each time."""
    repository = FakeBookmarks if implementation == "fake" else SqlAlchemyBookmarks
    clock = FixedClock()

    def new() -> BookmarkService:
        clock.advance()
        return BookmarkService(make_uow(), repository, clock)

    return new


@pytest.fixture
def world(make_uow: MakeUow) -> tuple[User, User, list[Article]]:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    store(make_uow, alice, bob)
    articles = [ArticleFactory(author_id=bob.id, title=f"Story {n}") for n in range(3)]
    store(make_uow, *articles)
    return alice, bob, articles


def _slugs(service: Service, caller: Caller, limit: int = 20, offset: int = 0) -> list[str]:
    return [article.slug for article in service().page(caller, limit, offset).articles]


def test_the_list_is_newest_bookmark_first_and_pages(service: Service, world) -> None:
    alice, _, (first, second, third) = world
    for article in (second, third, first):
        service().add(article.slug, as_caller(alice))

    page = service().page(as_caller(alice), 20, 0)

    assert [a.slug for a in page.articles] == [first.slug, third.slug, second.slug]
    assert page.total == 3
    assert page.articles[0].body is None  # the article-list shape
    assert _slugs(service, as_caller(alice), limit=1, offset=1) == [third.slug]


def test_bookmarking_twice_keeps_the_first_and_removing_twice_is_harmless(
    service: Service, world
) -> None:
    alice, _, (first, second, _) = world
    for article in (first, second, first):
        service().add(article.slug, as_caller(alice))
    assert _slugs(service, as_caller(alice)) == [second.slug, first.slug]

    for _ in range(2):
        view = service().remove(second.slug, as_caller(alice))

    assert view.slug == second.slug
    assert _slugs(service, as_caller(alice)) == [first.slug]


def test_bookmarks_are_private(service: Service, world) -> None:
    alice, bob, (first, _, _) = world
    service().add(first.slug, as_caller(alice))

    assert _slugs(service, as_caller(bob)) == []


def test_a_missing_article_is_not_found(service: Service, world) -> None:
    alice = world[0]
    for use_case in (service().add, service().remove):
        with pytest.raises(NotFound, match=messages.ARTICLE_NOT_FOUND):
            use_case("no-such-article", as_caller(alice))


def test_bookmarks_go_with_their_article(service: Service, world, make_uow: MakeUow) -> None:
    alice, _, (first, second, _) = world
    for article in (first, second):
        service().add(article.slug, as_caller(alice))

    with make_uow() as uow:
        doomed = uow.articles.get_by_slug(first.slug)
        assert doomed is not None
        uow.articles.remove(doomed)
        uow.commit()

    assert _slugs(service, as_caller(alice)) == [second.slug]


def test_an_ended_session_reads_no_list(service: Service, world) -> None:
    alice, _, (first, _, _) = world
    service().add(first.slug, as_caller(alice))
    ended = Caller(as_caller(alice).user_id, as_caller(alice).token_generation + 1)

    with pytest.raises(NotAuthenticated, match=messages.SESSION_ENDED):
        service().page(ended, 20, 0)
