"""Plans PostgreSQL must keep for the read side, whatever its statistics say.

A table loaded faster than autovacuum analyses it (a new deployment, a bulk import) has no
statistics, and the planner then guesses. The shapes pinned here are the ones that cost the
same with or without them.
"""

from typing import Any

import pytest
from sqlalchemy import Engine, text

from infrastructure.instrumentation import count_statements, counting_statements
from infrastructure.sessions import create_session_factory
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.factories import ArticleFactory, UserFactory

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgresql_url: str) -> str:  # the ``engine`` fixture, on PostgreSQL only
    return postgresql_url


def _nodes(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every node of an EXPLAIN (FORMAT JSON) plan, with how it hangs from its parent."""
    found = [(plan.get("Parent Relationship", ""), plan)]
    for child in plan.get("Plans", ()):
        found += _nodes(child)
    return found


def test_the_tags_in_use_are_found_by_one_probe_per_tag(engine: Engine) -> None:
    """Not a join of tags with article_tags: without statistics PostgreSQL runs that as a
    hash of every link (0.85 ms per call on the bench's 4,941 links, against 0.14 ms for
    the probes, the plan it picks anyway once statistics exist)."""
    count_statements(engine)
    uow = SqlAlchemyUnitOfWork(create_session_factory(engine))
    with uow:
        author = UserFactory()
        uow.users.add(author)
        for number in range(3):
            uow.articles.add(
                ArticleFactory(author_id=author.id, with_tags=[f"tag{number}", "shared"])
            )
        uow.commit()
    with counting_statements(record=True) as sent, uow.read_only():
        assert uow.reads.tags() == ["shared", "tag0", "tag1", "tag2"]
    assert sent.sent is not None and len(sent.sent) == 1

    with engine.connect() as connection:
        plan = connection.execute(text(f"EXPLAIN (FORMAT JSON) {sent.sent[0].sql}")).scalar_one()
    nodes = _nodes(plan[0]["Plan"])
    links = [(how, node) for how, node in nodes if node.get("Relation Name") == "article_tags"]
    assert links, nodes
    assert all(how == "SubPlan" for how, _node in links), nodes
    assert not any(
        "Join" in node["Node Type"] or node["Node Type"] == "Nested Loop" for _how, node in nodes
    ), nodes
