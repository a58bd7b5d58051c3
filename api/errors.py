"""Every error leaves as the spec's body, ``{"errors": {"body": [...]}}``, mapped here once.

Unknown errors are 500 with a request id; the traceback goes to the log, never to the client.
"""

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from api.middleware import new_request_id
from api.protection import NOSNIFF
from application.errors import (
    ConcurrentUpdate,
    NotAuthenticated,
    TemporarilyUnavailable,
    TooManyAttempts,
)
from domain.errors import (
    AlreadyExists,
    DomainError,
    Forbidden,
    InvalidCredentials,
    NotFound,
    ValidationFailed,
)

log = logging.getLogger("conduit.errors")

_STATUS = {
    ValidationFailed: 422,
    AlreadyExists: 422,
    NotFound: 404,
    Forbidden: 403,
    InvalidCredentials: 401,
}


def error_response(
    status: int, *messages: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": {"body": list(messages)}}, status_code=status, headers=headers)


def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    status = next(code for kind, code in _STATUS.items() if isinstance(error, kind))
    return error_response(status, *error.messages)


def _not_authenticated(_request: Request, error: Exception) -> JSONResponse:
    return error_response(401, str(error), headers={"WWW-Authenticate": "Token"})


def _unavailable(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TemporarilyUnavailable)
    return error_response(503, str(error), headers={"Retry-After": str(error.retry_after)})


def _too_many_attempts(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TooManyAttempts)
    return error_response(429, str(error), headers={"Retry-After": str(error.retry_after)})


def _concurrent_update(_request: Request, error: Exception) -> JSONResponse:
    return error_response(409, str(error))


def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    messages = []
    for problem in error.errors():
        location = list(problem.get("loc", ()))
        if location[:1] == ["body"]:  # the body itself; a field may be called "body" too
            location = location[1:]
        where = ".".join(str(part) for part in location)
        messages.append(f"{where}: {problem.get('msg', 'is invalid')}" if where else problem["msg"])
    return error_response(422, *messages)


def _http_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    return error_response(error.status_code, str(error.detail), headers=error.headers)


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None) or new_request_id()
    log.exception("unhandled error, request id %s", request_id, exc_info=error)
    return error_response(
        500,
        f"internal error (request id {request_id})",
        headers={"X-Request-ID": request_id, **NOSNIFF},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(NotAuthenticated, _not_authenticated)
    app.add_exception_handler(TemporarilyUnavailable, _unavailable)
    app.add_exception_handler(TooManyAttempts, _too_many_attempts)
    app.add_exception_handler(ConcurrentUpdate, _concurrent_update)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
