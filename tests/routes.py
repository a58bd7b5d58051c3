"""The app's routes as the suites that check every route see them, and what a request to
each one needs.

The suites that hold a rule for every route (the error body, authentication, bad input,
statement counts) enumerate the routes from the app itself: a route added later is checked
without editing them. What a route is (its method and path, whether it requires a signed-in
caller, its path, query and body parameters, its success status) comes from FastAPI's own
record of it: the endpoint's signature and its tree of dependencies.

What a request needs to succeed (an existing slug, a valid body) comes from the two tables
of examples below, keyed by a route's path parameters and by its body's schema: a new route
whose parameters or body are not there fails every suite with a message that says what to
add, rather than being skipped.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, get_args

import annotated_types
import httpx
from dependency_injector import providers
from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, select

from api.app import create_app
from api.container import Container
from api.dependencies import required_caller
from infrastructure.orm import metadata
from tests.conftest import settings_for

API_PREFIX = "/api/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Parameter:
    """A path or query parameter: its name, its type, and its bounds if it declares any."""

    name: str
    annotation: Any
    max_length: int | None = None
    ge: int | None = None
    le: int | None = None
    required: bool = True

    @property
    def is_int(self) -> bool:
        return self.annotation is int

    @property
    def is_str(self) -> bool:
        return self.annotation is str or str in get_args(self.annotation)


@dataclass(frozen=True)
class Route:
    """One method of one route of the app, as FastAPI records it."""

    method: str
    path: str
    name: str
    success: int
    requires_caller: bool  # depends on api.dependencies.required_caller
    path_params: tuple[Parameter, ...]
    query_params: tuple[Parameter, ...]
    body: type[BaseModel] | None = field(default=None)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS

    @property
    def is_page(self) -> bool:
        """It answers a page of a list: its size is the ``limit`` query parameter."""
        return any(parameter.name == "limit" for parameter in self.query_params)

    def query(self, name: str) -> Parameter:
        return next(parameter for parameter in self.query_params if parameter.name == name)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every dependency in the tree under ``dependant`` (the endpoint's, the router's)."""
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _parameter(model_field: Any) -> Parameter:
    info = model_field.field_info
    bounds: dict[str, int] = {}
    for rule in info.metadata:
        if isinstance(rule, annotated_types.MaxLen):
            bounds["max_length"] = rule.max_length
        elif isinstance(rule, annotated_types.Ge):
            bounds["ge"] = int(rule.ge)  # type: ignore[call-overload]  # ints, on int parameters
        elif isinstance(rule, annotated_types.Le):
            bounds["le"] = int(rule.le)  # type: ignore[call-overload]  # ints, on int parameters
    return Parameter(model_field.name, info.annotation, required=info.is_required(), **bounds)


def routes_of(app: FastAPI) -> list[Route]:
    """Every method of every route under ``/api/``, in the order the app declares them."""
    found: list[Route] = []
    for context in routing.iter_route_contexts(app.routes):
        if not isinstance(context.original_route, routing.APIRoute):
            continue
        if not context.path.startswith(API_PREFIX):
            continue
        dependant = context.dependant
        calls = set(_calls(dependant))
        body = context.body_field.field_info.annotation if context.body_field else None
        for method in sorted(context.methods):
            found.append(
                Route(
                    method=method,
                    path=context.path,
                    name=context.name,
                    success=context.status_code or 200,
                    requires_caller=required_caller in calls,
                    path_params=tuple(_parameter(p) for p in dependant.path_params),
                    query_params=tuple(_parameter(p) for p in dependant.query_params),
                    body=body,
                )
            )
    return found


def bare_app() -> FastAPI:
    """The app, on settings that connect nowhere (building it touches no database)."""
    container = Container()
    container.settings.override(providers.Object(settings_for("sqlite://")))
    return create_app(container)


@cache
def api_routes() -> tuple[Route, ...]:
    """The app's routes, for ``pytest.mark.parametrize`` (at collection, so once)."""
    return tuple(routes_of(bare_app()))


def route_id(value: object) -> str:
    return str(value) if isinstance(value, Route) else repr(value)[:40]


# -- a small world to send requests into -------------------------------------------------------


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Token {user['token']}"}


@dataclass(frozen=True)
class World:
    """Two users who follow, favorite and comment on each other's articles.

    ``alice`` is the caller of the requests the suites send; ``bob`` owns what she may not
    change.
    """

    alice: dict[str, Any]
    bob: dict[str, Any]
    alice_slug: str
    bob_slug: str
    alice_comment_id: int
    bob_comment_id: int

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.alice)

    @property
    def path_values(self) -> dict[str, list[Any]]:
        """Path parameters that name things that exist, for each parameter name."""
        return {
            "slug": [self.alice_slug, self.bob_slug],
            "username": [self.alice["username"], self.bob["username"]],
            "comment_id": [self.alice_comment_id, self.bob_comment_id],
        }


def build_world(
    client: TestClient,
    register: Callable[..., dict[str, Any]],
    create_article: Callable[..., dict[str, Any]],
    add_comment: Callable[..., dict[str, Any]],
) -> World:
    alice = register("alice")
    bob = register("bob")
    alice_slug = create_article(alice, title="Alice writes", tags=["dragons", "training"])["slug"]
    bob_slug = create_article(bob, title="Bob writes", tags=["dragons"])["slug"]
    alice_comment = add_comment(alice, bob_slug, "Well written, Bob")
    bob_comment = add_comment(bob, alice_slug, "Thanks, Alice")
    assert client.post("/api/profiles/bob/follow", headers=auth(alice)).status_code == 200
    assert client.post(f"/api/articles/{alice_slug}/favorite", headers=auth(bob)).status_code == 200
    return World(
        alice=alice,
        bob=bob,
        alice_slug=alice_slug,
        bob_slug=bob_slug,
        alice_comment_id=alice_comment["id"],
        bob_comment_id=bob_comment["id"],
    )


Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(engine: Engine) -> Snapshot:
    """Every row of every table, in a stable order: equal snapshots mean nothing was written
    (no insert, no delete, and no update either, ``updated_at`` included)."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }


# -- examples: what a request to each route needs to succeed, sent by Alice --------------------

# Keyed by the route's path parameters. Values name things in the world that Alice may act
# on: her own article, her own comment (on Bob's article), Bob's profile.
PATH_EXAMPLES: dict[frozenset[str], Callable[[World], dict[str, Any]]] = {
    frozenset({"slug"}): lambda world: {"slug": world.alice_slug},
    frozenset({"slug", "comment_id"}): lambda world: {
        "slug": world.bob_slug,
        "comment_id": world.alice_comment_id,
    },
    frozenset({"username"}): lambda world: {"username": world.bob["username"]},
}

# Keyed by the name of the body's schema (as in the OpenAPI document).
BODY_EXAMPLES: dict[str, dict[str, Any]] = {
    "NewUserRequest": {
        "user": {"username": "carol", "email": "carol@example.com", "password": "secret"}
    },
    "LoginUserRequest": {"user": {"email": "alice@example.com", "password": "secret"}},
    "UpdateUserRequest": {
        "user": {"username": "alicia", "email": "alicia@example.com", "password": "new", "bio": "b"}
    },
    "NewArticleRequest": {
        "article": {
            "title": "New one",
            "description": "d",
            "body": "b",
            "tagList": ["fresh", "new"],
        }
    },
    "UpdateArticleRequest": {
        "article": {"title": "Alice rewrites", "description": "d2", "body": "b2"}
    },
    "NewCommentRequest": {"comment": {"body": "Nice"}},
}


class MissingExample(AssertionError):
    """A route needs an input the tables above do not have: a suite cannot check it."""


def path_values(route: Route, world: World) -> dict[str, Any]:
    names = frozenset(parameter.name for parameter in route.path_params)
    if not names:
        return {}
    if names not in PATH_EXAMPLES:
        raise MissingExample(
            f"{route}: no example for the path parameters {sorted(names)}. Add an entry for "
            f"frozenset({set(sorted(names))}) to PATH_EXAMPLES in tests/routes.py: values that "
            "name things in the World that Alice may act on."
        )
    return PATH_EXAMPLES[names](world)


def body_example(route: Route) -> dict[str, Any] | None:
    if route.body is None:
        return None
    name = route.body.__name__
    if name not in BODY_EXAMPLES:
        raise MissingExample(
            f"{route}: no example body for its schema {name}. Add a valid {name} to "
            "BODY_EXAMPLES in tests/routes.py (a request Alice may send and that succeeds)."
        )
    return BODY_EXAMPLES[name]


def required_query(route: Route) -> dict[str, Any]:
    missing = [parameter.name for parameter in route.query_params if parameter.required]
    if missing:
        raise MissingExample(
            f"{route}: required query parameters {missing} have no example. Give them a "
            "default, or teach tests/routes.py.example_url to fill them."
        )
    return {}


def example_url(route: Route, world: World, **path: Any) -> str:
    """The route's path with the example's values, or ``path``'s (put in as they are)."""
    values = {**path_values(route, world), **path}
    required_query(route)
    return route.path.format(**values)


def send_example(
    client: TestClient,
    route: Route,
    world: World,
    headers: dict[str, str] | None = None,
    *,
    params: dict[str, Any] | None = None,
    **path: Any,
) -> httpx.Response:
    """The example request to ``route``; ``headers`` default to Alice's token."""
    return client.request(
        route.method,
        example_url(route, world, **path),
        json=body_example(route),
        params=params,
        headers=world.headers if headers is None else headers,
    )


def service_providers(container: Container) -> list[str]:
    """The names of the container's use-case services (what endpoints call to do their job)."""
    return [name for name in container.providers if name.endswith("_service")]
