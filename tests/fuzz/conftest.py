"""Fixtures for the fuzz tests: the HTTP fixtures of ``tests/api`` with its small seeded
world (``tests.routes``), and the OpenAPI document as it is served and as it should read."""

import copy
from typing import Any

from dependency_injector import providers

from api.app import create_app
from api.container import Container
from tests.api.conftest import add_comment, client, container, create_article, register, world
from tests.conftest import settings_for
from tests.routes import Snapshot, World, snapshot

__all__ = [
    "Snapshot",
    "World",
    "add_comment",
    "client",
    "container",
    "create_article",
    "register",
    "snapshot",
    "world",
]

# -- the OpenAPI document -------------------------------------------------------------------

GENERIC_ERROR = {
    "title": "GenericErrorModel",
    "type": "object",
    "required": ["errors"],
    "properties": {
        "errors": {
            "type": "object",
            "required": ["body"],
            "properties": {"body": {"type": "array", "items": {"type": "string"}}},
        }
    },
}

# Who may get 403: only the author changes an article or deletes a comment; nobody follows
# themselves.
_FORBIDDEN = {
    ("put", "/api/articles/{slug}"),
    ("delete", "/api/articles/{slug}"),
    ("delete", "/api/articles/{slug}/comments/{comment_id}"),
    ("post", "/api/profiles/{username}/follow"),
}


def served_document() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves (building it touches no database)."""
    container = Container()
    container.settings.override(providers.Object(settings_for("sqlite://")))
    return create_app(container).openapi()


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> dict[str, str]:
    """The error responses an operation of this app can give, with why."""
    if not path.startswith("/api/"):
        return {}
    statuses = {"503": "The service is busy or the database unreachable; retry."}
    if operation.get("parameters") or "requestBody" in operation:
        statuses["422"] = "A value is invalid."
    if "requestBody" in operation:
        statuses["400"] = "The body is not JSON (malformed, not UTF-8, nested too deeply)."
        statuses["413"] = "The body is larger than MAX_BODY_BYTES."
    if operation.get("security") or path == "/api/users/login":
        statuses["401"] = "Wrong credentials, or an invalid or expired token."
    if "{" in path:
        statuses["404"] = "What the path names does not exist."
    if (method, path) in _FORBIDDEN:
        statuses["403"] = "Only the author may do this."
    if method != "get":
        statuses["409"] = "A concurrent request changed the same data; retry."
    return statuses


def expected_document(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every error response documented as a ``GenericErrorModel``."""
    document = copy.deepcopy(document)
    document["components"]["schemas"].setdefault("GenericErrorModel", GENERIC_ERROR)
    error = {"$ref": "#/components/schemas/GenericErrorModel"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, description in error_statuses(method, path, operation).items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": error}},
                }
    return document
