"""The reading list over HTTP, on SQLite and PostgreSQL. (Its error bodies, its 401s and
its refusals of bad input are checked with every other route's: tests/routes.py.)"""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from domain import messages
from infrastructure.instrumentation import counting_statements
from tests.api.conftest import assert_error, auth

Register = Callable[..., dict[str, Any]]
CreateArticle = Callable[..., dict[str, Any]]


def _reading_list(client: TestClient, user: dict[str, Any], query: str = "") -> dict[str, Any]:
    response = client.get(f"/api/user/bookmarks{query}", headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()


def test_bookmarked_articles_are_listed_newest_bookmark_first(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice, bob = register("alice"), register("bob")
    slugs = [create_article(bob, title=f"Story {n}")["slug"] for n in range(3)]

    for slug in (slugs[1], slugs[0], slugs[2], slugs[0]):  # the second time changes nothing
        response = client.post(f"/api/articles/{slug}/bookmark", headers=auth(alice))
        assert response.status_code == 200, response.text
        assert response.json()["article"]["slug"] == slug

    listed = _reading_list(client, alice)
    assert [a["slug"] for a in listed["articles"]] == [slugs[2], slugs[0], slugs[1]]
    assert listed["articlesCount"] == 3
    assert "body" not in listed["articles"][0]
    assert _reading_list(client, bob) == {"articles": [], "articlesCount": 0}


def test_a_page_of_any_size_is_one_statement(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice, bob = register("alice"), register("bob")
    for n in range(3):
        slug = create_article(bob, title=f"Story {n}")["slug"]
        client.post(f"/api/articles/{slug}/bookmark", headers=auth(alice))

    for limit in (1, 100):
        with counting_statements(record=True) as sent:
            assert len(_reading_list(client, alice, f"?limit={limit}")["articles"]) == min(limit, 3)
        assert len(sent.queries()) == 1


def test_unbookmarking_removes_it_and_a_deleted_article_leaves_the_list(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice, bob = register("alice"), register("bob")
    kept, dropped, deleted = (create_article(bob, title=t)["slug"] for t in ("A", "B", "C"))
    for slug in (kept, dropped, deleted):
        client.post(f"/api/articles/{slug}/bookmark", headers=auth(alice))

    assert client.delete(f"/api/articles/{dropped}/bookmark", headers=auth(alice)).is_success
    assert client.delete(f"/api/articles/{deleted}", headers=auth(bob)).status_code == 204

    assert [a["slug"] for a in _reading_list(client, alice)["articles"]] == [kept]


def test_bookmarking_a_missing_article_is_404(client: TestClient, register: Register) -> None:
    alice = register("alice")
    for method in ("POST", "DELETE"):
        response = client.request(
            method, "/api/articles/nothing-here/bookmark", headers=auth(alice)
        )
        assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]
