"""CommentService on the fake unit of work: commenting, reading comments, deleting them."""

import pytest

from application.comments import CommentService
from application.read_models import ProfileView
from domain import messages
from domain.articles import Article
from domain.errors import Forbidden, NotFound, ValidationFailed
from tests.factories import ArticleFactory, Follow, as_caller, store
from tests.fakes import FakeUnitOfWork, FixedClock


@pytest.fixture
def comments(uow: FakeUnitOfWork, clock: FixedClock) -> CommentService:
    return CommentService(uow, clock)


def _article(uow: FakeUnitOfWork, author_id: int, title: str) -> Article:
    article = ArticleFactory(author_id=author_id, title=title)
    store(uow.another, article)
    return article


@pytest.fixture
def article(uow: FakeUnitOfWork, alice: int) -> Article:
    """Alice's article, which the comments are about."""
    return _article(uow, alice, "Dragons")


def test_add_commits_the_comment_and_returns_it(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, bob: int, clock: FixedClock
) -> None:
    view = comments.add(article.slug, as_caller(bob), "Great read")

    assert uow.committed
    assert view.body == "Great read"
    assert (view.created_at, view.updated_at) == (clock.now(), clock.now())
    assert view.author == ProfileView(username="bob", bio="", image="", following=False)
    assert [c.id for c in comments.for_article(article.slug, None)] == [view.id]


def test_add_to_an_unknown_article_is_not_found_and_commits_nothing(
    uow: FakeUnitOfWork, comments: CommentService, bob: int
) -> None:
    with pytest.raises(NotFound, match=messages.ARTICLE_NOT_FOUND):
        comments.add("no-such-article", as_caller(bob), "Hello?")

    assert not uow.committed
    assert uow.comments.comments == {}


@pytest.mark.parametrize("body", ["", "   ", "nul\x00byte", "x" * 10_001])
def test_add_with_an_invalid_body_commits_nothing(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, bob: int, body: str
) -> None:
    with pytest.raises(ValidationFailed):
        comments.add(article.slug, as_caller(bob), body)

    assert not uow.committed
    assert uow.comments.comments == {}


def test_comments_are_listed_newest_first_and_commit_nothing(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, alice: int, bob: int
) -> None:
    for author, body in [(bob, "first"), (alice, "second"), (bob, "third")]:
        comments.add(article.slug, as_caller(author), body)

    listed = comments.for_article(article.slug, None)

    assert not uow.committed
    assert [(c.body, c.author.username) for c in listed] == [
        ("third", "bob"),
        ("second", "alice"),
        ("first", "bob"),
    ]


def test_comments_are_only_those_of_the_article(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, alice: int, bob: int
) -> None:
    other = _article(uow, alice, "Other")
    comments.add(other.slug, as_caller(bob), "elsewhere")

    assert comments.for_article(article.slug, None) == []


def test_comment_authors_show_whether_the_viewer_follows_them(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, alice: int, bob: int
) -> None:
    comments.add(article.slug, as_caller(bob), "Hi")
    store(uow.another, Follow(follower_id=alice, followee_id=bob))

    assert comments.for_article(article.slug, alice)[0].author.following
    assert not comments.for_article(article.slug, None)[0].author.following


def test_comments_of_an_unknown_article_are_not_found(comments: CommentService) -> None:
    with pytest.raises(NotFound):
        comments.for_article("no-such-article", None)


def test_delete_by_the_comment_author_commits(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, bob: int
) -> None:
    comment = comments.add(article.slug, as_caller(bob), "Oops")

    comments.delete(article.slug, comment.id, as_caller(bob))

    assert uow.committed
    assert comments.for_article(article.slug, None) == []


def test_delete_by_someone_else_is_forbidden_and_commits_nothing(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, alice: int, bob: int
) -> None:
    # Not even the article's author may delete a reader's comment.
    comment = comments.add(article.slug, as_caller(bob), "Mine")

    with pytest.raises(Forbidden):
        comments.delete(article.slug, comment.id, as_caller(alice))

    assert not uow.committed
    assert [c.id for c in comments.for_article(article.slug, None)] == [comment.id]


def test_deleting_a_comment_through_another_article_is_not_found(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, alice: int, bob: int
) -> None:
    other = _article(uow, alice, "Other")
    comment = comments.add(article.slug, as_caller(bob), "On Dragons")

    with pytest.raises(NotFound, match=messages.COMMENT_NOT_FOUND):
        comments.delete(other.slug, comment.id, as_caller(bob))

    assert not uow.committed
    assert uow.comments.get(comment.id) is not None


@pytest.mark.parametrize("slug_known", [True, False])
def test_deleting_an_unknown_comment_or_on_an_unknown_article_is_not_found(
    uow: FakeUnitOfWork, comments: CommentService, article: Article, bob: int, slug_known: bool
) -> None:
    comment = comments.add(article.slug, as_caller(bob), "Here")
    slug, comment_id = (article.slug, 404) if slug_known else ("no-such-article", comment.id)

    with pytest.raises(NotFound, match=messages.COMMENT_NOT_FOUND):
        comments.delete(slug, comment_id, as_caller(bob))

    assert not uow.committed
