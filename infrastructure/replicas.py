"""Read replicas: where a read-only unit of work runs, and how a client's own writes stay
visible to it.

Positions are PostgreSQL WAL positions (LSNs, as integers). ``check()``, run every
``check_seconds`` by each serving process (``api.process``, on its serving path), asks the
primary how far it has written (``pg_current_wal_lsn()``) and each replica how far it has
replayed (``pg_last_wal_replay_lsn()``). From the two it knows, for each replica, the latest
moment up to which it holds everything the primary had written: its
``visible_as_of``. A read-only unit of work then runs on a replica that

- answered the last check (one that fails a check or a connection is skipped at once, and
  checked again at the next round),
- is at most ``max_lag_seconds`` behind (``visible_as_of`` no older than that), and
- has replayed past the client's own last write, if the client sent its position,

and on the primary when none qualifies. A commit on the primary reads the primary's position
after it (one more round trip, only when replicas are configured); the api layer sends it
back to the client as a cookie that lives ``max_lag_seconds``: after that, every replica that
serves anyone has the write.
"""

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, Text, cast, event, func, select
from sqlalchemy.engine import ExceptionContext

from infrastructure.sessions import read_only_bind

log = logging.getLogger("conduit.replicas")

# A server that is not in recovery (a primary, or a replica just promoted) has replayed
# everything it holds: its own write position stands for its replay position.
_REPLAYED = select(
    cast(func.coalesce(func.pg_last_wal_replay_lsn(), func.pg_current_wal_lsn()), Text)
)
_WRITTEN = select(cast(func.pg_current_wal_lsn(), Text))
_HIGHEST = (1 << 64) - 1


def parse_position(text: str | None) -> int | None:
    """``'16/B374D848'`` (PostgreSQL's notation, also our cookie's) as an integer."""
    if not text:
        return None
    high, slash, low = text.partition("/")
    if not slash:
        return None
    try:
        position = (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None
    return position if 0 <= position < 1 << 64 else None


def format_position(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@dataclass
class ClientPosition:
    """One request's read-your-writes state: the position the client's own last write
    reached (from its cookie), and the position of a commit made by this request."""

    required: int | None = None
    committed: int | None = None

    def cookie_value(self) -> str | None:
        """What the client keeps after this request, if it wrote."""
        return None if self.committed is None else format_position(self.committed)


_client: ContextVar[ClientPosition | None] = ContextVar("conduit_client_position", default=None)


@dataclass(frozen=True)
class ClientPositions:
    """The request's side of read-your-writes (``api.middleware.ReadYourWrites``)."""

    max_lag_seconds: float

    @contextmanager
    def request(self, cookie: str | None) -> Iterator[ClientPosition]:
        """A request's block: ``cookie`` is the position the client sent back, if any."""
        client = ClientPosition(required=parse_position(cookie))
        token = _client.set(client)
        try:
            yield client
        finally:
            _client.reset(token)

    @property
    def cookie_seconds(self) -> int:
        """How long a client's position matters: after the lag bound, every replica that
        serves anyone has replayed it."""
        return int(self.max_lag_seconds) + 1


@dataclass
class _Replica:
    name: str
    engine: Engine
    healthy: bool = False
    replayed: int = -1
    visible_as_of: float = float("-inf")  # monotonic seconds


@dataclass
class Replicas:
    """The primary and its replicas, as read-only units of work choose among them."""

    primary: Engine
    replicas: list[Engine]
    max_lag_seconds: float
    check_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic  # tests pass their own
    _members: list[_Replica] = field(init=False)
    _written: "deque[tuple[float, int]]" = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._members = [
            _Replica(engine.url.render_as_string(hide_password=True), engine)
            for engine in self.replicas
        ]
        self._written = deque()
        for member in self._members:
            _skip_on_connection_errors(member)

    # -- what the unit of work asks --------------------------------------------------------

    def for_reading(self) -> Engine:
        """Where a read-only unit of work of the current request runs."""
        client = _client.get()
        required = client.required if client is not None else None
        if client is not None and client.committed is not None:
            required = max(required or 0, client.committed)  # its own write, this request
        now = self._now()
        usable = [
            member
            for member in self._members
            if member.healthy
            and now - member.visible_as_of <= self.max_lag_seconds
            and (required is None or member.replayed >= required)
        ]
        return random.choice(usable).engine if usable else self.primary

    def committed(self, connection: Connection) -> None:
        """After a commit on the primary: remember where the primary's WAL was, for the
        client (its cookie) and for the rest of this request.

        Read on ``connection``, the one that committed: a second one from the pool would
        wait for itself when every connection is in a committing unit of work. The write is
        committed whatever happens here: if the position cannot be read, the client reads
        from the primary for as long as a replica may lag (the highest position), never
        from a replica without its write.
        """
        client = _client.get()
        if client is None:
            return  # not a request (a script, a test): no client to tell
        try:
            position = parse_position(connection.scalar(_WRITTEN))
            connection.rollback()  # the read's own transaction: none is left open
        except Exception as error:
            log.warning("commit position unknown, the client reads from the primary: %s", error)
            position = None
        client.committed = max(client.committed or 0, position or _HIGHEST)

    # -- the checks ------------------------------------------------------------------------

    def check(self) -> None:
        """One round: the primary's write position, then each replica's replay position.

        Until a replica has answered one, reads go to the primary."""
        asked = self._now()
        try:
            with read_only_bind(self.primary, snapshot=False).connect() as connection:
                written = parse_position(connection.scalar(_WRITTEN))
        except Exception as error:  # the primary's own troubles are the requests' to report
            log.warning("replica check: primary position unknown: %s", error)
            written = None
        with self._lock:
            if written is not None:
                self._written.append((asked, written))
            horizon = asked - 2 * self.max_lag_seconds - 2 * self.check_seconds
            while len(self._written) > 1 and self._written[0][0] < horizon:
                self._written.popleft()
        for member in self._members:
            self._check_replica(member)

    def _check_replica(self, member: _Replica) -> None:
        try:
            with read_only_bind(member.engine, snapshot=False).connect() as connection:
                replayed = parse_position(connection.scalar(_REPLAYED))
        except Exception as error:
            if member.healthy:
                log.warning("replica %s skipped: %s", member.name, error)
            member.healthy = False
            return
        if replayed is None:
            member.healthy = False
            return
        with self._lock:
            as_of = [moment for moment, written in self._written if written <= replayed]
        member.replayed = replayed
        if as_of:
            member.visible_as_of = max(as_of)
        if not member.healthy:
            log.info("replica %s serves reads", member.name)
        member.healthy = True

    def close(self) -> None:
        for engine in self.replicas:
            engine.dispose()

    def _now(self) -> float:
        return self.clock()


def _skip_on_connection_errors(member: _Replica) -> None:
    """A replica whose connection fails is skipped at once, not at the next check: only the
    requests already on it fail."""

    @event.listens_for(member.engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if context.is_disconnect or context.connection is None:
            member.healthy = False
