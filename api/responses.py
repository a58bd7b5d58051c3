"""Responses serialised once, by pydantic's Rust core, straight to bytes; and the spec's
error body, built here for the exception handlers (``api.errors``) and the raw ASGI
middleware alike.

Endpoints declare ``response_model`` for the OpenAPI document but return these, so FastAPI
does not validate and serialise the same data a second time.
"""

import json
from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)


def error_body(*messages: str) -> bytes:
    """The spec's error body, ``{"errors": {"body": [...]}}``, as JSON bytes."""
    return json.dumps(
        {"errors": {"body": list(messages)}}, ensure_ascii=False, separators=(",", ":")
    ).encode()


def error_response(
    status: int, *messages: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        error_body(*messages), status_code=status, headers=headers, media_type="application/json"
    )
