"""Bugs the fuzz tests found, one focused test each, kept as regression tests."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from infrastructure.orm import users
from tests.api.conftest import assert_error, auth
from tests.fuzz.conftest import served_document

Register = Callable[..., dict[str, Any]]


def _user_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(users)) or 0


@pytest.mark.parametrize("username", ["alice\n", "bob\n"])
def test_registering_a_username_with_a_trailing_newline_is_refused(
    client: TestClient, register: Register, engine: Engine, username: str
) -> None:
    # Next to an existing "alice" this is an impersonation: the same name on every screen.
    register("alice")
    count = _user_count(engine)

    response = client.post(
        "/api/users",
        json={"user": {"username": username, "email": "other@example.com", "password": "pw"}},
    )

    assert_error(response, 422)
    assert _user_count(engine) == count


def test_renaming_to_a_username_with_a_trailing_newline_is_refused(
    client: TestClient, register: Register
) -> None:
    register("alice")
    bob = register("bob")

    response = client.put("/api/user", json={"user": {"username": "alice\n"}}, headers=auth(bob))

    assert_error(response, 422)
    assert client.get("/api/user", headers=auth(bob)).json()["user"]["username"] == "bob"


def _error_body_schemas() -> dict[str, Any]:
    """What the served document declares as the body of each error response."""
    found = {}
    for path, operations in served_document()["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if int(code) >= 400:
                    schema = response.get("content", {}).get("application/json", {}).get("schema")
                    found[f"{method.upper()} {path} {code}"] = schema
    return found


def test_the_document_declares_the_spec_error_body_for_every_error_response() -> None:
    declared = _error_body_schemas()

    wrong = {
        where: schema
        for where, schema in declared.items()
        if schema != {"$ref": "#/components/schemas/GenericErrorModel"}
    }
    assert any(where.endswith(" 422") for where in declared) and not wrong


def test_no_operation_declares_a_conflict() -> None:
    # Every write runs again when it loses a race, and ends in 503 if it keeps losing.
    assert not [where for where in _error_body_schemas() if where.endswith(" 409")]


OPTIONAL_AUTH = [{}, {"Token": []}]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/articles"),
        ("get", "/api/articles/{slug}"),
        ("get", "/api/articles/{slug}/comments"),
        ("get", "/api/profiles/{username}"),
    ],
)
def test_reads_that_answer_anonymously_declare_their_auth_optional(method: str, path: str) -> None:
    assert served_document()["paths"][path][method]["security"] == OPTIONAL_AUTH


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/articles/feed"), ("post", "/api/articles/{slug}/favorite")]
)
def test_operations_that_need_a_token_declare_it_required(method: str, path: str) -> None:
    assert served_document()["paths"][path][method]["security"] == [{"Token": []}]
