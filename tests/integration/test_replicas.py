"""Read replicas (infrastructure.replicas): read-only units of work run on a replica that is
up, within the lag bound and past the client's own last write; everything else runs on the
primary. Here the "replica" is the test database itself, seen through a second engine (a
server not in recovery counts as fully replayed), and a replica that is down is a closed
port; a real streaming replica, paused and stopped, is `make cluster`'s."""

import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from infrastructure.engine import create_db_engine
from infrastructure.replicas import (
    ClientPositions,
    Replicas,
    format_position,
    parse_position,
)
from infrastructure.sessions import create_session_factory
from infrastructure.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import settings_for
from tests.factories import UserFactory

pytestmark = pytest.mark.postgres


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/nowhere"


@pytest.fixture
def primary(postgresql_url: str) -> Iterator[Engine]:
    engine = create_db_engine(settings_for(postgresql_url))
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replicas(postgresql_url: str, primary: Engine, clock: Clock) -> Iterator[Replicas]:
    up = create_db_engine(settings_for(postgresql_url))
    down = create_db_engine(settings_for(closed_port_url(), connect_timeout_seconds=1))
    replicas = Replicas(primary, [up, down], max_lag_seconds=5, clock=clock)
    yield replicas
    replicas.close()


def read_on(replicas: Replicas, session_factory) -> Engine:  # type: ignore[no-untyped-def]
    uow = SqlAlchemyUnitOfWork(session_factory, replicas)
    with uow.read_only():
        assert uow.users.get_by_username("nobody") is None
        bind = uow.connection().engine
    # The read-only bind is a view of one of the engines: the one whose pool it shares.
    [engine] = [e for e in (replicas.primary, *replicas.replicas) if e.pool is bind.pool]
    return engine


def test_positions_read_as_postgresql_writes_them():
    assert parse_position("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert format_position(parse_position("16/B374D848") or 0) == "16/B374D848"
    for bogus in (None, "", "16", "x/1", "1/-2", "FFFFFFFFF/0"):
        assert parse_position(bogus) is None


def test_reads_go_to_a_checked_replica_and_never_to_one_that_is_down(replicas, primary):
    factory = create_session_factory(primary)
    assert read_on(replicas, factory) is primary  # nothing checked yet
    replicas.check()
    up, down = replicas.replicas
    assert {read_on(replicas, factory) for _ in range(20)} == {up}
    assert not replicas._members[1].healthy, down


def test_a_replica_beyond_the_lag_bound_is_skipped_until_it_catches_up(replicas, primary, clock):
    factory = create_session_factory(primary)
    replicas.check()
    clock.now += 6  # no check for longer than the bound: it may be behind by that much
    assert read_on(replicas, factory) is primary
    replicas.check()
    assert read_on(replicas, factory) is replicas.replicas[0]


def test_writes_stay_on_the_primary_and_tell_the_client_where_they_reached(
    replicas, primary, clock
):
    factory = create_session_factory(primary)
    replicas.check()
    with ClientPositions(max_lag_seconds=5).request(cookie=None) as client:
        uow = SqlAlchemyUnitOfWork(factory, replicas)
        with uow:
            uow.users.add(UserFactory(username="writer"))
            assert uow.connection().engine is primary
            uow.commit()
        assert client.committed is not None
        # The replica was checked before the write: this request's reads stay on the primary.
        assert read_on(replicas, factory) is primary
        replicas.check()
        assert read_on(replicas, factory) is replicas.replicas[0]


def test_a_client_ahead_of_every_replica_reads_on_the_primary(replicas, primary):
    factory = create_session_factory(primary)
    replicas.check()
    ahead = format_position(replicas._members[0].replayed + 1)
    with ClientPositions(max_lag_seconds=5).request(cookie=ahead):
        assert read_on(replicas, factory) is primary
    with ClientPositions(max_lag_seconds=5).request(cookie="garbage"):
        assert read_on(replicas, factory) is replicas.replicas[0]


def test_a_commit_whose_position_cannot_be_read_keeps_the_client_on_the_primary(replicas, primary):
    lost = primary.connect()
    lost.close()  # the connection that committed is gone before the position is read
    with ClientPositions(max_lag_seconds=5).request(cookie=None) as client:
        replicas.committed(lost)
    assert client.committed is not None
    assert all(member.replayed < client.committed for member in replicas._members)


def test_a_commit_reads_its_position_on_its_own_connection(postgresql_url, replicas):
    """The position is read on the connection that committed: a second one from the pool
    would wait for itself when every connection is in a committing unit of work (a pool of
    one here), and the client would be sent to the primary for nothing."""
    primary = create_db_engine(settings_for(postgresql_url, pool_size=1, pool_timeout=0.5))
    alone = Replicas(primary, replicas.replicas, max_lag_seconds=5)
    with ClientPositions(max_lag_seconds=5).request(cookie=None) as client:
        uow = SqlAlchemyUnitOfWork(create_session_factory(primary), alone)
        with uow:
            uow.users.add(UserFactory(username="alone"))
            uow.commit()
    with primary.connect() as connection:
        now = parse_position(
            connection.exec_driver_sql("SELECT pg_current_wal_lsn()::text").scalar()
        )
    assert client.committed is not None and now is not None
    assert client.committed <= now  # a real position, not "unknown" (the highest there is)
    assert primary.pool.checkedout() == 0
    primary.dispose()
