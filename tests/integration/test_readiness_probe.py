"""The readiness probe: one connection kept and reused, answers reused for about a second,
a dead database reported, a restarted one found again."""

from collections.abc import Iterator

import pytest
from sqlalchemy import event, text

from infrastructure.instrumentation import count_statements, counting_statements
from infrastructure.readiness import DatabaseUnreachable, ReadinessProbe
from tests.conftest import settings_for
from tests.integration.test_database_faults import UNREACHABLE_PG, _terminate


class StoppedClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> StoppedClock:
    return StoppedClock()


@pytest.fixture
def probe(database_url: str, clock: StoppedClock) -> Iterator[ReadinessProbe]:
    probe = ReadinessProbe(settings_for(database_url), clock=clock)
    yield probe
    probe.close()


def _count(probe: ReadinessProbe, event_name: str) -> list[object]:
    seen: list[object] = []
    event.listen(probe.engine, event_name, lambda *args: seen.append(args[0]))
    return seen


def test_probes_reuse_one_connection(probe: ReadinessProbe, clock: StoppedClock) -> None:
    connections = _count(probe, "connect")
    for _ in range(20):
        probe.check()
        clock.now += 5  # every probe asks the database: nothing reused from a cache

    assert len(connections) == 1


def test_an_answer_is_reused_for_about_a_second(probe: ReadinessProbe, clock: StoppedClock) -> None:
    count_statements(probe.engine)
    with counting_statements() as statements:
        for _ in range(20):
            probe.check()
            clock.now += 0.01
        assert statements.count == 1

        clock.now += 1
        probe.check()
        assert statements.count == 2


def test_an_unreachable_database_is_reported(clock: StoppedClock) -> None:
    probe = ReadinessProbe(settings_for(UNREACHABLE_PG), clock=clock)
    for _ in range(2):
        with pytest.raises(DatabaseUnreachable):
            probe.check()
        clock.now += 5
    probe.close()


@pytest.mark.postgres
def test_a_kept_connection_that_died_is_replaced_without_a_failed_probe(
    postgresql_url: str, clock: StoppedClock
) -> None:
    probe = ReadinessProbe(settings_for(postgresql_url), clock=clock)
    probe.check()
    with probe.engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    _terminate(postgresql_url, pid)  # as a database restart would
    clock.now += 5

    probe.check()

    probe.close()


def test_a_recent_answer_is_known_without_asking(
    probe: ReadinessProbe, clock: StoppedClock
) -> None:
    assert probe.recent() is None  # never asked
    probe.check()
    count_statements(probe.engine)

    with counting_statements() as statements:
        assert probe.recent() is True
        clock.now += 1
        assert probe.recent() is None
    assert statements.count == 0


def test_a_recent_failure_is_known_without_asking(clock: StoppedClock) -> None:
    probe = ReadinessProbe(settings_for(UNREACHABLE_PG), clock=clock)
    with pytest.raises(DatabaseUnreachable):
        probe.check()

    assert probe.recent() is False
    probe.close()
