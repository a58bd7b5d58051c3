"""Fixtures for the fuzz tests: the HTTP fixtures of ``tests/api``, a small seeded world, a
snapshot of every table to prove that a refused request wrote nothing, and the OpenAPI
document as it is served."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from dependency_injector import providers
from sqlalchemy import Engine, select

from api.app import create_app
from api.container import Container
from infrastructure.orm import metadata
from tests.api.conftest import add_comment, auth, client, container, create_article, register
from tests.conftest import settings_for

__all__ = ["add_comment", "client", "container", "create_article", "register"]

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(engine: Engine) -> Snapshot:
    """Every row of every table, in a stable order: equal snapshots mean nothing was written
    (no insert, no delete, and no update either, ``updated_at`` included)."""
    with engine.connect() as connection:
        return {
            table.name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }


@dataclass(frozen=True)
class World:
    """Two users who follow, favorite and comment on each other's articles.

    ``alice`` is the caller of the fuzzed requests; ``bob`` owns what she may not change.
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


@pytest.fixture
def world(
    client: Any,
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


# -- the OpenAPI document -------------------------------------------------------------------


def served_document() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves (building it touches no database)."""
    container = Container()
    container.settings.override(providers.Object(settings_for("sqlite://")))
    return create_app(container).openapi()
