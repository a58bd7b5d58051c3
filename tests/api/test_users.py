"""Registration, login and the current user, through the real app."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from domain import messages
from infrastructure.orm import users
from tests.api.conftest import assert_error, auth
from tests.conftest import TEST_JWT_SECRET

Register = Callable[..., dict[str, Any]]


def _register(client: TestClient, user: object) -> Any:
    return client.post("/api/users", json={"user": user})


def _login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


def _current(client: TestClient, user: dict[str, Any]) -> dict[str, Any]:
    response = client.get("/api/user", headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()["user"]


def _token(sub: str, expires_in: timedelta, secret: str = TEST_JWT_SECRET) -> str:
    now = datetime.now(UTC)
    claims = {"sub": sub, "iat": now, "exp": now + expires_in}
    return jwt.encode(claims, secret, algorithm="HS256")


# -- registration ----------------------------------------------------------------------------


def test_register_returns_the_new_user_with_a_token(client: TestClient) -> None:
    response = _register(
        client, {"username": "alice", "email": "alice@example.com", "password": "secret"}
    )

    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert set(user) == {"email", "username", "bio", "image", "token"}
    assert user["email"] == "alice@example.com"
    assert user["username"] == "alice"
    assert user["bio"] == ""
    assert user["image"] == ""
    assert isinstance(user["token"], str) and user["token"]
    assert _current(client, user)["username"] == "alice"


def test_register_stores_the_email_trimmed_and_lower_cased(client: TestClient) -> None:
    response = _register(
        client, {"username": "alice", "email": " Alice@Example.COM ", "password": "secret"}
    )

    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["email"] == "alice@example.com"
    assert _current(client, user)["email"] == "alice@example.com"
    assert _login(client, "alice@example.com", "secret").status_code == 200


def test_register_with_a_taken_email_is_refused(client: TestClient, register: Register) -> None:
    register("alice", email="alice@example.com")

    response = _register(
        client, {"username": "bob", "email": "alice@example.com", "password": "secret"}
    )

    assert assert_error(response, 422) == [messages.EMAIL_TAKEN]
    assert _login(client, "alice@example.com", "secret").json()["user"]["username"] == "alice"
    assert_error(client.get("/api/profiles/bob"), 404)


def test_register_with_a_case_variant_of_a_taken_email_is_refused(
    client: TestClient, register: Register
) -> None:
    register("alice", email="alice@example.com")

    response = _register(
        client, {"username": "bob", "email": " ALICE@example.com", "password": "secret"}
    )

    assert assert_error(response, 422) == [messages.EMAIL_TAKEN]
    assert client.get("/api/profiles/bob").status_code == 404


def test_register_with_a_taken_username_is_refused(client: TestClient, register: Register) -> None:
    register("alice")

    response = _register(
        client, {"username": "alice", "email": "other@example.com", "password": "secret"}
    )

    assert assert_error(response, 422) == [messages.USERNAME_TAKEN]
    assert_error(_login(client, "other@example.com", "secret"), 401)


@pytest.mark.parametrize(
    "user",
    [
        {"email": "alice@example.com", "password": "secret"},
        {"username": "alice", "password": "secret"},
        {"username": "alice", "email": "alice@example.com"},
        {},
    ],
    ids=["no-username", "no-email", "no-password", "empty"],
)
def test_register_with_a_missing_field_is_refused(client: TestClient, user: dict[str, str]) -> None:
    response = _register(client, user)

    assert_error(response, 422)
    assert_error(_login(client, "alice@example.com", "secret"), 401)
    assert_error(client.get("/api/profiles/alice"), 404)


@pytest.mark.parametrize(
    "user",
    [
        {"username": 1, "email": "alice@example.com", "password": "secret"},
        {"username": "alice", "email": ["alice@example.com"], "password": "secret"},
        {"username": "alice", "email": "alice@example.com", "password": None},
        "alice",
    ],
    ids=["username-int", "email-list", "password-null", "user-string"],
)
def test_register_with_a_wrongly_typed_field_is_refused(client: TestClient, user: object) -> None:
    response = _register(client, user)

    assert_error(response, 422)
    assert_error(_login(client, "alice@example.com", "secret"), 401)
    assert_error(client.get("/api/profiles/alice"), 404)


@pytest.mark.parametrize(
    ("username", "email"),
    [
        ("alice smith", "alice@example.com"),
        ("alice", "not-an-email"),
        ("alice", "alice@example"),
        ("", "alice@example.com"),
        ("a" * 65, "alice@example.com"),
    ],
    ids=["username-with-space", "email-without-at", "email-without-dot", "blank", "too-long"],
)
def test_register_with_an_invalid_value_is_refused(
    client: TestClient, username: str, email: str
) -> None:
    response = _register(client, {"username": username, "email": email, "password": "secret"})

    assert_error(response, 422)
    assert_error(_login(client, email, "secret"), 401)
    assert_error(client.get("/api/profiles/alice"), 404)


def test_register_with_malformed_json_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/users",
        content=b'{"user": {"username": "alice",',
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 422)
    assert client.get("/api/profiles/alice").status_code == 404


def test_register_with_a_nul_byte_in_the_password_is_refused(client: TestClient) -> None:
    response = _register(
        client, {"username": "alice", "email": "alice@example.com", "password": "se\x00cret"}
    )

    assert_error(response, 422)
    assert client.get("/api/profiles/alice").status_code == 404


# -- login -----------------------------------------------------------------------------------


def test_login_returns_the_user_with_a_token(client: TestClient, register: Register) -> None:
    register("alice", password="secret")

    response = _login(client, "alice@example.com", "secret")

    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert set(user) == {"email", "username", "bio", "image", "token"}
    assert (user["email"], user["username"], user["bio"], user["image"]) == (
        "alice@example.com",
        "alice",
        "",
        "",
    )
    assert _current(client, user)["username"] == "alice"


def test_login_email_is_trimmed_and_case_insensitive(
    client: TestClient, register: Register
) -> None:
    register("alice", email="alice@example.com", password="secret")

    response = _login(client, "  ALICE@Example.com ", "secret")

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "alice@example.com"


def test_login_with_a_wrong_password_or_an_unknown_email_fails_alike(
    client: TestClient, register: Register
) -> None:
    register("alice", password="secret")

    wrong_password = _login(client, "alice@example.com", "not-the-secret")
    unknown_email = _login(client, "nobody@example.com", "secret")

    assert assert_error(wrong_password, 401) == [messages.WRONG_CREDENTIALS]
    assert_error(unknown_email, 401)
    assert wrong_password.json() == unknown_email.json()


def test_login_with_a_missing_password_is_refused(client: TestClient, register: Register) -> None:
    register("alice")

    response = client.post("/api/users/login", json={"user": {"email": "alice@example.com"}})

    assert_error(response, 422)


# -- the current user ------------------------------------------------------------------------


def test_current_user_is_returned_with_the_token_sent(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")

    response = client.get("/api/user", headers=auth(alice))

    assert response.status_code == 200, response.text
    assert response.json() == {
        "user": {
            "email": "alice@example.com",
            "username": "alice",
            "bio": "",
            "image": "",
            "token": alice["token"],
        }
    }


def test_current_user_accepts_the_bearer_scheme(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = client.get("/api/user", headers={"Authorization": f"Bearer {alice['token']}"})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"


def test_current_user_without_a_token_is_unauthorized(client: TestClient) -> None:
    response = client.get("/api/user")

    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header",
    ["garbage", "Token", "Token ", "Token garbage", "Bearer x", "Basic YWxpY2U6c2VjcmV0"],
)
def test_current_user_with_a_malformed_token_is_unauthorized(
    client: TestClient, register: Register, header: str
) -> None:
    register("alice")

    response = client.get("/api/user", headers={"Authorization": header})

    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == "Token"


def test_current_user_with_an_expired_token_is_unauthorized(
    client: TestClient, register: Register
) -> None:
    register("alice")
    expired = _token("1", timedelta(seconds=-60))

    response = client.get("/api/user", headers={"Authorization": f"Token {expired}"})

    assert assert_error(response, 401) == [messages.TOKEN_INVALID]


def test_current_user_with_a_token_signed_by_another_secret_is_unauthorized(
    client: TestClient, register: Register
) -> None:
    register("alice")
    forged = _token("1", timedelta(hours=1), secret="another-secret-that-is-long-enough-too")

    response = client.get("/api/user", headers={"Authorization": f"Token {forged}"})

    assert assert_error(response, 401) == [messages.TOKEN_INVALID]


def test_current_user_whose_account_was_deleted_is_unauthorized(
    client: TestClient, register: Register, engine: Engine
) -> None:
    alice = register("alice")
    with engine.begin() as connection:
        connection.execute(users.delete().where(users.c.username == "alice"))

    response = client.get("/api/user", headers=auth(alice))

    assert_error(response, 401)


# The token of a deleted account is refused by every route that needs a caller, and does
# nothing there: tests/api/test_route_rules.py checks it on every such route.


# -- updating the current user ---------------------------------------------------------------


def _update(client: TestClient, user: dict[str, Any], changes: object) -> Any:
    return client.put("/api/user", json={"user": changes}, headers=auth(user))


def test_update_changes_bio_and_image(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = _update(client, alice, {"bio": "I like dragons", "image": "https://img/a.png"})

    assert response.status_code == 200, response.text
    expected = {
        "email": "alice@example.com",
        "username": "alice",
        "bio": "I like dragons",
        "image": "https://img/a.png",
        "token": alice["token"],
    }
    assert response.json() == {"user": expected}
    assert _current(client, alice) == expected


def test_update_can_clear_bio_and_image(client: TestClient, register: Register) -> None:
    alice = register("alice")
    _update(client, alice, {"bio": "I like dragons", "image": "https://img/a.png"})

    response = _update(client, alice, {"bio": "", "image": ""})

    assert response.status_code == 200, response.text
    assert (response.json()["user"]["bio"], response.json()["user"]["image"]) == ("", "")
    assert (_current(client, alice)["bio"], _current(client, alice)["image"]) == ("", "")


def test_update_with_no_fields_changes_nothing(client: TestClient, register: Register) -> None:
    alice = register("alice")
    before = _current(client, alice)

    response = _update(client, alice, {})

    assert response.status_code == 200, response.text
    assert response.json() == {"user": before}
    assert _current(client, alice) == before


def test_update_changes_the_email_normalised(client: TestClient, register: Register) -> None:
    alice = register("alice", password="secret")

    response = _update(client, alice, {"email": " Alice.New@Example.COM "})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "alice.new@example.com"
    assert _current(client, alice)["email"] == "alice.new@example.com"
    assert _login(client, "alice.new@example.com", "secret").status_code == 200
    assert_error(_login(client, "alice@example.com", "secret"), 401)


def test_update_changes_the_username(client: TestClient, register: Register) -> None:
    alice = register("alice")

    response = _update(client, alice, {"username": "alice2"})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice2"
    assert client.get("/api/profiles/alice2").status_code == 200
    assert_error(client.get("/api/profiles/alice"), 404)


def test_update_changes_the_password(client: TestClient, register: Register) -> None:
    alice = register("alice", password="old-secret")

    response = _update(client, alice, {"password": "new-secret"})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"
    assert "password" not in response.json()["user"]
    assert _login(client, "alice@example.com", "new-secret").status_code == 200
    assert_error(_login(client, "alice@example.com", "old-secret"), 401)


def test_update_to_its_own_email_in_another_case_is_allowed(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")

    response = _update(client, alice, {"email": "ALICE@example.com"})

    assert response.status_code == 200, response.text
    assert response.json()["user"]["email"] == "alice@example.com"


def test_update_to_another_users_email_is_refused(client: TestClient, register: Register) -> None:
    alice = register("alice", password="secret")
    register("bob")
    before = _current(client, alice)

    response = _update(client, alice, {"email": "Bob@Example.com", "bio": "changed"})

    assert assert_error(response, 422) == [messages.EMAIL_TAKEN]
    assert _current(client, alice) == before
    assert _login(client, "alice@example.com", "secret").status_code == 200


def test_update_to_another_users_username_is_refused(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")
    register("bob")
    before = _current(client, alice)

    response = _update(client, alice, {"username": "bob", "bio": "changed"})

    assert assert_error(response, 422) == [messages.USERNAME_TAKEN]
    assert _current(client, alice) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"email": "not-an-email", "bio": "changed"},
        {"username": "has space", "bio": "changed"},
        {"username": "", "bio": "changed"},
        {"password": "", "bio": "changed"},
        {"bio": "a" * 2001},
        {"bio": "nul\x00byte"},
        {"image": 42},
    ],
    ids=[
        "bad-email",
        "bad-username",
        "blank-username",
        "blank-password",
        "bio-too-long",
        "nul-in-bio",
        "image-not-a-string",
    ],
)
def test_update_with_an_invalid_value_changes_nothing(
    client: TestClient, register: Register, changes: dict[str, object]
) -> None:
    alice = register("alice", password="secret")
    before = _current(client, alice)

    response = _update(client, alice, changes)

    assert_error(response, 422)
    assert _current(client, alice) == before
    assert _login(client, "alice@example.com", "secret").status_code == 200


def test_update_requires_a_token(client: TestClient, register: Register) -> None:
    alice = register("alice")
    before = _current(client, alice)

    response = client.put("/api/user", json={"user": {"bio": "changed"}})

    assert_error(response, 401)
    assert _current(client, alice) == before
