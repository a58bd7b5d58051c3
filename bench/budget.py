"""Where the CPU of one article-page request goes, measured in-process, layer by layer.

    .venv/bin/python bench/budget.py            # after `make bench` (its seeded database)
    BENCH_DATABASE_URL=... .venv/bin/python bench/budget.py --iterations 2000

For the list (authenticated as ``user0``) and the feed it times, in CPU time of this
process (``time.process_time``, so other processes' noise hardly matters), one after
the other:

- the whole service call (``ArticleService.search`` / ``feed``: unit of work, statements
  built and executed, read models built);
- the same SQL statements (captured from one call) executed again as prebuilt objects
  through a ``Session``, through a Core ``Connection``, and as plain SQL through
  psycopg: the differences are what statement building, the ORM session and SQLAlchemy's
  execution layer each cost, and the last is the driver's floor;
- the response model and its serialisation (``api.schemas``, ``api.responses``);
- the token check.

It complements the table of ``bench/run.py`` (CPU per request from ``/proc``, which
includes the HTTP side) and py-spy, whose thread attribution is unreliable here.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/conduit_bench"


def cpu_ms(work: Callable[[], Any], iterations: int) -> float:
    for _ in range(max(iterations // 10, 20)):
        work()
    started = time.process_time()
    for _ in range(iterations):
        work()
    return (time.process_time() - started) / iterations * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("JWT_SECRET", "a-secret-only-for-measuring-the-token-check-cost")

    import psycopg
    from sqlalchemy import select
    from sqlalchemy.engine import make_url

    from api.container import Container
    from api.responses import json_response
    from api.schemas import MultipleArticlesResponse
    from application.caller import Caller
    from application.read_models import ArticleFilter
    from infrastructure.orm import users

    container = Container()
    engine = container.engine()
    sessions = container.session_factory()
    with engine.connect() as connection:
        viewer = connection.scalar(select(users.c.id).where(users.c.username == "user0"))
    if viewer is None:
        sys.exit("budget: no user0 here; run `make bench` (or `conduit seed`) first")
    tokens = container.tokens()
    caller = Caller(viewer, token_generation=0)  # seeded users never changed their password
    token = tokens.issue(caller)
    first_page = ArticleFilter(tag=None, author=None, favorited_by=None, limit=20, offset=0)
    calls = {
        "list (authenticated)": lambda: container.article_service().search(first_page, viewer),
        "feed": lambda: container.article_service().feed(caller, 20, 0),
    }
    url = make_url(os.environ["DATABASE_URL"]).set(drivername="postgresql")
    raw = psycopg.connect(url.render_as_string(hide_password=False))
    n = args.iterations

    for name, call in calls.items():
        page, statements, sql = capture_statements(engine, call)

        def prebuilt_session(statements: list[Any] = statements) -> None:
            with sessions() as session:
                for statement, params in statements:
                    session.execute(statement.element, params).all()
                session.rollback()

        def prebuilt_core(statements: list[Any] = statements) -> None:
            with engine.connect() as connection:
                for statement, params in statements:
                    connection.execute(statement.element, params).all()
                connection.rollback()

        def prebuilt_lean(statements: list[Any] = statements) -> None:
            with engine.connect() as connection:
                for statement, params in statements:
                    statement.rows(connection, params)
                connection.rollback()

        def plain_psycopg(sql: list[Any] = sql) -> None:
            with raw.cursor() as cursor:
                for query, params in sql:
                    cursor.execute(query, params)
                    cursor.fetchall()
            raw.rollback()

        def response_model(page: Any = page) -> Any:
            return MultipleArticlesResponse.of(page)

        model = response_model()
        rows = [
            ("whole service call", cpu_ms(call, n)),
            (
                f"its {len(statements)} statements prebuilt, via a Session",
                cpu_ms(prebuilt_session, n),
            ),
            ("  ... via a Core Connection", cpu_ms(prebuilt_core, n)),
            ("  ... as Statements on the driver (the service's way)", cpu_ms(prebuilt_lean, n)),
            ("  ... as plain SQL via psycopg (the driver's floor)", cpu_ms(plain_psycopg, n)),
            ("response model (MultipleArticlesResponse.of)", cpu_ms(response_model, n)),
            ("serialisation (json_response)", cpu_ms(lambda model=model: json_response(model), n)),
            ("token check (JwtTokenService.verify)", cpu_ms(lambda: tokens.verify(token), n)),
        ]
        print(f"\n{name}: CPU per call in ms (rerun to see the spread)")
        for label, value in rows:
            print(f"  {value:7.3f}  {label}")
        whole, session, core, lean, floor = (value for _label, value in rows[:5])
        print(
            f"  => the service call over its Statements {whole - lean:.3f}, "
            f"Statements over psycopg {lean - floor:.3f}, psycopg {floor:.3f}; "
            f"SQLAlchemy's execution over psycopg would be {core - floor:.3f} "
            f"(+ a Session {session - core:.3f})"
        )
    raw.close()
    engine.dispose()


def capture_statements(engine: Any, call: Callable[[], Any]) -> tuple[Any, list[Any], list[Any]]:
    """The call's result, the prebuilt statements (``infrastructure.statements.Statement``)
    it executed with their parameters, and the SQL and parameters that reached the driver,
    as the app's own statement counter saw them (the container's engine counts its
    statements; pings, BEGIN and ROLLBACK are not statements here). bench/ceiling.py's
    layers use it too. The parameters are the driver's: on psycopg, by name, as given."""
    from sqlalchemy import event

    from infrastructure.instrumentation import counting_statements
    from infrastructure.statements import Execution

    statements: list[Any] = []

    def capture(_conn: Any, _cursor: Any, _sql: Any, params: Any, context: Any, _many: Any) -> None:
        if isinstance(context, Execution):
            # psycopg's are by name (as given); asyncpg's by position.
            given = dict(params) if isinstance(params, dict) else params
            statements.append((context.statement, given))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with counting_statements(record=True) as sent:
            result = call()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return result, statements, list(sent.sent or ())


if __name__ == "__main__":
    main()
