"""Every error leaves as the spec's body, ``{"errors": {"body": [...]}}``, mapped here once.

The application's errors form one hierarchy (``domain.errors.ConduitError``); ``_STATUS``
is its one mapping to HTTP. Unknown errors are 500 with a request id; the traceback goes
to the log, never to the client.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api.middleware import new_request_id
from api.protection import NOSNIFF
from api.responses import error_response
from api.schemas import RULE_ERROR
from application.errors import NotAuthenticated, TemporarilyUnavailable, TooManyAttempts
from domain import messages
from domain.errors import (
    AlreadyExists,
    ConduitError,
    Forbidden,
    InvalidCredentials,
    NotFound,
    ValidationFailed,
)

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("conduit.errors")

# Looked up along the error's class hierarchy: the nearest kind listed decides.
_STATUS: dict[type[ConduitError], int] = {
    ValidationFailed: 422,
    AlreadyExists: 422,
    NotFound: 404,
    Forbidden: 403,
    InvalidCredentials: 401,
    NotAuthenticated: 401,
    TooManyAttempts: 429,
    TemporarilyUnavailable: 503,  # ConcurrentUpdate too: write use cases retry it first
}
_HEADERS: dict[type[ConduitError], dict[str, str]] = {
    NotAuthenticated: {"WWW-Authenticate": "Token"},
}


def _conduit_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ConduitError)
    kind = next(kind for kind in type(error).__mro__ if kind in _STATUS)
    if kind is TemporarilyUnavailable:
        # The client may only retry; the operator needs to know why (the database's error).
        reason = error.__cause__ or error
        why = str(reason).partition("\n")[0] or type(reason).__name__
        log.warning("503, request id %s: %s", getattr(request.state, "request_id", None), why)
    headers = dict(_HEADERS.get(kind, {}))
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return error_response(_STATUS[kind], *error.messages, headers=headers or None)


def _validation_error(_request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    found = []
    for problem in error.errors():
        if problem.get("type") == RULE_ERROR:
            found.append(problem["msg"])
            continue
        location = list(problem.get("loc", ()))
        if location[:1] == ["body"]:  # the body itself; a field may be called "body" too
            location = location[1:]
        where = ".".join(str(part) for part in location)
        found.append(f"{where}: {problem.get('msg', 'is invalid')}" if where else problem["msg"])
    return error_response(422, *found)


def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    headers = dict(error.headers or {})
    if error.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return error_response(error.status_code, str(error.detail), headers=headers or None)


def _allowed_methods(request: Request) -> str:
    """Every method of the path the request matched. Starlette names only those of the one
    route it matched, and FastAPI makes a route per method: ``/api/articles/{slug}`` would
    say ``GET`` alone. Only a 405 pays for looking at every route."""
    path = getattr(request.scope.get("route"), "path", None)
    allowed: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path == path and route.methods:
            allowed |= route.methods
    return ", ".join(sorted(allowed))


def _unexpected(request: Request, error: Exception) -> Response:
    request_id = getattr(request.state, "request_id", None) or new_request_id()
    log.exception("unhandled error, request id %s", request_id, exc_info=error)
    return error_response(
        500,
        messages.internal_error(request_id),
        headers={"X-Request-ID": request_id, **NOSNIFF},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ConduitError, _conduit_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
