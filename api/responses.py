"""Responses serialised once, by pydantic's Rust core, straight to bytes.

Endpoints declare ``response_model`` for the OpenAPI document but return these, so FastAPI
does not validate and serialise the same data a second time.
"""

from fastapi import Response
from pydantic import BaseModel


def json_response(body: BaseModel, status_code: int = 200) -> Response:
    return Response(body.model_dump_json(), status_code=status_code, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
