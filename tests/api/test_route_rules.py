"""Rules every route of the app keeps, checked on every route the app has (``tests.routes``).

A route added later is checked here without an edit: errors leave in the spec's body, a
route that needs a signed-in caller refuses everyone else (no token, a malformed one, an
ended session, a deleted account) and writes nothing, and every other route serves an
anonymous caller. Writes need a signed-in caller unless they are the sign-in routes
themselves. The last tests add a throwaway router to the app and show that these checks
see its routes and fail where they break a rule.
"""

import re
from dataclasses import replace

import pytest
from dependency_injector import providers
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.routing import compile_path

from api.container import Container
from api.dependencies import OptionalCaller, RequiredCaller
from api.routers.articles import Articles
from domain import messages
from infrastructure.orm import users
from tests.api.conftest import assert_error
from tests.routes import (
    MissingExample,
    Route,
    World,
    api_routes,
    auth,
    example_url,
    route_id,
    routes_of,
    send_example,
    service_providers,
    snapshot,
)

# Anyone may call these writes: they are how a caller gets a token in the first place.
PUBLIC_WRITES = frozenset({"POST /api/users", "POST /api/users/login"})

NEEDS_CALLER = [route for route in api_routes() if route.requires_caller]
OPEN = [route for route in api_routes() if not route.requires_caller]
PATHS = sorted({route.path for route in api_routes()})


class _Exploding:
    """A service whose every use case fails with an unexpected error."""

    def __getattr__(self, name: str) -> object:
        def explode(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("boom secret")

        return explode


# -- the checks, one per rule (the demonstration below runs them on a throwaway route) --------


def check_unexpected_error_is_in_the_spec_body(
    client: TestClient, container: Container, world: World, route: Route
) -> None:
    for name in service_providers(container):
        getattr(container, name).override(providers.Object(_Exploding()))
    try:
        response = send_example(client, route, world)
    finally:
        for name in service_providers(container):
            getattr(container, name).reset_override()

    [message] = assert_error(response, 500)
    assert re.fullmatch(r"internal error \(request id [0-9a-f]{32}\)", message), message
    assert "boom secret" not in response.text


def check_refused_without_a_valid_token(
    client: TestClient, engine: Engine, world: World, route: Route
) -> None:
    before = snapshot(engine)
    for headers in [
        {},
        {"Authorization": ""},
        {"Authorization": "Token"},
        {"Authorization": "Token not-a-jwt"},
        {"Authorization": f"Basic {world.alice['token']}"},
    ]:
        response = send_example(client, route, world, headers)

        assert response.status_code == 401, (
            f"{route} requires a signed-in caller, yet answered {response.status_code} "
            f"to {headers}: {response.text[:200]}"
        )
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"] == "Token"
    assert snapshot(engine) == before, f"{route} wrote for a caller without a valid token"


def check_serves_an_anonymous_caller(client: TestClient, world: World, route: Route) -> None:
    response = send_example(client, route, world, {})

    assert response.status_code == route.success, (
        f"{route} does not depend on RequiredCaller, so anyone may call it; without a token "
        f"it answered {response.status_code}: {response.text[:200]}"
    )


def writes_without_a_caller(routes: list[Route]) -> list[str]:
    return [
        f"{route} changes data without requiring a signed-in caller: depend on RequiredCaller "
        "(api.dependencies), or add it to PUBLIC_WRITES if anyone may call it"
        for route in routes
        if route.is_write and not route.requires_caller and str(route) not in PUBLIC_WRITES
    ]


# -- error bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("route", api_routes(), ids=route_id)
def test_an_unexpected_error_is_500_in_the_spec_body(
    client: TestClient, container: Container, world: World, route: Route
) -> None:
    check_unexpected_error_is_in_the_spec_body(client, container, world, route)


@pytest.mark.parametrize("path", PATHS)
def test_a_method_a_path_does_not_allow_is_405_in_the_spec_body(
    client: TestClient, world: World, path: str
) -> None:
    url = example_url(next(route for route in api_routes() if route.path == path), world)
    # Another path may match the same URL (``/api/articles/feed`` is also a ``{slug}``).
    allowed = {route.method for route in api_routes() if compile_path(route.path)[0].fullmatch(url)}
    for method in sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - allowed):
        response = client.request(method, url, headers=world.headers)

        assert_error(response, 405)
        assert set(response.headers["Allow"].split(", ")) <= allowed


def test_the_openapi_document_describes_every_route_and_nothing_else(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    documented = {
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        if path.startswith("/api/")
        for method in operations
    }
    assert documented == {str(route) for route in routes_of(client.app)}  # type: ignore[arg-type]


# -- who may call what -------------------------------------------------------------------------


def test_every_write_requires_a_signed_in_caller_but_signing_in() -> None:
    assert writes_without_a_caller(list(api_routes())) == []
    assert {str(route) for route in OPEN if route.is_write} == PUBLIC_WRITES


@pytest.mark.parametrize("route", NEEDS_CALLER, ids=route_id)
def test_a_route_that_needs_a_caller_refuses_a_missing_or_malformed_token(
    client: TestClient, engine: Engine, world: World, route: Route
) -> None:
    check_refused_without_a_valid_token(client, engine, world, route)


@pytest.mark.parametrize("route", OPEN, ids=route_id)
def test_a_route_that_needs_no_caller_serves_anyone(
    client: TestClient, world: World, route: Route
) -> None:
    check_serves_an_anonymous_caller(client, world, route)


@pytest.mark.parametrize("route", NEEDS_CALLER, ids=route_id)
def test_a_token_issued_before_a_password_change_is_refused_and_does_nothing(
    client: TestClient, engine: Engine, world: World, route: Route
) -> None:
    old = world.headers
    changed = client.put("/api/user", json={"user": {"password": "new-password"}}, headers=old)
    assert changed.status_code == 200, changed.text
    new = auth(changed.json()["user"])
    assert new != old
    before = snapshot(engine)

    response = send_example(client, route, world, old)

    assert assert_error(response, 401) == [messages.SESSION_ENDED]
    assert response.headers["WWW-Authenticate"] == "Token"
    assert snapshot(engine) == before
    # The new token works.
    current = client.get("/api/user", headers=new)
    assert current.status_code == 200, current.text


@pytest.mark.parametrize("route", NEEDS_CALLER, ids=route_id)
def test_the_token_of_a_deleted_account_is_refused_and_does_nothing(
    client: TestClient, engine: Engine, world: World, route: Route
) -> None:
    with engine.begin() as connection:
        connection.execute(users.delete().where(users.c.username == "alice"))
    before = snapshot(engine)

    response = send_example(client, route, world)

    assert assert_error(response, 401) == [messages.TOKEN_USER_GONE]
    assert response.headers["WWW-Authenticate"] == "Token"
    assert snapshot(engine) == before


# -- the demonstration: a throwaway router, added to the app -----------------------------------

throwaway = APIRouter(prefix="/api/throwaway")


@throwaway.post("/notes")
def add_note(caller: OptionalCaller) -> dict[str, str]:
    """A write that forgot to require its caller: anyone may call it."""
    return {"note": "kept"}


@throwaway.get("/tags")
def tags(articles: Articles) -> Response:
    """Answers its own errors, in a body of its own."""
    try:
        return JSONResponse({"tags": list(articles.tags())})
    except Exception:
        return JSONResponse({"detail": "tags unavailable"}, status_code=500)


@throwaway.get("/notes/{note_id}")
def get_note(note_id: int, caller: RequiredCaller) -> dict[str, int]:
    """A path parameter that no example names."""
    return {"note": note_id}


@pytest.fixture
def extended(client: TestClient) -> TestClient:
    """The app of ``client`` (one per test) with the throwaway router added."""
    client.app.include_router(throwaway)  # type: ignore[attr-defined]
    return client


def _throwaway(client: TestClient, path: str) -> Route:
    [route] = [r for r in routes_of(client.app) if r.path == path]  # type: ignore[arg-type]
    return route


def test_demonstration_the_checks_see_a_route_added_later(extended: TestClient) -> None:
    found = {str(route) for route in routes_of(extended.app)}  # type: ignore[arg-type]

    assert found - {str(route) for route in api_routes()} == {
        "POST /api/throwaway/notes",
        "GET /api/throwaway/tags",
        "GET /api/throwaway/notes/{note_id}",
    }
    assert _throwaway(extended, "/api/throwaway/notes/{note_id}").requires_caller


def test_demonstration_a_write_anyone_may_call_fails_the_rule(
    extended: TestClient, world: World
) -> None:
    route = _throwaway(extended, "/api/throwaway/notes")

    [problem] = writes_without_a_caller(routes_of(extended.app))  # type: ignore[arg-type]

    assert problem.startswith("POST /api/throwaway/notes changes data without requiring")
    # It answers 200 without a token: what the rule is there to prevent.
    assert send_example(extended, route, world, {}).status_code == 200


def test_demonstration_a_non_spec_error_body_fails_the_rule(
    extended: TestClient, container: Container, world: World
) -> None:
    route = _throwaway(extended, "/api/throwaway/tags")

    with pytest.raises(AssertionError, match="detail"):
        check_unexpected_error_is_in_the_spec_body(extended, container, world, route)


def test_demonstration_a_route_without_an_example_fails_with_what_to_add(
    extended: TestClient, engine: Engine, world: World
) -> None:
    route = _throwaway(extended, "/api/throwaway/notes/{note_id}")

    with pytest.raises(MissingExample, match=r"Add an entry for .*'note_id'.* PATH_EXAMPLES"):
        check_refused_without_a_valid_token(extended, engine, world, route)


def test_demonstration_a_route_that_needs_a_caller_but_serves_anyone_fails_the_rule(
    extended: TestClient, engine: Engine, world: World
) -> None:
    # The throwaway write that anyone may call, checked as the rule would if it required a
    # caller (say, by its own check of the header instead of RequiredCaller).
    route = replace(_throwaway(extended, "/api/throwaway/notes"), requires_caller=True)

    with pytest.raises(AssertionError, match="requires a signed-in caller, yet answered 200"):
        check_refused_without_a_valid_token(extended, engine, world, route)
