"""Identity is never reused or confused (issue 9, findings 4, 7, 8 and 9), through the real app.

A token names one account, in one session generation: a deleted user's token never becomes
the next user's, a password change ends the sessions before it, a token whose ``sub`` is not
a user id is refused like any bad token, and a clock a little ahead is no reason to refuse.
Usernames differing only in case are one username; emails are compared NFC-normalised and
case-folded.
"""

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
CreateArticle = Callable[..., dict[str, Any]]


def _signed(claims: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Token {jwt.encode(claims, TEST_JWT_SECRET, algorithm='HS256')}"}


def _claims(sub: Any, *, issued_in: float = 0, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sub": sub,
        "iat": now + timedelta(seconds=issued_in),
        "exp": now + timedelta(hours=1),
        **extra,
    }


def _user_id(_client: TestClient, user: dict[str, Any]) -> int:
    return int(jwt.decode(user["token"], TEST_JWT_SECRET, algorithms=["HS256"])["sub"])


# -- finding 9: clock leeway and the subject's range -------------------------------------------


@pytest.mark.parametrize("ahead", [1, 20])
def test_a_token_issued_by_a_clock_a_little_ahead_is_accepted(
    client: TestClient, register: Register, ahead: float
) -> None:
    alice = register("alice")
    sub = str(_user_id(client, alice))
    claims = _claims(sub, issued_in=ahead, nbf=datetime.now(UTC) + timedelta(seconds=ahead))

    response = client.get("/api/user", headers=_signed(claims))

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "alice"


def test_a_token_issued_far_in_the_future_is_refused(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")
    claims = _claims(str(_user_id(client, alice)), issued_in=600)

    assert_error(client.get("/api/user", headers=_signed(claims)), 401)


@pytest.mark.parametrize(
    "sub",
    ["0", "-1", "2147483648", "99999999999999999999", "1e3", " 1", "01", "\u0661", "abc", ""],
)
def test_a_signed_token_whose_subject_is_not_a_user_id_is_unauthorized(
    client: TestClient, register: Register, sub: str
) -> None:
    register("alice")

    for path in ("/api/user", "/api/articles/feed"):
        response = client.get(path, headers=_signed(_claims(sub)))
        assert assert_error(response, 401) == [messages.TOKEN_INVALID]
        assert response.headers["WWW-Authenticate"] == "Token"


# -- finding 4: ids are never reused ----------------------------------------------------------


def test_the_token_of_a_deleted_user_never_opens_the_next_users_account(
    client: TestClient, register: Register, engine: Engine
) -> None:
    register("alice")
    bob = register("bob")  # the newest user: a reusing database gives his id to the next
    with engine.begin() as connection:
        connection.execute(users.delete().where(users.c.username == "bob"))
    carol = register("carol")

    response = client.get("/api/user", headers=auth(bob))

    assert assert_error(response, 401) == [messages.TOKEN_USER_GONE]
    assert _user_id(client, carol) != _user_id(client, bob)
    assert client.get("/api/user", headers=auth(carol)).json()["user"]["username"] == "carol"


# -- finding 7: one username whatever its case ------------------------------------------------


@pytest.mark.parametrize("variant", ["Alice", "ALICE", "aLiCe"])
def test_registering_a_case_variant_of_a_taken_username_is_refused(
    client: TestClient, register: Register, variant: str
) -> None:
    register("alice")

    response = client.post(
        "/api/users",
        json={"user": {"username": variant, "email": "other@example.com", "password": "pw"}},
    )

    assert assert_error(response, 422) == [messages.USERNAME_TAKEN]


def test_renaming_to_a_case_variant_of_another_users_name_is_refused(
    client: TestClient, register: Register
) -> None:
    register("alice")
    bob = register("bob")

    response = client.put("/api/user", json={"user": {"username": "ALICE"}}, headers=auth(bob))

    assert assert_error(response, 422) == [messages.USERNAME_TAKEN]


def test_a_user_may_change_the_case_of_their_own_name_and_it_is_shown_as_written(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")

    response = client.put("/api/user", json={"user": {"username": "Alice"}}, headers=auth(alice))

    assert response.status_code == 200, response.text
    assert response.json()["user"]["username"] == "Alice"
    assert client.get("/api/profiles/alice").json()["profile"]["username"] == "Alice"


def test_profiles_follows_and_filters_find_a_user_in_any_case(
    client: TestClient, register: Register, create_article: CreateArticle
) -> None:
    alice = register("Alice")
    bob = register("bob")
    slug = create_article(alice, title="Dragons")["slug"]
    assert client.post(f"/api/articles/{slug}/favorite", headers=auth(alice)).status_code == 200

    profile = client.get("/api/profiles/ALICE", headers=auth(bob))
    assert profile.status_code == 200, profile.text
    assert profile.json()["profile"] == {
        "username": "Alice",
        "bio": "",
        "image": "",
        "following": False,
    }
    followed = client.post("/api/profiles/alice/follow", headers=auth(bob))
    assert followed.status_code == 200, followed.text
    assert followed.json()["profile"]["username"] == "Alice"
    assert client.get("/api/profiles/aLICE", headers=auth(bob)).json()["profile"]["following"]
    assert client.get("/api/articles/feed", headers=auth(bob)).json()["articlesCount"] == 1
    for query in ("author=alice", "author=ALICE", "favorited=alice", "favorited=aLiCe"):
        assert client.get(f"/api/articles?{query}").json()["articlesCount"] == 1, query
    unfollowed = client.delete("/api/profiles/ALICE/follow", headers=auth(bob))
    assert unfollowed.json()["profile"]["following"] is False


# -- finding 9: emails are NFC-normalised and case-folded --------------------------------------


def test_an_email_in_another_unicode_form_or_case_is_the_same_email(
    client: TestClient, register: Register
) -> None:
    register("rene", email="Rene\u0301@example.com")  # "René" with a combining accent

    taken = client.post(
        "/api/users",
        json={"user": {"username": "other", "email": "REN\u00c9@example.com", "password": "pw"}},
    )
    assert assert_error(taken, 422) == [messages.EMAIL_TAKEN]
    login = client.post(
        "/api/users/login",
        json={"user": {"email": "ren\u00e9@EXAMPLE.com", "password": "secret"}},
    )
    assert login.status_code == 200, login.text
    assert login.json()["user"]["email"] == "ren\u00e9@example.com"


# -- finding 8: a password change ends the sessions before it ---------------------------------


# That a token issued before the change is refused by every route that needs a caller, and
# does nothing there, is checked on every such route in tests/api/test_route_rules.py.


def test_signing_in_with_the_new_password_gives_a_working_token(
    client: TestClient, register: Register
) -> None:
    alice = register("alice", password="old-password")
    client.put("/api/user", json={"user": {"password": "new-password"}}, headers=auth(alice))

    login = client.post(
        "/api/users/login",
        json={"user": {"email": "alice@example.com", "password": "new-password"}},
    )

    assert login.status_code == 200, login.text
    assert client.get("/api/user", headers=auth(login.json()["user"])).status_code == 200
    assert_error(client.get("/api/user", headers=auth(alice)), 401)


def test_changing_name_email_and_bio_keeps_the_token_as_the_official_collection_expects(
    client: TestClient, register: Register
) -> None:
    alice = register("alice")
    login = client.post(
        "/api/users/login",
        json={"user": {"email": "alice@example.com", "password": "secret"}},
    )
    token = login.json()["user"]["token"]
    headers = {"Authorization": f"Token {token}"}

    changes = {"username": "alice2", "email": "alice2@example.com", "bio": "b", "image": "i"}
    updated = client.put("/api/user", json={"user": changes}, headers=headers)

    assert updated.status_code == 200, updated.text
    assert updated.json()["user"]["token"] == token
    assert client.get("/api/user", headers=headers).json()["user"]["username"] == "alice2"
    assert client.get("/api/user", headers=auth(alice)).status_code == 200
