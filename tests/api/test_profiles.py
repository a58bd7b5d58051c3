"""Profiles: reading one, following and unfollowing, through the real app."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from domain import messages
from tests.api.conftest import assert_error, auth

Register = Callable[..., dict[str, Any]]


def _profile(client: TestClient, username: str, viewer: dict[str, Any] | None = None) -> Any:
    return client.get(f"/api/profiles/{username}", headers=auth(viewer) if viewer else {})


def _following(client: TestClient, viewer: dict[str, Any], username: str) -> bool:
    response = _profile(client, username, viewer)
    assert response.status_code == 200, response.text
    return response.json()["profile"]["following"]


def test_profile_is_returned_to_anonymous_readers_as_not_followed(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")
    client.put(
        "/api/user", json={"user": {"bio": "dragons", "image": "a.png"}}, headers=auth(alice)
    )

    response = _profile(client, "alice")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "profile": {"username": "alice", "bio": "dragons", "image": "a.png", "following": False}
    }


def test_profile_is_returned_to_a_reader_who_does_not_follow(
    client: TestClient, register: Register
) -> None:
    register("alice")
    bob = register("bob")

    response = _profile(client, "alice", bob)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "profile": {"username": "alice", "bio": "", "image": "", "following": False}
    }


def test_own_profile_is_not_followed(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = _profile(client, "alice", alice)

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["following"] is False


def test_profile_of_an_unknown_user_is_not_found(client: TestClient) -> None:
    response = _profile(client, "nobody")

    assert assert_error(response, 404) == [messages.PROFILE_NOT_FOUND]


def test_profile_username_is_found_in_any_case_and_shown_as_written(
    client: TestClient, register: Register
) -> None:
    register("kate")

    response = _profile(client, "Kate")

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["username"] == "kate"
    assert _profile(client, "\u212aate").status_code in (404, 422)  # a Kelvin sign is no "K"


def test_profile_with_a_nul_byte_in_the_username_is_refused(
    client: TestClient, register: Register
) -> None:
    register("alice")

    response = _profile(client, "ali%00ce")

    assert assert_error(response, 422) == [
        f"path.username: Value error, {messages.PARAMETER_CONTAINS_NUL}"
    ]


def test_follow_returns_the_profile_as_followed(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")

    response = client.post("/api/profiles/alice/follow", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "profile": {"username": "alice", "bio": "", "image": "", "following": True}
    }
    assert _following(client, bob, "alice") is True


def test_follow_twice_is_the_same_as_once(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")
    client.post("/api/profiles/alice/follow", headers=auth(bob))

    response = client.post("/api/profiles/alice/follow", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["following"] is True
    assert _following(client, bob, "alice") is True
    client.delete("/api/profiles/alice/follow", headers=auth(bob))
    assert _following(client, bob, "alice") is False  # one unfollow undoes both follows


def test_follow_is_seen_only_by_the_follower(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")
    carol = register("carol")

    client.post("/api/profiles/alice/follow", headers=auth(bob))

    assert _following(client, bob, "alice") is True
    assert _following(client, carol, "alice") is False
    assert _profile(client, "alice").json()["profile"]["following"] is False


def test_unfollow_returns_the_profile_as_not_followed(
    client: TestClient, register: Register
) -> None:
    register("alice")
    bob = register("bob")
    client.post("/api/profiles/alice/follow", headers=auth(bob))

    response = client.delete("/api/profiles/alice/follow", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "profile": {"username": "alice", "bio": "", "image": "", "following": False}
    }
    assert _following(client, bob, "alice") is False


def test_unfollow_twice_is_the_same_as_once(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")
    client.post("/api/profiles/alice/follow", headers=auth(bob))
    client.delete("/api/profiles/alice/follow", headers=auth(bob))

    response = client.delete("/api/profiles/alice/follow", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["following"] is False
    assert _following(client, bob, "alice") is False


def test_unfollow_without_following_changes_nothing(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")

    response = client.delete("/api/profiles/alice/follow", headers=auth(bob))

    assert response.status_code == 200, response.text
    assert response.json()["profile"]["following"] is False
    assert _following(client, bob, "alice") is False


def test_follow_yourself_is_forbidden(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = client.post("/api/profiles/alice/follow", headers=auth(alice))

    assert assert_error(response, 403) == ["you cannot follow yourself"]
    assert _following(client, alice, "alice") is False


def test_follow_an_unknown_user_is_not_found(client: TestClient, register: Register) -> None:
    bob = register("bob")

    response = client.post("/api/profiles/nobody/follow", headers=auth(bob))

    assert assert_error(response, 404) == [messages.PROFILE_NOT_FOUND]
    assert_error(_profile(client, "nobody"), 404)


def test_unfollow_an_unknown_user_is_not_found(client: TestClient, register: Register) -> None:
    bob = register("bob")

    response = client.delete("/api/profiles/nobody/follow", headers=auth(bob))

    assert assert_error(response, 404) == [messages.PROFILE_NOT_FOUND]


def test_follow_requires_a_token(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")

    response = client.post("/api/profiles/alice/follow")

    assert_error(response, 401)
    assert _following(client, bob, "alice") is False


def test_unfollow_requires_a_token(client: TestClient, register: Register) -> None:
    register("alice")
    bob = register("bob")
    client.post("/api/profiles/alice/follow", headers=auth(bob))

    response = client.delete("/api/profiles/alice/follow")

    assert_error(response, 401)
    assert _following(client, bob, "alice") is True


def test_follow_with_an_invalid_token_is_unauthorized(
    client: TestClient, register: Register
) -> None:
    register("alice")
    bob = register("bob")

    response = client.post("/api/profiles/alice/follow", headers={"Authorization": "Token x"})

    assert_error(response, 401)
    assert _following(client, bob, "alice") is False


def test_profile_with_an_invalid_token_is_unauthorized(
    client: TestClient, register: Register
) -> None:
    register("alice")

    response = client.get("/api/profiles/alice", headers={"Authorization": "Token x"})

    assert_error(response, 401)
