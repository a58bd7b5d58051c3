"""The read side issues a fixed number of statements, whatever the page size.

Bound: 1 statement for an article page (the page with its total, authors, ``following``,
``favorited`` and tags; a page past the end adds one to count), 1 for one article or its
comments, 1 for a profile or the tags; the feed also checks that the reader's account
exists. On SQLite each unit of
work also sends its ``BEGIN IMMEDIATE``; that is not counted here.
"""

from collections.abc import Iterator

import pytest

from infrastructure.instrumentation import SentStatements, counting_statements
from tests.api.conftest import auth
from tests.factories import (
    ArticleFactory,
    CommentFactory,
    FavoriteFactory,
    FollowFactory,
    UserFactory,
    store,
)


@pytest.fixture
def counter() -> Iterator[SentStatements]:
    """What the app sends, counted by the app's own counter (its metrics' and log line's)."""
    with counting_statements(record=True) as sent:
        yield sent


@pytest.fixture
def viewer(client, register, new_uow):
    """A signed-in reader who follows some authors and favorited some of 60 tagged articles."""
    viewer = register("viewer")
    authors = UserFactory.create_batch(5)
    store(new_uow, *authors)
    written = [
        ArticleFactory(author_id=authors[n % 5].id, with_tags=[f"tag{n % 7}", f"tag{n % 3}", "all"])
        for n in range(60)
    ]
    store(new_uow, *written)
    viewer_id = client.app.state.container.tokens().verify(viewer["token"]).user_id
    store(
        new_uow,
        *[FollowFactory(follower_id=viewer_id, followee_id=a.id) for a in authors[:3]],
        *[FavoriteFactory(user_id=viewer_id, article_slug=a.slug) for a in written[::2]],
        *[CommentFactory(article_id=written[0].id, author_id=a.id) for a in authors * 4],
    )
    viewer["slug"] = written[0].slug
    viewer["author"] = authors[0].username
    return viewer


def statements_for(client, counter, url: str, headers: dict[str, str]) -> int:
    counter.sent.clear()
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return sum(not statement.sql.startswith("BEGIN") for statement in counter.sent)


def test_article_list_statements_do_not_grow_with_the_page(client, counter, viewer):
    headers = auth(viewer)
    one = statements_for(client, counter, "/api/articles?limit=1", headers)
    fifty = statements_for(client, counter, "/api/articles?limit=50", headers)
    assert len(client.get("/api/articles?limit=50", headers=headers).json()["articles"]) == 50
    assert one == fifty == 1


@pytest.mark.parametrize(
    ("url", "bound"),
    [
        ("/api/articles?limit=50&tag=all", 1),
        ("/api/articles?limit=50&favorited=viewer", 1),
        ("/api/articles?limit=50&author={author}", 1),
        ("/api/articles?limit=50&offset=1000", 2),  # past the end: the page, then the count
        ("/api/articles/feed?limit=50", 1),  # and the reader's account if it is empty
        ("/api/articles/{slug}", 1),
        ("/api/articles/{slug}/comments", 1),
        ("/api/profiles/{author}", 1),
        ("/api/tags", 1),
    ],
)
def test_every_read_has_a_small_fixed_statement_count(client, counter, viewer, url, bound):
    url = url.format(slug=viewer["slug"], author=viewer["author"])
    assert statements_for(client, counter, url, auth(viewer)) <= bound
    if "feed" not in url:  # the feed needs a reader
        assert statements_for(client, counter, url, {}) <= bound
