"""Comments on articles, through the real app."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from domain import messages
from tests.api.conftest import TIMESTAMP, assert_error, auth

Register = Callable[..., dict[str, Any]]
CreateArticle = Callable[..., dict[str, Any]]
AddComment = Callable[..., dict[str, Any]]


def _comments(client: TestClient, slug: str, viewer: dict[str, Any] | None = None) -> Any:
    response = client.get(f"/api/articles/{slug}/comments", headers=auth(viewer) if viewer else {})
    assert response.status_code == 200, response.text
    return response.json()["comments"]


def _bodies(comments: list[dict[str, Any]]) -> list[str]:
    return [comment["body"] for comment in comments]


@pytest.fixture
def alice(register: Register) -> dict[str, Any]:
    return register("alice")


@pytest.fixture
def bob(register: Register) -> dict[str, Any]:
    return register("bob")


@pytest.fixture
def slug(create_article: CreateArticle, alice: dict[str, Any]) -> str:
    return create_article(alice, title="Hello")["slug"]


def test_add_returns_the_comment(client: TestClient, bob: dict[str, Any], slug: str) -> None:
    response = client.post(
        f"/api/articles/{slug}/comments",
        json={"comment": {"body": "Great article!"}},
        headers=auth(bob),
    )

    assert response.status_code == 200, response.text
    comment = response.json()["comment"]
    assert set(comment) == {"id", "createdAt", "updatedAt", "body", "author"}
    assert isinstance(comment["id"], int)
    assert comment["body"] == "Great article!"
    assert TIMESTAMP.match(comment["createdAt"]), comment["createdAt"]
    assert TIMESTAMP.match(comment["updatedAt"]), comment["updatedAt"]
    assert comment["author"] == {"username": "bob", "bio": "", "image": "", "following": False}
    assert _comments(client, slug) == [comment]


def test_add_requires_a_token(client: TestClient, slug: str) -> None:
    response = client.post(f"/api/articles/{slug}/comments", json={"comment": {"body": "Hi"}})

    assert_error(response, 401)
    assert _comments(client, slug) == []


def test_add_to_an_unknown_article_is_not_found(client: TestClient, bob: dict[str, Any]) -> None:
    response = client.post(
        "/api/articles/nope/comments", json={"comment": {"body": "Hi"}}, headers=auth(bob)
    )

    assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]


@pytest.mark.parametrize(
    "payload",
    [
        {"comment": {}},
        {"comment": {"body": ""}},
        {"comment": {"body": "   "}},
        {"comment": {"body": "nul\x00byte"}},
        {"comment": {"body": "b" * 10_001}},
        {"comment": {"body": 42}},
        {"comment": "Hi"},
        {},
    ],
    ids=["no-body", "empty", "blank", "nul", "too-long", "not-a-string", "not-an-object", "none"],
)
def test_add_with_an_invalid_body_adds_nothing(
    client: TestClient, bob: dict[str, Any], slug: str, payload: dict[str, object]
) -> None:
    response = client.post(f"/api/articles/{slug}/comments", json=payload, headers=auth(bob))

    assert_error(response, 422)
    assert _comments(client, slug) == []


def test_list_is_empty_without_comments(client: TestClient, slug: str) -> None:
    response = client.get(f"/api/articles/{slug}/comments")

    assert response.status_code == 200, response.text
    assert response.json() == {"comments": []}


def test_list_shows_the_newest_first(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment
) -> None:
    first = add_comment(bob, slug, "First")
    second = add_comment(bob, slug, "Second")
    third = add_comment(bob, slug, "Third")

    response = client.get(f"/api/articles/{slug}/comments")

    assert response.status_code == 200, response.text
    assert response.json() == {"comments": [third, second, first]}


def test_list_shows_only_the_comments_of_that_article(
    client: TestClient,
    alice: dict[str, Any],
    bob: dict[str, Any],
    slug: str,
    create_article: CreateArticle,
    add_comment: AddComment,
) -> None:
    other = create_article(alice, title="Other")["slug"]
    add_comment(bob, slug, "On hello")
    add_comment(bob, other, "On other")

    assert _bodies(_comments(client, slug)) == ["On hello"]
    assert _bodies(_comments(client, other)) == ["On other"]


def test_list_shows_the_reader_following_the_authors(
    client: TestClient,
    alice: dict[str, Any],
    bob: dict[str, Any],
    register: Register,
    slug: str,
    add_comment: AddComment,
) -> None:
    carol = register("carol")
    add_comment(bob, slug, "By bob")
    add_comment(carol, slug, "By carol")
    client.post("/api/profiles/bob/follow", headers=auth(alice))

    comments = _comments(client, slug, alice)

    following = {c["author"]["username"]: c["author"]["following"] for c in comments}
    assert following == {"bob": True, "carol": False}
    anonymous = {c["author"]["username"]: c["author"]["following"] for c in _comments(client, slug)}
    assert anonymous == {"bob": False, "carol": False}


def test_list_on_an_unknown_article_is_not_found(client: TestClient) -> None:
    response = client.get("/api/articles/nope/comments")

    assert assert_error(response, 404) == [messages.ARTICLE_NOT_FOUND]


def test_delete_by_its_author_removes_the_comment(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment
) -> None:
    kept = add_comment(bob, slug, "Kept")
    deleted = add_comment(bob, slug, "Deleted")

    response = client.delete(f"/api/articles/{slug}/comments/{deleted['id']}", headers=auth(bob))

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert _comments(client, slug) == [kept]


def test_delete_twice_is_not_found(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment
) -> None:
    comment = add_comment(bob, slug)
    client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=auth(bob))

    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=auth(bob))

    assert assert_error(response, 404) == [messages.COMMENT_NOT_FOUND]


def test_delete_by_another_user_is_forbidden_and_keeps_the_comment(
    client: TestClient,
    alice: dict[str, Any],
    bob: dict[str, Any],
    slug: str,
    add_comment: AddComment,
) -> None:
    comment = add_comment(bob, slug)

    # Not even the article's author may delete someone else's comment.
    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=auth(alice))

    assert assert_error(response, 403) == [messages.ONLY_AUTHOR_DELETES_COMMENT]
    assert _comments(client, slug) == [comment]


def test_delete_requires_a_token(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment
) -> None:
    comment = add_comment(bob, slug)

    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}")

    assert_error(response, 401)
    assert _comments(client, slug) == [comment]


def test_delete_of_an_unknown_comment_is_not_found(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment
) -> None:
    comment = add_comment(bob, slug)

    response = client.delete(
        f"/api/articles/{slug}/comments/{comment['id'] + 1000}", headers=auth(bob)
    )

    assert assert_error(response, 404) == [messages.COMMENT_NOT_FOUND]
    assert _comments(client, slug) == [comment]


def test_delete_of_a_comment_of_another_article_is_not_found(
    client: TestClient,
    alice: dict[str, Any],
    bob: dict[str, Any],
    slug: str,
    create_article: CreateArticle,
    add_comment: AddComment,
) -> None:
    other = create_article(alice, title="Other")["slug"]
    comment = add_comment(bob, other)

    response = client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=auth(bob))

    assert assert_error(response, 404) == [messages.COMMENT_NOT_FOUND]
    assert _comments(client, other) == [comment]


def test_delete_on_an_unknown_article_is_not_found(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment
) -> None:
    comment = add_comment(bob, slug)

    response = client.delete(f"/api/articles/nope/comments/{comment['id']}", headers=auth(bob))

    assert_error(response, 404)
    assert _comments(client, slug) == [comment]


@pytest.mark.parametrize("comment_id", ["abc", "1.5", "0", "-1", "2147483648"])
def test_delete_with_an_invalid_id_is_refused(
    client: TestClient, bob: dict[str, Any], slug: str, add_comment: AddComment, comment_id: str
) -> None:
    comment = add_comment(bob, slug)

    response = client.delete(f"/api/articles/{slug}/comments/{comment_id}", headers=auth(bob))

    assert_error(response, 422)
    assert _comments(client, slug) == [comment]


def test_comments_go_with_their_article(
    client: TestClient,
    alice: dict[str, Any],
    bob: dict[str, Any],
    slug: str,
    add_comment: AddComment,
) -> None:
    add_comment(bob, slug)

    response = client.delete(f"/api/articles/{slug}", headers=auth(alice))

    assert response.status_code == 204, response.text
    assert assert_error(client.get(f"/api/articles/{slug}/comments"), 404) == [
        messages.ARTICLE_NOT_FOUND
    ]
