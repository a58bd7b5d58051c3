"""Every route issues a fixed number of statements, whatever the page size.

Bound: 1 statement for an article page (the page with its total, authors, ``following``,
``favorited`` and tags; a page past the end adds one to count), 1 for one article or its
comments, 1 for a profile or the tags; the feed also checks that the reader's account
exists. On SQLite each unit of
work also sends its ``BEGIN IMMEDIATE``; that is not counted here.

Every route of the app (``tests.routes``) is held to the bound of a read or of a write (a
few writes have tighter bounds of their own, per database: ``WRITE_BOUNDS``), its pages at
their smallest and largest size alike; the filters and the edges of a page are checked on
their own.
"""

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, Request
from sqlalchemy import select

from api.params import Limit
from api.serving import run_use_case
from infrastructure.backend import Backend, backend_of
from infrastructure.instrumentation import SentStatements, counting_statements
from infrastructure.orm import articles
from tests.api.conftest import auth
from tests.factories import (
    ArticleFactory,
    CommentFactory,
    FavoriteFactory,
    FollowFactory,
    UserFactory,
    store,
)
from tests.routes import Route, World, api_routes, route_id, routes_of, send_example


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
    return len(counter.queries())


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
    ],
)
def test_every_read_has_a_small_fixed_statement_count(client, counter, viewer, url, bound):
    url = url.format(slug=viewer["slug"], author=viewer["author"])
    assert statements_for(client, counter, url, auth(viewer)) <= bound
    if "feed" not in url:  # the feed needs a reader
        assert statements_for(client, counter, url, {}) <= bound


# -- every route of the app (tests.routes) -----------------------------------------------------

# A read is one statement. A write reads what it acts on with the caller's account, then
# changes it; its count does not depend on how many rows it touches (comments, favorites and
# tags of a deleted article go by cascade, not one by one).
READ_BOUND = 1
WRITE_BOUND = 7
# These writes answer from what they hold instead of reading their result back, and on
# PostgreSQL write all their tables in one statement (data-modifying CTEs). SQLite has no
# such statements: there each table written costs a statement of its own.
WRITE_BOUNDS = {
    # The account (the author's profile); the article with its new tags and its tag links;
    # the same again under a suffixed slug if the title's slug is taken. SQLite: the
    # article (twice if taken), the new tags, the links.
    "POST /api/articles": {Backend.POSTGRESQL: 3, Backend.SQLITE: 5},
    # The article as the caller sees it, with their account; the favorite row and the
    # count. SQLite: the row, then the count.
    "POST /api/articles/{slug}/favorite": {Backend.POSTGRESQL: 2, Backend.SQLITE: 3},
    "DELETE /api/articles/{slug}/favorite": {Backend.POSTGRESQL: 2, Backend.SQLITE: 3},
}


def bound_of(route: Route, backend: Backend) -> int:
    if not route.is_write:
        return READ_BOUND
    return WRITE_BOUNDS.get(str(route), {}).get(backend, WRITE_BOUND)


@pytest.fixture
def crowd(client, world: World, new_uow) -> World:
    """``world``, and 60 more tagged articles by 5 authors: Alice follows 3 of them and
    favorited every other article; her own article has 20 comments and 5 fans."""
    alice_id = client.app.state.container.tokens().verify(world.alice["token"]).user_id
    authors = UserFactory.create_batch(5)
    store(new_uow, *authors)
    written = [
        ArticleFactory(author_id=authors[n % 5].id, with_tags=[f"tag{n % 7}", f"tag{n % 3}", "all"])
        for n in range(60)
    ]
    store(new_uow, *written)
    with new_uow() as uow:
        hers = uow.articles.get_by_slug(world.alice_slug)
        assert hers is not None
        her_article_id = hers.id
    store(
        new_uow,
        *[FollowFactory(follower_id=alice_id, followee_id=a.id) for a in authors[:3]],
        *[FavoriteFactory(user_id=alice_id, article_slug=a.slug) for a in written[::2]],
        *[FavoriteFactory(user_id=a.id, article_slug=world.alice_slug) for a in authors],
        *[CommentFactory(article_id=her_article_id, author_id=a.id) for a in authors * 4],
    )
    return world


def _statements(client, counter, route: Route, world: World, headers, **params) -> int:
    counter.sent.clear()
    response = send_example(client, route, world, headers, params=params or None)
    assert response.status_code == route.success, response.text
    count = len(counter.queries())
    if route.requires_caller and route.is_page and not response.json()["articles"]:
        # An empty list of the caller's own looks their account up: it may be gone
        # (application.lookups.callers_page). A page with rows checks it in its statement.
        count -= 1
    return count


def check_statement_bound(client, counter, world: World, route: Route) -> None:
    bound = bound_of(route, backend_of(client.app.state.container.engine()))
    callers = [world.headers] if route.requires_caller or route.is_write else [world.headers, {}]
    for headers in callers:
        if route.is_page:
            # The smallest page and the largest, past all the rows there are.
            smallest = _statements(client, counter, route, world, headers, limit=1)
            largest = _statements(
                client, counter, route, world, headers, limit=route.query("limit").le
            )
            assert smallest == largest, (
                f"{route}: {smallest} statements for a page of 1, {largest} for a full page"
            )
            count = largest
        else:
            count = _statements(client, counter, route, world, headers)
        assert count <= bound, f"{route}: {count} statements (at most {bound})\n" + "\n".join(
            counter.queries()
        )


@pytest.mark.parametrize("route", api_routes(), ids=route_id)
def test_every_route_stays_within_its_statement_bound(client, counter, crowd, route):
    check_statement_bound(client, counter, crowd, route)


def _write(client, counter, method: str, url: str, headers, body=None) -> list[str]:
    counter.sent.clear()
    response = client.request(method, url, json=body, headers=headers)
    assert response.status_code in (200, 201), response.text
    return counter.queries()


def test_favorite_and_unfavorite_that_change_something_stay_within_their_bounds(
    client, counter, world
):
    backend = backend_of(client.app.state.container.engine())
    url = f"/api/articles/{world.bob_slug}/favorite"
    for method in ("POST", "DELETE"):
        sent = _write(client, counter, method, url, world.headers)
        bound = WRITE_BOUNDS[f"{method} /api/articles/{{slug}}/favorite"][backend]
        assert len(sent) == bound, "\n".join(sent)
        # Once more changes nothing: the read alone tells.
        assert len(_write(client, counter, method, url, world.headers)) == 1


def test_creating_an_article_whose_slug_is_taken_stays_within_the_bound(client, counter, world):
    backend = backend_of(client.app.state.container.engine())
    article = {"title": "Alice writes", "description": "d", "body": "b", "tagList": ["x", "y"]}
    sent = _write(client, counter, "POST", "/api/articles", world.headers, {"article": article})
    assert len(sent) == WRITE_BOUNDS["POST /api/articles"][backend], "\n".join(sent)


# A throwaway route, added to the app below: it reads a row at a time.
throwaway = APIRouter(prefix="/api/throwaway")


@throwaway.get("/titles")
async def titles(request: Request, limit: Limit = 20) -> dict[str, list[str]]:
    engine = request.app.state.container.engine()

    def read() -> dict[str, list[str]]:
        with engine.connect() as connection:
            slugs = connection.execute(select(articles.c.slug).limit(limit)).scalars().all()
            return {
                "titles": [
                    connection.execute(
                        select(articles.c.title).where(articles.c.slug == slug)
                    ).scalar_one()
                    for slug in slugs
                ]
            }

    return await run_use_case(read)  # as the app's routes run theirs (api.serving)


def test_demonstration_a_route_added_later_with_a_query_per_row_fails_the_bound(
    client, counter, crowd
):
    client.app.include_router(throwaway)
    [route] = [route for route in routes_of(client.app) if route.path == "/api/throwaway/titles"]

    with pytest.raises(AssertionError, match="2 statements for a page of 1, 63 for a full page"):
        check_statement_bound(client, counter, crowd, route)
