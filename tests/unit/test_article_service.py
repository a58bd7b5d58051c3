"""ArticleService on the fake unit of work: writing, editing, deleting, favoriting, lists."""

import re

import pytest

from application.articles import ArticleChanges, ArticleDraft, ArticleService
from application.caller import Caller
from application.errors import NotAuthenticated
from application.read_models import MAX_PAGE_SIZE, ArticleFilter, ArticleView, ProfileView
from domain import messages
from domain.articles import TAGS_PER_ARTICLE_MAX
from domain.errors import Forbidden, NotFound, ValidationFailed
from tests.factories import CommentFactory, Follow, as_caller, store
from tests.fakes import FakeUnitOfWork, FixedClock
from tests.unit.conftest import stored_user_id


@pytest.fixture
def articles(uow: FakeUnitOfWork, clock: FixedClock) -> ArticleService:
    return ArticleService(uow, clock)


def draft(title: str = "How to train your dragon", tags: tuple[str, ...] = ()) -> ArticleDraft:
    return ArticleDraft(
        title=title, description="Ever wonder how?", body="Very carefully.", tag_names=tags
    )


@pytest.fixture
def dragon(articles: ArticleService, alice: int, clock: FixedClock) -> str:
    """Alice's article, written before the test acts; its slug."""
    slug = articles.create(as_caller(alice), draft(tags=("dragons", "training"))).slug
    clock.advance()
    return slug


# -- create -----------------------------------------------------------------------------


def test_create_commits_the_article_with_a_slug_from_its_title(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int, clock: FixedClock
) -> None:
    view = articles.create(
        as_caller(alice), draft("How to train your Dragon!", tags=("training", "dragons"))
    )

    assert uow.committed
    assert view.slug == "how-to-train-your-dragon"
    assert (view.title, view.description, view.body) == (
        "How to train your Dragon!",
        "Ever wonder how?",
        "Very carefully.",
    )
    assert view.tag_list == ("dragons", "training")
    assert (view.created_at, view.updated_at) == (clock.now(), clock.now())
    assert (view.favorited, view.favorites_count) == (False, 0)
    assert view.author == ProfileView(username="alice", bio="", image="", following=False)
    assert uow.articles.get_by_slug(view.slug) is not None


def test_a_second_article_with_the_same_title_gets_a_distinct_slug(
    articles: ArticleService, alice: int, bob: int
) -> None:
    first = articles.create(as_caller(alice), draft("Same title"))
    second = articles.create(as_caller(bob), draft("Same title"))

    assert first.slug == "same-title"
    assert re.fullmatch(r"same-title-[0-9a-f]{8}", second.slug)
    assert articles.get(second.slug, None).author.username == "bob"


def test_an_article_titled_feed_gets_a_slug_the_feed_does_not_hide(
    articles: ArticleService, alice: int
) -> None:
    view = articles.create(as_caller(alice), draft("Feed"))

    assert re.fullmatch(r"feed-[0-9a-f]{8}", view.slug)


def test_tags_shared_by_articles_are_listed_once(articles: ArticleService, alice: int) -> None:
    articles.create(as_caller(alice), draft("One", tags=("python", "web")))
    articles.create(as_caller(alice), draft("Two", tags=("python", "db", "python ")))

    assert articles.tags() == ["db", "python", "web"]


@pytest.mark.parametrize(
    "bad_draft",
    [
        ArticleDraft(title="", description="d", body="b"),
        ArticleDraft(title="t", description=" ", body="b"),
        ArticleDraft(title="t", description="d", body="\x00"),
        ArticleDraft(
            title="t",
            description="d",
            body="b",
            tag_names=tuple(f"t{n}" for n in range(TAGS_PER_ARTICLE_MAX + 1)),
        ),
    ],
)
def test_create_with_an_invalid_value_commits_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int, bad_draft: ArticleDraft
) -> None:
    with pytest.raises(ValidationFailed):
        articles.create(as_caller(alice), bad_draft)

    assert not uow.committed
    assert uow.articles.articles == {}
    assert articles.tags() == []


# -- get and lists ----------------------------------------------------------------------


def test_get_returns_the_article_with_its_body_and_commits_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, bob: int
) -> None:
    view = articles.get(dragon, bob)

    assert view.body == "Very carefully."
    assert view.author.username == "alice"
    assert not uow.committed


def test_get_of_an_unknown_slug_is_not_found(articles: ArticleService) -> None:
    with pytest.raises(NotFound, match=messages.ARTICLE_NOT_FOUND):
        articles.get("no-such-article", None)


def test_search_lists_newest_first_without_bodies_and_commits_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int, clock: FixedClock
) -> None:
    for title in ("First", "Second", "Third"):
        articles.create(as_caller(alice), draft(title))
        clock.advance()

    page = articles.search(ArticleFilter(), None)

    assert not uow.committed
    assert page.total == 3
    assert [a.title for a in page.articles] == ["Third", "Second", "First"]
    assert all(a.body is None for a in page.articles)


def test_search_filters_by_tag_author_and_favorited_by(
    articles: ArticleService, alice: int, bob: int, clock: FixedClock
) -> None:
    rust = articles.create(as_caller(alice), draft("Rust", tags=("rust",))).slug
    clock.advance()
    articles.create(as_caller(bob), draft("Python", tags=("python",)))
    articles.favorite(rust, as_caller(bob))

    def titles(filters: ArticleFilter) -> list[str]:
        return [a.title for a in articles.search(filters, None).articles]

    assert titles(ArticleFilter(tag="rust")) == ["Rust"]
    assert titles(ArticleFilter(author="bob")) == ["Python"]
    assert titles(ArticleFilter(favorited_by="bob")) == ["Rust"]
    assert titles(ArticleFilter(author="bob", tag="rust")) == []
    assert titles(ArticleFilter(author="nobody")) == []


def test_search_pages_and_reports_the_total_of_all_matches(
    articles: ArticleService, alice: int, clock: FixedClock
) -> None:
    for n in range(5):
        articles.create(as_caller(alice), draft(f"Article {n}"))
        clock.advance()

    page = articles.search(ArticleFilter(limit=2, offset=1), None)

    assert page.total == 5
    assert [a.title for a in page.articles] == ["Article 3", "Article 2"]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (MAX_PAGE_SIZE + 1, 0), (-1, 0), (20, -1)])
def test_search_with_a_page_out_of_bounds_is_refused(
    uow: FakeUnitOfWork, articles: ArticleService, limit: int, offset: int
) -> None:
    with pytest.raises(ValidationFailed):
        articles.search(ArticleFilter(limit=limit, offset=offset), None)

    assert not uow.committed


@pytest.mark.parametrize("limit", [1, MAX_PAGE_SIZE])
def test_search_accepts_the_smallest_and_largest_page(
    articles: ArticleService, dragon: str, limit: int
) -> None:
    assert articles.search(ArticleFilter(limit=limit), None).total == 1


def test_feed_lists_only_articles_by_authors_the_viewer_follows(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int, bob: int, clock: FixedClock
) -> None:
    carol = stored_user_id(uow, "carol")
    articles.create(as_caller(bob), draft("By Bob"))
    clock.advance()
    articles.create(as_caller(carol), draft("By Carol"))
    articles.create(as_caller(alice), draft("By Alice herself"))
    store(uow.another, Follow(follower_id=alice, followee_id=bob))

    page = articles.feed(as_caller(alice), limit=20, offset=0)

    assert not uow.committed
    assert page.total == 1
    assert [(a.title, a.author.following) for a in page.articles] == [("By Bob", True)]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (MAX_PAGE_SIZE + 1, 0), (20, -1)])
def test_feed_with_a_page_out_of_bounds_is_refused(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int, limit: int, offset: int
) -> None:
    with pytest.raises(ValidationFailed):
        articles.feed(as_caller(alice), limit=limit, offset=offset)

    assert not uow.committed


def test_tags_are_listed_alphabetically_and_commit_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int
) -> None:
    articles.create(as_caller(alice), draft(tags=("zebra", "apple", "mango")))

    assert articles.tags() == ["apple", "mango", "zebra"]
    assert not uow.committed


# -- update -----------------------------------------------------------------------------


def test_update_by_the_author_commits_the_changes(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, alice: int, clock: FixedClock
) -> None:
    written = articles.get(dragon, None)

    view = articles.update(
        dragon, as_caller(alice), ArticleChanges(description="New", body="New body")
    )

    assert uow.committed
    assert (view.slug, view.title) == (dragon, written.title)
    assert (view.description, view.body) == ("New", "New body")
    assert view.tag_list == written.tag_list
    assert view.created_at == written.created_at
    assert view.updated_at == clock.now() > written.created_at
    assert articles.get(dragon, None) == view


def test_update_leaves_the_fields_given_as_none_untouched(
    articles: ArticleService, dragon: str, alice: int
) -> None:
    view = articles.update(dragon, as_caller(alice), ArticleChanges(body="Only the body"))

    assert (view.title, view.description, view.body) == (
        "How to train your dragon",
        "Ever wonder how?",
        "Only the body",
    )


def test_a_new_title_gives_the_article_a_new_slug(
    articles: ArticleService, dragon: str, alice: int
) -> None:
    view = articles.update(dragon, as_caller(alice), ArticleChanges(title="Taming wild dragons"))

    assert view.slug == "taming-wild-dragons"
    assert articles.get("taming-wild-dragons", None).title == "Taming wild dragons"
    with pytest.raises(NotFound):
        articles.get(dragon, None)


def test_a_new_title_whose_slug_is_taken_gets_a_distinct_slug(
    articles: ArticleService, dragon: str, alice: int, bob: int
) -> None:
    articles.create(as_caller(bob), draft("Taken title"))

    view = articles.update(dragon, as_caller(alice), ArticleChanges(title="Taken title"))

    assert re.fullmatch(r"taken-title-[0-9a-f]{8}", view.slug)
    assert articles.get("taken-title", None).author.username == "bob"


def test_the_same_title_keeps_the_slug(articles: ArticleService, dragon: str, alice: int) -> None:
    view = articles.update(
        dragon, as_caller(alice), ArticleChanges(title="How to train your dragon")
    )

    assert view.slug == dragon


def test_a_new_title_with_the_same_slug_keeps_the_slug(
    articles: ArticleService, dragon: str, alice: int
) -> None:
    view = articles.update(
        dragon, as_caller(alice), ArticleChanges(title="How to Train Your Dragon!")
    )

    assert view.title == "How to Train Your Dragon!"
    assert view.slug == dragon


def test_update_by_someone_else_is_forbidden_and_commits_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, bob: int
) -> None:
    before = articles.get(dragon, None)

    with pytest.raises(Forbidden):
        articles.update(dragon, as_caller(bob), ArticleChanges(title="Hijacked", body="Hijacked"))

    assert not uow.committed
    assert articles.get(dragon, None) == before


def test_update_of_an_unknown_article_is_not_found(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int
) -> None:
    with pytest.raises(NotFound):
        articles.update("no-such-article", as_caller(alice), ArticleChanges(body="x"))

    assert not uow.committed


@pytest.mark.parametrize(
    "changes",
    [ArticleChanges(title=" "), ArticleChanges(description=""), ArticleChanges(body="\x00")],
)
def test_update_with_an_invalid_value_commits_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, alice: int, changes: ArticleChanges
) -> None:
    with pytest.raises(ValidationFailed):
        articles.update(dragon, as_caller(alice), changes)

    assert not uow.committed


# -- delete -----------------------------------------------------------------------------


def test_delete_by_the_author_commits_and_takes_comments_and_favorites_with_it(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, alice: int, bob: int
) -> None:
    articles.favorite(dragon, as_caller(bob))
    stored = uow.articles.get_by_slug(dragon)
    assert stored is not None and stored.id is not None
    comment = CommentFactory(article_id=stored.id, author_id=bob)
    store(uow.another, comment)
    assert comment.id is not None

    articles.delete(dragon, as_caller(alice))

    assert uow.committed
    with pytest.raises(NotFound):
        articles.get(dragon, None)
    assert uow.comments.get(comment.id) is None
    assert articles.search(ArticleFilter(favorited_by="bob"), None).total == 0


def test_delete_by_someone_else_is_forbidden_and_commits_nothing(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, bob: int
) -> None:
    with pytest.raises(Forbidden):
        articles.delete(dragon, as_caller(bob))

    assert not uow.committed
    assert articles.get(dragon, None).slug == dragon


def test_delete_of_an_unknown_article_is_not_found(
    uow: FakeUnitOfWork, articles: ArticleService, alice: int
) -> None:
    with pytest.raises(NotFound):
        articles.delete("no-such-article", as_caller(alice))

    assert not uow.committed


# -- favorite ---------------------------------------------------------------------------


def test_favorite_commits_and_counts_the_favorite(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, bob: int
) -> None:
    view = articles.favorite(dragon, as_caller(bob))

    assert uow.committed
    assert (view.favorited, view.favorites_count) == (True, 1)
    assert articles.get(dragon, None).favorites_count == 1
    assert not articles.get(dragon, None).favorited  # for an anonymous reader


def test_favoriting_twice_counts_once(articles: ArticleService, dragon: str, bob: int) -> None:
    articles.favorite(dragon, as_caller(bob))
    view = articles.favorite(dragon, as_caller(bob))

    assert (view.favorited, view.favorites_count) == (True, 1)


def test_favorites_of_different_readers_add_up(
    articles: ArticleService, dragon: str, alice: int, bob: int
) -> None:
    articles.favorite(dragon, as_caller(bob))
    view = articles.favorite(dragon, as_caller(alice))

    assert view.favorites_count == 2
    assert articles.get(dragon, bob).favorited


def test_unfavorite_commits_and_uncounts_the_favorite(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, alice: int, bob: int
) -> None:
    articles.favorite(dragon, as_caller(bob))
    articles.favorite(dragon, as_caller(alice))

    view = articles.unfavorite(dragon, as_caller(bob))

    assert uow.committed
    assert (view.favorited, view.favorites_count) == (False, 1)
    assert articles.get(dragon, alice).favorited


def test_unfavoriting_an_article_not_favorited_changes_nothing(
    articles: ArticleService, dragon: str, bob: int
) -> None:
    view = articles.unfavorite(dragon, as_caller(bob))

    assert (view.favorited, view.favorites_count) == (False, 0)


@pytest.mark.parametrize(("action", "favorited"), [("favorite", True), ("unfavorite", False)])
def test_a_change_another_request_of_the_callers_made_first_is_answered_as_it_stands(
    monkeypatch: pytest.MonkeyPatch,
    uow: FakeUnitOfWork,
    articles: ArticleService,
    dragon: str,
    alice: int,
    bob: int,
    action: str,
    favorited: bool,
) -> None:
    articles.favorite(dragon, as_caller(alice))
    if action == "unfavorite":
        articles.favorite(dragon, as_caller(bob))
    read = uow.reads.article_for_caller
    other_request = uow.articles.add_favorite if favorited else uow.articles.remove_favorite

    def read_then_the_other_request_lands(slug: str, caller: Caller) -> ArticleView | None:
        view = read(slug, caller)
        other_request(slug, bob)
        return view

    monkeypatch.setattr(uow.reads, "article_for_caller", read_then_the_other_request_lands)
    view = getattr(articles, action)(dragon, as_caller(bob))

    assert uow.committed
    assert (view.favorited, view.favorites_count) == (favorited, 2 if favorited else 1)


def test_favoriting_with_an_ended_session_is_refused_before_the_article_is_looked_for(
    uow: FakeUnitOfWork, articles: ArticleService, dragon: str, bob: int
) -> None:
    for slug in (dragon, "no-such-article"):
        with pytest.raises(NotAuthenticated, match=messages.SESSION_ENDED):
            articles.favorite(slug, Caller(bob, token_generation=1))
    assert articles.get(dragon, None).favorites_count == 0


@pytest.mark.parametrize("action", ["favorite", "unfavorite"])
def test_favoriting_an_unknown_article_is_not_found(
    uow: FakeUnitOfWork, articles: ArticleService, bob: int, action: str
) -> None:
    with pytest.raises(NotFound):
        getattr(articles, action)("no-such-article", as_caller(bob))

    assert not uow.committed
