"""Plans PostgreSQL must keep for the read side, whatever its statistics say.

A table loaded faster than autovacuum analyses it (a new deployment, a bulk import) has no
statistics, and the planner then guesses. The shapes pinned here are the ones that cost the
same with or without them.
"""

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert, text

from application.caller import Caller
from application.read_models import ArticleList, FollowedBy
from infrastructure.instrumentation import count_statements, counting_statements
from infrastructure.orm import articles
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


def test_the_feed_reads_only_the_followed_authors_articles(engine: Engine) -> None:
    """The feed's authors as an array, not a subquery to join: without statistics
    PostgreSQL counted the feed by scanning every article against a hash of the followed
    authors (0.68 ms per call on the side-by-side's 2,000 articles, against 0.22 ms through
    the authors' index; the whole feed statement 2.2-2.9 ms against 1.3-1.5; with statistics
    both plan alike)."""
    count_statements(engine)
    uow = SqlAlchemyUnitOfWork(create_session_factory(engine))
    with uow:
        reader, author, *others = UserFactory.create_batch(12)
        for user in (reader, author, *others):
            uow.users.add(user)
        for _ in range(3):
            uow.articles.add(ArticleFactory(author_id=author.id))
        uow.users.follow(reader.id, author.id)
        uow.commit()
    # Enough articles by others to make a scan of them all the planner's worst choice (the
    # planner reads the table's size from its file while it has no statistics).
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(
            insert(articles),
            [
                {
                    "slug": f"other-{number}",
                    "title": f"Other {number}",
                    "description": "d",
                    "body": "b" * 200,
                    "author_id": others[number % len(others)].id,
                    "created_at": moment,
                    "updated_at": moment,
                }
                for number in range(2000)
            ],
        )
    caller = Caller(reader.id, reader.token_generation)
    listing = ArticleList(FollowedBy(caller), limit=20, offset=0)
    with counting_statements(record=True) as sent, uow.read_only():
        page = uow.reads.page(listing, reader.id)
    assert page.total == 3 and {view.author.username for view in page.articles} == {author.username}
    assert sent.sent is not None and len(sent.sent) == 1

    with engine.connect() as connection:
        explain = f"EXPLAIN (FORMAT JSON) {sent.sent[0].sql}"
        plan = connection.exec_driver_sql(explain, sent.sent[0].parameters).scalar_one()
    nodes = _nodes(plan[0]["Plan"])
    scans = [node["Node Type"] for _how, node in nodes if node.get("Relation Name") == "articles"]
    assert scans and "Seq Scan" not in scans, nodes
