"""Fixtures for the fuzz tests: the HTTP fixtures of ``tests/api`` with its small seeded
world (``tests.routes``), and the OpenAPI document as it is served."""

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


def served_document() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves (building it touches no database)."""
    container = Container()
    container.settings.override(providers.Object(settings_for("sqlite://")))
    return create_app(container).openapi()
