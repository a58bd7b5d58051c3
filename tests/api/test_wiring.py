"""Wiring a use case: its service is one provider in api/container.py, its router a module
in api/routers; no other file names them."""

import importlib
import pkgutil
from typing import Annotated

import pytest
from dependency_injector import providers
from fastapi import APIRouter
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

import api.app
import api.routers
from api.app import routes_marked
from api.container import Container
from api.dependencies import service
from api.middleware import HASHES_PASSWORD
from api.protection import LIMITED_PER_ADDRESS
from domain import messages
from domain.errors import NotFound


def test_every_router_module_is_served(client: TestClient) -> None:
    served = {
        (route.path_format, method)
        for route in iter_route_contexts(client.app.routes)
        for method in route.methods or ()
    }
    for module in pkgutil.iter_modules(api.routers.__path__):
        router = importlib.import_module(f"api.routers.{module.name}").router
        for route in iter_route_contexts(router.routes):
            for method in route.methods or ():
                assert (route.path_format, method) in served, (module.name, route.path_format)


def test_a_route_gets_its_service_from_the_container(
    client: TestClient, container: Container
) -> None:
    asked = []

    class Recording:
        def get(self, username: str, viewer_id: int | None) -> None:
            asked.append(username)
            raise NotFound(messages.PROFILE_NOT_FOUND)

    container.profile_service.override(providers.Object(Recording()))

    response = client.get("/api/profiles/someone")

    assert response.status_code == 404
    assert asked == ["someone"]


class Unwired:
    """A service no provider in the container makes."""


def test_the_app_factory_refuses_a_route_whose_service_is_not_wired(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = APIRouter()

    @extra.get("/api/unwired")
    def unwired(thing: Annotated[Unwired, service(Unwired)]) -> None: ...

    found = api.app.routers()
    monkeypatch.setattr(api.app, "routers", lambda: [*found, extra])

    with pytest.raises(RuntimeError, match=r"no provider in api/container\.py for Unwired"):
        api.app.create_app(container)


def test_the_password_lane_and_the_address_limit_take_the_routes_marked_for_them(
    client: TestClient,
) -> None:
    app = client.app
    assert routes_marked(app, HASHES_PASSWORD) == {
        ("POST", "/api/users"),
        ("POST", "/api/users/login"),
        ("PUT", "/api/user"),
    }
    assert routes_marked(app, LIMITED_PER_ADDRESS) == {
        ("POST", "/api/users"),
        ("POST", "/api/users/login"),
    }

    extra = APIRouter()

    @extra.post("/api/users/password-reset", openapi_extra={HASHES_PASSWORD: True})
    def reset() -> None: ...

    app.include_router(extra)
    assert ("POST", "/api/users/password-reset") in routes_marked(app, HASHES_PASSWORD)
