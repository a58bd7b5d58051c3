"""FastAPI dependencies: who is calling (an ``application.caller.Caller``, from the verified
token) and the use-case services, from the container (``service()``).

They are ``async def`` on purpose: nothing here blocks (a JWT check is CPU work of
microseconds, building a service opens no session), and an ``async`` dependency costs no
hop through the threadpool. The endpoints are ``async def`` too, and run their use case
through ``api.serving.run_use_case``: in a thread, or on the loop through the greenlet bridge.
"""

from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security import APIKeyHeader

from api.container import Container
from application.caller import Caller
from application.errors import NotAuthenticated
from domain import messages

_authorization = APIKeyHeader(
    name="Authorization",
    scheme_name="Token",  # as the spec names it
    auto_error=False,
    description="`Token <jwt>` as returned by login or registration",
)

S = TypeVar("S")


def container(request: Request) -> Container:
    # app.state is an untyped bag; the app factory puts the Container there. (An annotation,
    # not cast(): this runs on every request.)
    stored: Container = request.app.state.container
    return stored


def _token(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("token", "bearer") or not token.strip():
        raise NotAuthenticated(messages.MALFORMED_AUTHORIZATION)
    return token.strip()


async def optional_caller(
    request: Request, header: Annotated[str | None, Depends(_authorization)]
) -> Caller | None:
    """Anonymous without a header; a header that is present must hold a valid token.

    Only the signature and the expiry are checked here. Whether the account still exists
    in the token's session generation is checked by the use cases that act for the caller,
    in the statement that reads the account anyway; reads that merely personalise (lists,
    an article, a profile) do not look, so a stale token there sees ``following`` and
    ``favorited`` as its user would, nothing more.
    """
    token = _token(header)
    if token is None:
        return None
    return container(request).tokens().verify(token)


async def required_caller(caller: Annotated[Caller | None, Depends(optional_caller)]) -> Caller:
    if caller is None:
        raise NotAuthenticated(messages.AUTHENTICATION_REQUIRED)
    return caller


async def presented_token(
    _caller: Annotated[Caller, Depends(required_caller)],
    header: Annotated[str | None, Depends(_authorization)],
) -> str:
    """The token the (authenticated) caller sent, for the endpoints that return it."""
    token = _token(header)
    assert token is not None, "required_caller saw it"
    return token


def declare_optional_auth(app: FastAPI) -> None:
    """The document says which operations work with or without a token.

    FastAPI states every operation that reads the Authorization header as requiring it;
    those whose caller is ``optional_caller`` alone also answer anonymously, which OpenAPI
    says with an empty requirement: ``security: [{}, {"Token": []}]``. Found from each
    route's own dependencies, so a new route is declared as it behaves.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        document = build()
        for route in endpoints(app):
            if not route.include_in_schema:
                continue
            calls = {dependant.call for dependant in _dependants(route.dependant)}
            if optional_caller not in calls or required_caller in calls:
                continue
            for method in route.methods or ():
                security = document["paths"][route.path_format][method.lower()]["security"]
                if {} not in security:
                    security.insert(0, {})
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it


def endpoints(app: FastAPI) -> Iterator[RouteContext]:
    """The app's endpoint routes (FastAPI's ``APIRoute``s, nested routers included)."""
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.path_format is not None:
            yield route


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for sub_dependant in dependant.dependencies:
        yield sub_dependant
        yield from _dependants(sub_dependant)


def service(kind: type[S]) -> Any:
    """The use-case service of class ``kind``, as the container provides it (a new one per
    request): ``
    Found by its class among the container's providers, so wiring a service is its one line
    in ``api/container.py``; the app factory refuses to start if a route asks for a service
    the container does not provide.
    """

    async def provide(request: Request) -> S:
        provided: S = request.app.state.services[kind]()
        return provided

    _SERVICE_KINDS[provide] = kind
    return Depends(provide)


_SERVICE_KINDS: dict[Callable[..., Any], type] = {}


def services_asked_for(app: FastAPI) -> set[type]:
    """The service classes the app's routes ask for through ``service()``."""
    return {
        _SERVICE_KINDS[dependant.call]
        for route in endpoints(app)
        for dependant in _dependants(route.dependant)
        if dependant.call in _SERVICE_KINDS
    }


OptionalCaller = Annotated[Caller | None, Depends(optional_caller)]
RequiredCaller = Annotated[Caller, Depends(required_caller)]
PresentedToken = Annotated[str, Depends(presented_token)]
