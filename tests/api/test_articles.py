"""Articles: writing, reading, listing, the feed, favorites and tags, through the real app."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain import messages
from tests.api.conftest import TIMESTAMP, assert_error, auth

Register = Callable[..., dict[str, Any]]
CreateArticle = Callable[..., dict[str, Any]]
AddComment = Callable[..., dict[str, Any]]

ARTICLE_FIELDS = {
    "slug",
    "title",
    "description",
    "body",
    "tagList",
    "createdAt",
    "updatedAt",
    "favorited",
    "favoritesCount",
    "author",
}


def _new(title: str = "Hello", **fields: object) -> dict[str, Any]:
    return {"article": {"title": title, "description": "About it", "body": "It says", **fields}}


def _get(client: TestClient, slug: str, viewer: dict[str, Any] | None = None) -> Any:
    return client.get(f"/api/articles/{slug}", headers=auth(viewer) if viewer else {})


def _article(client: TestClient, slug: str, viewer: dict[str, Any] | None = None) -> Any:
    response = _get(client, slug, viewer)
    assert response.status_code == 200, response.text
    return response.json()["article"]


def _list(client: TestClient, query: str = "", viewer: dict[str, Any] | None = None) -> Any:
    response = client.get(f"/api/articles{query}", headers=auth(viewer) if viewer else {})
    assert response.status_code == 200, response.text
    return response.json()


def _slugs(page: dict[str, Any]) -> list[str]:
    return [article["slug"] for article in page["articles"]]


def _count(client: TestClient) -> int:
    return _list(client)["articlesCount"]


# -- creating --------------------------------------------------------------------------------


def test_create_returns_the_article(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = client.post(
        "/api/articles",
        json=_new("How to train your Dragon!", description="Ever wonder?", body="Believe"),
        headers=auth(alice),
    )

    assert response.status_code == 201, response.text
    article = response.json()["article"]
    assert set(article) == ARTICLE_FIELDS
    assert article["slug"] == "how-to-train-your-dragon"
    assert article["title"] == "How to train your Dragon!"
    assert article["description"] == "Ever wonder?"
    assert article["body"] == "Believe"
    assert article["tagList"] == []
    assert TIMESTAMP.match(article["createdAt"]), article["createdAt"]
    assert TIMESTAMP.match(article["updatedAt"]), article["updatedAt"]
    assert article["createdAt"] == article["updatedAt"]
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert article["author"] == {"username": "alice", "bio": "", "image": "", "following": False}
    assert _article(client, "how-to-train-your-dragon") == article


def test_create_sorts_and_deduplicates_the_tags(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = client.post(
        "/api/articles",
        json=_new(tagList=["training", "dragons", "training", " dragons ", "", "  "]),
        headers=auth(alice),
    )

    assert response.status_code == 201, response.text
    assert response.json()["article"]["tagList"] == ["dragons", "training"]
    assert _article(client, "hello")["tagList"] == ["dragons", "training"]


def test_create_slugs_a_title_with_accents_and_punctuation(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")

    response = client.post(
        "/api/articles", json=_new("  Crème Brûlée: 10 tips -- & more!  "), headers=auth(alice)
    )

    assert response.status_code == 201, response.text
    assert response.json()["article"]["slug"] == "creme-brulee-10-tips-more"


def test_create_with_the_same_title_twice_gives_distinct_slugs(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    first = create_article(alice, title="Same title")

    second = create_article(bob, title="Same title")

    assert first["slug"] == "same-title"
    assert second["slug"] != first["slug"]
    assert second["slug"].startswith("same-title-")
    assert _article(client, first["slug"])["author"]["username"] == "alice"
    assert _article(client, second["slug"])["author"]["username"] == "bob"


def test_create_requires_a_token(client: TestClient) -> None:
    response = client.post("/api/articles", json=_new())

    assert_error(response, 401)
    assert _count(client) == 0


@pytest.mark.parametrize(
    "article",
    [
        {"description": "d", "body": "b"},
        {"title": "t", "body": "b"},
        {"title": "t", "description": "d"},
        {"title": "", "description": "d", "body": "b"},
        {"title": "   ", "description": "d", "body": "b"},
        {"title": "t", "description": "d", "body": "b", "tagList": "dragons"},
        {"title": "t", "description": "d", "body": "b", "tagList": [1, 2]},
        {"title": 42, "description": "d", "body": "b"},
    ],
    ids=[
        "no-title",
        "no-description",
        "no-body",
        "empty-title",
        "blank-title",
        "tags-not-a-list",
        "tags-not-strings",
        "title-not-a-string",
    ],
)
def test_create_with_a_missing_or_invalid_field_creates_nothing(
    client: TestClient, register: Register, article: dict[str, object]
) -> None:
    alice = register("alice")

    response = client.post("/api/articles", json={"article": article}, headers=auth(alice))

    assert_error(response, 422)
    assert _count(client) == 0
    assert client.get("/api/tags").json() == {"tags": []}


@pytest.mark.parametrize(
    "fields",
    [
        {"title": "t" * 257},
        {"description": "d" * 1025},
        {"body": "b" * 100_001},
        {"tagList": ["t" * 65]},
        {"tagList": [f"tag{n}" for n in range(21)]},
    ],
    ids=["title", "description", "body", "tag", "too-many-tags"],
)
def test_create_with_an_oversize_field_creates_nothing(
    client: TestClient, register: Register, fields: dict[str, object]
) -> None:
    alice = register("alice")
    article = {"title": "t", "description": "d", "body": "b", **fields}

    response = client.post("/api/articles", json={"article": article}, headers=auth(alice))

    assert_error(response, 422)
    assert _count(client) == 0
    assert client.get("/api/tags").json() == {"tags": []}


def test_create_at_the_size_limits_is_accepted(client: TestClient, register: Register) -> None:
    alice = register("alice")
    tags = [f"{n:02d}" + "t" * 62 for n in range(20)]
    article = {"title": "t" * 256, "description": "d" * 1024, "body": "b" * 100_000}

    response = client.post(
        "/api/articles", json={"article": {**article, "tagList": tags}}, headers=auth(alice)
    )

    assert response.status_code == 201, response.text
    created = response.json()["article"]
    assert (created["title"], created["description"], created["body"]) == (
        article["title"],
        article["description"],
        article["body"],
    )
    assert created["tagList"] == tags
    assert _article(client, created["slug"]) == created


@pytest.mark.parametrize("field", ["title", "description", "body"])
def test_create_with_a_nul_byte_creates_nothing(
    client: TestClient, register: Register, field: str
) -> None:
    alice = register("alice")
    article = {"title": "t", "description": "d", "body": "b", field: "nul\x00byte"}

    response = client.post("/api/articles", json={"article": article}, headers=auth(alice))

    assert assert_error(response, 422) == [messages.contains_nul(field)]
    assert _count(client) == 0


def test_create_with_a_nul_byte_in_a_tag_creates_nothing(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")

    response = client.post(
        "/api/articles", json=_new(tagList=["ok", "nul\x00"]), headers=auth(alice)
    )

    assert assert_error(response, 422) == [messages.contains_nul("tag")]
    assert _count(client) == 0
    assert client.get("/api/tags").json() == {"tags": []}


# -- reading one -----------------------------------------------------------------------------


def test_get_returns_the_article_to_anonymous_readers(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    created = create_article(alice, title="Hello", tags=["b", "a"])

    response = _get(client, "hello")

    assert response.status_code == 200, response.text
    assert response.json() == {"article": created}
    assert created["tagList"] == ["a", "b"]


def test_get_shows_the_reader_favorited_and_following(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="Hello")
    client.post("/api/profiles/alice/follow", headers=auth(bob))
    client.post("/api/articles/hello/favorite", headers=auth(bob))

    response = _get(client, "hello", bob)

    assert response.status_code == 200, response.text
    article = response.json()["article"]
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1
    assert article["author"] == {"username": "alice", "bio": "", "image": "", "following": True}
    anonymous = _article(client, "hello")
    assert (anonymous["favorited"], anonymous["author"]["following"]) == (False, False)


def test_get_an_unknown_slug_is_not_found(client: TestClient) -> None:
    response = _get(client, "no-such-article")

    assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]


def test_an_article_titled_feed_can_be_read(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    slug = create_article(register("alice"), title="Feed")["slug"]

    assert slug != "feed"  # /api/articles/feed is the feed
    assert _get(client, slug).json()["article"]["title"] == "Feed"


def test_get_a_slug_with_a_nul_byte_is_refused(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")

    response = _get(client, "hel%00lo")

    assert assert_error(response, 422) == [
        f"path.slug: Value error, {messages.PARAMETER_CONTAINS_NUL}"
    ]


# -- updating --------------------------------------------------------------------------------


def test_update_by_the_author_changes_the_fields(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    created = create_article(alice, title="Hello", tags=["a"])

    response = client.put(
        "/api/articles/hello",
        json={"article": {"description": "New description", "body": "New body"}},
        headers=auth(alice),
    )

    assert response.status_code == 200, response.text
    article = response.json()["article"]
    assert article["slug"] == "hello"
    assert article["title"] == "Hello"
    assert (article["description"], article["body"]) == ("New description", "New body")
    assert article["tagList"] == ["a"]
    assert article["createdAt"] == created["createdAt"]
    assert TIMESTAMP.match(article["updatedAt"])
    assert article["updatedAt"] >= created["updatedAt"]
    assert _article(client, "hello") == article


def test_update_of_the_title_gives_a_new_slug_and_frees_the_old_one(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    create_article(alice, title="Hello")

    response = client.put(
        "/api/articles/hello", json={"article": {"title": "Goodbye now"}}, headers=auth(alice)
    )

    assert response.status_code == 200, response.text
    assert response.json()["article"]["slug"] == "goodbye-now"
    assert response.json()["article"]["title"] == "Goodbye now"
    assert _article(client, "goodbye-now")["title"] == "Goodbye now"
    assert_error(_get(client, "hello"), 404)


def test_update_of_the_title_keeps_comments_and_favorites(
    client: TestClient, register: Register, create_article: CreateArticle, add_comment: AddComment
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="Hello")
    client.post("/api/articles/hello/favorite", headers=auth(bob))
    add_comment(bob, "hello", "First!")

    response = client.put(
        "/api/articles/hello", json={"article": {"title": "Goodbye"}}, headers=auth(alice)
    )

    assert response.status_code == 200, response.text
    assert response.json()["article"]["favoritesCount"] == 1
    comments = client.get("/api/articles/goodbye/comments").json()["comments"]
    assert [comment["body"] for comment in comments] == ["First!"]
    assert _slugs(_list(client, "?favorited=bob")) == ["goodbye"]


def test_update_of_the_title_that_keeps_the_slug_keeps_the_slug(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    create_article(alice, title="Hello world")

    response = client.put(
        "/api/articles/hello-world",
        json={"article": {"title": "Hello World!"}},
        headers=auth(alice),
    )

    assert response.status_code == 200, response.text
    assert response.json()["article"]["slug"] == "hello-world"
    assert _article(client, "hello-world")["title"] == "Hello World!"


def test_update_with_the_unchanged_title_keeps_a_deduplicated_slug(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    create_article(alice, title="Same title")
    slug = create_article(alice, title="Same title")["slug"]
    assert slug.startswith("same-title-")

    response = client.put(
        f"/api/articles/{slug}",
        json={"article": {"title": "Same title", "body": "Edited"}},
        headers=auth(alice),
    )

    assert response.status_code == 200, response.text
    assert response.json()["article"]["slug"] == slug
    assert _article(client, slug)["body"] == "Edited"


def test_update_by_another_user_is_forbidden_and_changes_nothing(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    before = create_article(alice, title="Hello")

    response = client.put(
        "/api/articles/hello",
        json={"article": {"title": "Hijacked", "body": "Bob was here"}},
        headers=auth(bob),
    )

    assert assert_error(response, 403) == [messages.ONLY_AUTHOR_CHANGES_ARTICLE]
    assert _article(client, "hello") == before
    assert_error(_get(client, "hijacked"), 404)


def test_update_requires_a_token(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    before = create_article(register("alice"), title="Hello")

    response = client.put("/api/articles/hello", json={"article": {"body": "changed"}})

    assert_error(response, 401)
    assert _article(client, "hello") == before


def test_update_of_an_unknown_slug_is_not_found(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = client.put(
        "/api/articles/nope", json={"article": {"body": "changed"}}, headers=auth(alice)
    )

    assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]
    assert _count(client) == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"title": "Valid new title", "body": "nul\x00byte"},
        {"title": "Valid new title", "description": "d" * 1025},
        {"title": ""},
        {"title": "   ", "body": "changed"},
    ],
    ids=["nul-in-body", "description-too-long", "empty-title", "blank-title"],
)
def test_update_with_an_invalid_field_changes_nothing(
    client: TestClient,
    register: Register,
    create_article: CreateArticle,
    changes: dict[str, object],
) -> None:
    alice = register("alice")
    before = create_article(alice, title="Hello")

    response = client.put("/api/articles/hello", json={"article": changes}, headers=auth(alice))

    assert_error(response, 422)
    assert _article(client, "hello") == before
    assert_error(_get(client, "valid-new-title"), 404)


# -- deleting --------------------------------------------------------------------------------


def test_delete_by_the_author_removes_the_article(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    create_article(alice, title="Hello")

    response = client.delete("/api/articles/hello", headers=auth(alice))

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert assert_error(_get(client, "hello"), 404) == [messages.ARTICLE_NOT_FOUND]
    assert _list(client) == {"articles": [], "articlesCount": 0}


def test_delete_removes_the_comments_and_favorites_of_the_article(
    client: TestClient, register: Register, create_article: CreateArticle, add_comment: AddComment
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="Kept")
    create_article(alice, title="Deleted", tags=["gone"])
    client.post("/api/articles/deleted/favorite", headers=auth(bob))
    client.post("/api/articles/kept/favorite", headers=auth(bob))
    add_comment(bob, "deleted", "On the deleted one")
    assert _list(client, "?favorited=bob")["articlesCount"] == 2

    response = client.delete("/api/articles/deleted", headers=auth(alice))

    assert response.status_code == 204, response.text
    assert _slugs(_list(client, "?favorited=bob")) == ["kept"]
    assert _list(client, "?favorited=bob")["articlesCount"] == 1
    assert _list(client, "?tag=gone") == {"articles": [], "articlesCount": 0}
    assert_error(client.get("/api/articles/deleted/comments"), 404)
    # A new article may reuse the deleted one's row id (SQLite does): nothing may carry over.
    fresh = create_article(alice, title="Fresh")
    assert (fresh["favoritesCount"], fresh["tagList"]) == (0, [])
    assert _article(client, "fresh", bob)["favorited"] is False
    assert client.get("/api/articles/fresh/comments").json() == {"comments": []}
    assert _slugs(_list(client, "?favorited=bob")) == ["kept"]


def test_delete_by_another_user_is_forbidden_and_changes_nothing(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    before = create_article(alice, title="Hello")

    response = client.delete("/api/articles/hello", headers=auth(bob))

    assert assert_error(response, 403) == [messages.ONLY_AUTHOR_CHANGES_ARTICLE]
    assert _article(client, "hello") == before
    assert _count(client) == 1


def test_delete_requires_a_token(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    before = create_article(register("alice"), title="Hello")

    response = client.delete("/api/articles/hello")

    assert_error(response, 401)
    assert _article(client, "hello") == before


def test_delete_of_an_unknown_slug_is_not_found(client: TestClient, register: Register) -> None:
    response = client.delete("/api/articles/nope", headers=auth(register("alice")))

    assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]


# -- listing ---------------------------------------------------------------------------------


def test_list_is_empty_without_articles(client: TestClient) -> None:
    assert _list(client) == {"articles": [], "articlesCount": 0}


def test_list_shows_the_newest_first(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    for title in ("First", "Second", "Third"):
        create_article(alice, title=title)

    page = _list(client)

    assert _slugs(page) == ["third", "second", "first"]
    assert page["articlesCount"] == 3


def test_list_items_have_no_body(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    created = create_article(register("alice"), title="Hello", tags=["a"])

    page = _list(client)

    assert page["articlesCount"] == 1
    [item] = page["articles"]
    assert set(item) == ARTICLE_FIELDS - {"body"}
    assert item == {key: value for key, value in created.items() if key != "body"}


def test_list_shows_the_reader_favorited_and_following(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="Liked")
    create_article(alice, title="Not liked")
    client.post("/api/profiles/alice/follow", headers=auth(bob))
    client.post("/api/articles/liked/favorite", headers=auth(bob))

    page = _list(client, viewer=bob)

    flags = {
        a["slug"]: (a["favorited"], a["favoritesCount"], a["author"]["following"])
        for a in page["articles"]
    }
    assert flags == {"liked": (True, 1, True), "not-liked": (False, 0, True)}


def test_list_filters_by_tag(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    create_article(alice, title="Dragons", tags=["dragons", "fantasy"])
    create_article(alice, title="Elves", tags=["fantasy"])
    create_article(alice, title="Taxes", tags=["boring"])

    page = _list(client, "?tag=fantasy")

    assert _slugs(page) == ["elves", "dragons"]
    assert page["articlesCount"] == 2


def test_list_filters_by_author(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="By alice")
    create_article(bob, title="By bob")

    page = _list(client, "?author=bob")

    assert _slugs(page) == ["by-bob"]
    assert page["articlesCount"] == 1


def test_list_filters_by_favorited(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    carol = register("carol")
    create_article(alice, title="One")
    create_article(alice, title="Two")
    create_article(alice, title="Three")
    client.post("/api/articles/one/favorite", headers=auth(bob))
    client.post("/api/articles/three/favorite", headers=auth(bob))
    client.post("/api/articles/two/favorite", headers=auth(carol))

    page = _list(client, "?favorited=bob")

    assert _slugs(page) == ["three", "one"]
    assert page["articlesCount"] == 2


def test_list_combines_filters(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="Alice dragons", tags=["dragons"])
    create_article(alice, title="Alice elves", tags=["elves"])
    create_article(bob, title="Bob dragons", tags=["dragons"])

    page = _list(client, "?tag=dragons&author=alice")

    assert _slugs(page) == ["alice-dragons"]
    assert page["articlesCount"] == 1


@pytest.mark.parametrize("query", ["?tag=nope", "?author=nobody", "?favorited=nobody"])
def test_list_filter_matching_nothing_is_empty(
    client: TestClient, register: Register, create_article: CreateArticle, query: str
) -> None:
    create_article(register("alice"), title="Hello", tags=["a"])

    assert _list(client, query) == {"articles": [], "articlesCount": 0}


@pytest.mark.parametrize(
    "query",
    [
        "?tag=%25",
        "?tag=_",
        "?tag=dra%25",
        "?author=%25",
        "?author=_____",
        "?author=ali%25",
        "?favorited=%25",
        "?favorited=___",
    ],
)
def test_list_filter_treats_like_wildcards_literally(
    client: TestClient, register: Register, create_article: CreateArticle, query: str
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="Hello", tags=["a", "dragons"])
    client.post("/api/articles/hello/favorite", headers=auth(bob))

    assert _list(client, query) == {"articles": [], "articlesCount": 0}


@pytest.mark.parametrize("name", ["tag", "author", "favorited"])
def test_list_filter_with_a_nul_byte_is_refused(
    client: TestClient, register: Register, create_article: CreateArticle, name: str
) -> None:
    alice = register("alice")
    create_article(alice, title="Hello", tags=["alice"])

    response = client.get(f"/api/articles?{name}=ali%00ce")

    assert assert_error(response, 422) == [
        f"query.{name}: Value error, {messages.PARAMETER_CONTAINS_NUL}"
    ]


def test_list_pages_with_limit_and_offset(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    for n in range(1, 6):
        create_article(alice, title=f"Article {n}")

    page = _list(client, "?limit=2&offset=1")

    assert _slugs(page) == ["article-4", "article-3"]
    assert page["articlesCount"] == 5


def test_list_default_page_is_twenty_articles(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    for n in range(1, 23):
        create_article(alice, title=f"Article {n}")

    page = _list(client)

    assert len(page["articles"]) == 20
    assert page["articles"][0]["slug"] == "article-22"
    assert page["articlesCount"] == 22


def test_list_count_is_all_matches_not_the_page_size(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    for n in range(1, 4):
        create_article(alice, title=f"Article {n}", tags=["t"])

    page = _list(client, "?tag=t&limit=1")

    assert _slugs(page) == ["article-3"]
    assert page["articlesCount"] == 3


def test_list_offset_past_the_end_is_an_empty_page_with_the_count(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    create_article(alice, title="One")
    create_article(alice, title="Two")

    assert _list(client, "?offset=2") == {"articles": [], "articlesCount": 2}
    assert _list(client, "?offset=1000") == {"articles": [], "articlesCount": 2}


def test_list_limit_of_one_hundred_is_accepted(client: TestClient) -> None:
    assert _list(client, "?limit=100") == {"articles": [], "articlesCount": 0}


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?limit=-1",
        "?offset=-1",
        "?limit=abc",
        "?offset=abc",
        "?limit=1.5",
        "?limit=",
        "?offset=2147483648",
    ],
)
def test_list_with_an_invalid_page_is_refused(client: TestClient, query: str) -> None:
    response = client.get(f"/api/articles{query}")

    assert_error(response, 422)


def test_list_with_an_overlong_filter_is_refused(client: TestClient) -> None:
    response = client.get(f"/api/articles?tag={'t' * 257}")

    assert_error(response, 422)


# -- the feed --------------------------------------------------------------------------------


def test_feed_shows_only_articles_of_followed_authors(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    carol = register("carol")
    create_article(alice, title="Alice one")
    create_article(carol, title="Carol one")
    create_article(alice, title="Alice two")
    create_article(bob, title="Bob own")
    client.post("/api/profiles/alice/follow", headers=auth(bob))

    response = client.get("/api/articles/feed", headers=auth(bob))

    assert response.status_code == 200, response.text
    page = response.json()
    assert _slugs(page) == ["alice-two", "alice-one"]
    assert page["articlesCount"] == 2
    assert all(set(article) == ARTICLE_FIELDS - {"body"} for article in page["articles"])
    assert all(article["author"]["following"] is True for article in page["articles"])


def test_feed_is_empty_without_follows(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")

    response = client.get("/api/articles/feed", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json() == {"articles": [], "articlesCount": 0}


def test_feed_forgets_an_unfollowed_author(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")
    client.post("/api/profiles/alice/follow", headers=auth(bob))
    client.delete("/api/profiles/alice/follow", headers=auth(bob))

    response = client.get("/api/articles/feed", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json() == {"articles": [], "articlesCount": 0}


def test_feed_pages_with_limit_and_offset(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    for n in range(1, 5):
        create_article(alice, title=f"Article {n}")
    client.post("/api/profiles/alice/follow", headers=auth(bob))

    response = client.get("/api/articles/feed?limit=2&offset=1", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert _slugs(response.json()) == ["article-3", "article-2"]
    assert response.json()["articlesCount"] == 4


def test_feed_requires_a_token(client: TestClient) -> None:
    response = client.get("/api/articles/feed")

    assert_error(response, 401)


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?offset=-1", "?limit=x"])
def test_feed_with_an_invalid_page_is_refused(
    client: TestClient, register: Register, query: str
) -> None:
    response = client.get(f"/api/articles/feed{query}", headers=auth(register("bob")))

    assert_error(response, 422)


# -- favorites -------------------------------------------------------------------------------


def test_favorite_marks_the_article_and_counts_it(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")

    response = client.post("/api/articles/hello/favorite", headers=auth(bob))

    assert response.status_code == 200, response.text
    article = response.json()["article"]
    assert set(article) == ARTICLE_FIELDS
    assert (article["slug"], article["favorited"], article["favoritesCount"]) == (
        "hello",
        True,
        1,
    )
    assert _article(client, "hello", bob)["favorited"] is True
    assert _article(client, "hello")["favoritesCount"] == 1


def test_favorite_twice_counts_once(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")
    client.post("/api/articles/hello/favorite", headers=auth(bob))

    response = client.post("/api/articles/hello/favorite", headers=auth(bob))

    assert response.status_code == 200, response.text
    article = response.json()["article"]
    assert (article["favorited"], article["favoritesCount"]) == (True, 1)
    assert _article(client, "hello")["favoritesCount"] == 1
    assert _list(client, "?favorited=bob")["articlesCount"] == 1


def test_favorites_of_several_readers_add_up(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")
    carol = register("carol")
    client.post("/api/articles/hello/favorite", headers=auth(bob))

    response = client.post("/api/articles/hello/favorite", headers=auth(carol))

    assert response.status_code == 200, response.text
    assert response.json()["article"]["favoritesCount"] == 2
    assert _article(client, "hello", bob)["favoritesCount"] == 2


def test_unfavorite_unmarks_the_article_and_uncounts_it(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")
    client.post("/api/articles/hello/favorite", headers=auth(bob))

    response = client.delete("/api/articles/hello/favorite", headers=auth(bob))

    assert response.status_code == 200, response.text
    article = response.json()["article"]
    assert set(article) == ARTICLE_FIELDS
    assert (article["favorited"], article["favoritesCount"]) == (False, 0)
    assert _article(client, "hello", bob)["favorited"] is False
    assert _list(client, "?favorited=bob") == {"articles": [], "articlesCount": 0}


def test_unfavorite_without_a_favorite_changes_nothing(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")
    carol = register("carol")
    client.post("/api/articles/hello/favorite", headers=auth(carol))
    client.post("/api/articles/hello/favorite", headers=auth(bob))
    client.delete("/api/articles/hello/favorite", headers=auth(bob))

    response = client.delete("/api/articles/hello/favorite", headers=auth(bob))

    assert response.status_code == 200, response.text
    article = response.json()["article"]
    assert (article["favorited"], article["favoritesCount"]) == (False, 1)
    assert _article(client, "hello", carol)["favorited"] is True
    assert _article(client, "hello")["favoritesCount"] == 1


def test_favorite_requires_a_token(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")

    response = client.post("/api/articles/hello/favorite")

    assert_error(response, 401)
    assert _article(client, "hello")["favoritesCount"] == 0


def test_unfavorite_requires_a_token(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    create_article(register("alice"), title="Hello")
    bob = register("bob")
    client.post("/api/articles/hello/favorite", headers=auth(bob))

    response = client.delete("/api/articles/hello/favorite")

    assert_error(response, 401)
    assert _article(client, "hello")["favoritesCount"] == 1


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_favorite_of_an_unknown_slug_is_not_found(
    client: TestClient, register: Register, method: str
) -> None:
    bob = register("bob")

    response = client.request(method, "/api/articles/nope/favorite", headers=auth(bob))

    assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]
    assert _list(client, "?favorited=bob") == {"articles": [], "articlesCount": 0}


# -- tags ------------------------------------------------------------------------------------


def test_tags_are_empty_without_articles(client: TestClient) -> None:
    response = client.get("/api/tags")

    assert response.status_code == 200, response.text
    assert response.json() == {"tags": []}


def test_tags_lists_each_tag_once(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("alice")
    bob = register("bob")
    create_article(alice, title="One", tags=["dragons", "fantasy"])
    create_article(bob, title="Two", tags=["fantasy", "elves"])
    create_article(bob, title="Three")

    response = client.get("/api/tags")

    assert response.status_code == 200, response.text
    tags = response.json()["tags"]
    assert len(tags) == len(set(tags))
    assert sorted(tags) == ["dragons", "elves", "fantasy"]
