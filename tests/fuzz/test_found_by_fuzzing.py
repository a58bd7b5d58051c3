"""Bugs the fuzz tests found, one focused test each, kept as regression tests."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from infrastructure.orm import users
from tests.api.conftest import assert_error, auth
from tests.fuzz.conftest import error_statuses, served_document

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


def _error_body_schemas(status: str | None = None) -> dict[str, Any]:
    """What the served document declares as the body of each error response."""
    document = served_document()
    found = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code in error_statuses(method, path, operation):
                if status is not None and code != status:
                    continue
                response = operation["responses"].get(code, {})
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                found[f"{method.upper()} {path} {code}"] = schema
    return found


def test_the_document_declares_the_422_body_the_app_sends() -> None:
    declared = _error_body_schemas("422")

    wrong = {
        where: schema
        for where, schema in declared.items()
        if schema != {"$ref": "#/components/schemas/GenericErrorModel"}
    }
    assert declared and not wrong


def test_the_document_declares_every_error_response_the_app_sends() -> None:
    undocumented = [
        where
        for where, schema in _error_body_schemas().items()
        if not where.endswith(" 422")  # the test above
        and schema != {"$ref": "#/components/schemas/GenericErrorModel"}
    ]

    assert not undocumented
