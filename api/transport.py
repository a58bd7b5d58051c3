"""The HTTP transport: uvicorn's httptools protocol, with the limits a hostile client meets.

uvicorn (0.54) times out only idle keep-alive connections: a fresh connection that sends
nothing, or part of its headers, or part of its body, stays open for ever, and httptools
takes headers of any size (accumulating a long one chunk by chunk, in time quadratic in its
size). This subclass adds, per connection:

- a header timeout: the request line and headers must arrive within
  ``header_timeout`` of the connection opening (or of the first byte of a later request);
- a body timeout: the whole body must arrive within ``body_timeout`` of the headers;
- a cap on the request line and headers together (``max_header_bytes``), counted before
  the parser sees the bytes, so refusing a huge header costs no more than reading the cap;
- a cap on open connections per worker (``max_connections``): a new connection over it
  closes the connection that has waited on its client longest (idle, or with a request
  still arriving), as nginx reuses idle keep-alive connections; only when every
  connection is waiting on the server is the new one refused (503, closed at once). So
  sockets held open by one client cannot lock the others out, and cannot exhaust the file
  descriptors either.

A client over a limit gets 408 or 431 and the connection is closed (one that sent nothing
is just closed). Idle
keep-alive connections are uvicorn's own ``timeout_keep_alive``. The timers cost nothing
for a request that arrives in one piece: the header timer is armed once per connection,
and a timer is armed again only when a request arrives in parts.

Settings reach the protocol as a ``functools.partial`` (``uvicorn_options``), which
pickles, so worker processes started by ``--workers`` get them too.
"""

import asyncio
import resource
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from api.responses import error_body
from domain import messages

# After refusing a request that is still arriving, read and drop what the client sends for
# this long before closing, so that it reads our answer instead of a connection reset.
LINGER_SECONDS = 2.0

# The connections waiting on their client (new, between requests, or with a request still
# arriving), the longest waiting first: the ones to close when the cap is reached. One
# uvicorn server per process (each worker process has its own).
_waiting_on_client: dict["GuardedHttpToolsProtocol", None] = {}


class TransportSettings(Protocol):
    """The settings the transport reads (``infrastructure.settings.Settings`` has them):
    named here, so that the api layer needs no import of the infrastructure."""

    @property
    def header_timeout_seconds(self) -> float: ...
    @property
    def body_timeout_seconds(self) -> float: ...
    @property
    def keepalive_timeout_seconds(self) -> float: ...
    @property
    def max_header_bytes(self) -> int: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def pool_size(self) -> int: ...
    @property
    def pool_max_overflow(self) -> int: ...


@dataclass(frozen=True)
class TransportLimits:
    header_timeout: float
    body_timeout: float
    max_header_bytes: int
    max_connections: int

    @classmethod
    def of(cls, settings: TransportSettings) -> "TransportLimits":
        return cls(
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
            max_header_bytes=settings.max_header_bytes,
            max_connections=settings.max_connections,
        )


def uvicorn_options(settings: TransportSettings) -> dict[str, Any]:
    """The server stack, as ``conduit serve`` runs it (bench/ceiling.py uses the same).

    No access log: our own line per request replaces it (api.middleware). No ``server``
    header: it told every client which server, and which version, to aim at.
    """
    return {
        "loop": "auto",
        "http": partial(GuardedHttpToolsProtocol, limits=TransportLimits.of(settings)),
        "access_log": False,
        "server_header": False,
        "ws": "none",  # no WebSocket endpoints: no upgrades to take
        "timeout_keep_alive": settings.keepalive_timeout_seconds,
    }


def allow_open_files(settings: TransportSettings) -> str | None:
    """Raise the open-file limit (worker processes inherit it) to what ``MAX_CONNECTIONS``
    needs, as far as the hard limit allows; a warning if that is not enough.

    At the limit the server cannot accept at all, not even a probe: the connection cap must
    be reached first, so that the connections over it are refused and closed.
    """
    needed = settings.max_connections + settings.pool_size + settings.pool_max_overflow + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return None
    allowed = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
    if allowed < needed:
        return (
            f"the open-file limit is {allowed}, less than the {needed} that MAX_CONNECTIONS "
            f"({settings.max_connections}) needs; lower MAX_CONNECTIONS or raise the limit"
        )
    return None


def _response(status: int, message: str) -> bytes:
    body = error_body(message)
    head = [
        STATUS_LINE[status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
    ]
    if status == 503:
        head.append(b"retry-after: 1\r\n")
    head.append(b"connection: close\r\n\r\n")
    return b"".join(head) + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body timeouts, a header size cap and a
    connection cap (see the module's docstring)."""

    def __init__(self, *args: Any, limits: TransportLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        # Bytes of the current request's line and headers fed to the parser so far; None
        # while its body is being read.
        self._head_bytes: int | None = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    # -- connection -------------------------------------------------------------------

    # The ignore: asyncio types the argument BaseTransport, but a stream server always hands
    # its protocols a Transport (uvicorn's own override narrows it, and ignores, the same way).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not _make_room():
            # Closed at once, not lingering: a flood of connections must not hold sockets.
            self._refused = True
            transport.write(_response(503, messages.TOO_MANY_CONNECTIONS))
            transport.close()
            return
        _waiting_on_client[self] = None
        self._deadline = self.loop.call_later(self.limits.header_timeout, self._expire)

    def connection_lost(self, exc: Exception | None) -> None:
        _waiting_on_client.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # the next request is complete: our turn again
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            _waiting_on_client[self] = None  # the newest: last to be closed for room

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: drop it
        while data:
            if self._head_bytes is None:  # a body: no cap here (MAX_BODY_BYTES is the app's)
                super().data_received(data)
                break
            room = self.limits.max_header_bytes - self._head_bytes
            if room <= 0:
                self._refuse(431, messages.HEADERS_TOO_LARGE)
                return
            head, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
            self._head_bytes += len(head)
            super().data_received(head)
            if self.transport.is_closing():
                return
        if self._deadline is None:
            if self._head_bytes is None:
                self._deadline = self.loop.call_later(self.limits.body_timeout, self._expire)
            elif self._head_bytes:  # part of the next request's headers
                self._deadline = self.loop.call_later(self.limits.header_timeout, self._expire)

    # -- parser callbacks ------------------------------------------------------------

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_bytes = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        _waiting_on_client.pop(self, None)  # the server's turn
        self._disarm()
        self._head_bytes = 0
        super().on_message_complete()

    # -- limits -----------------------------------------------------------------------

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        answered = (
            self._head_bytes is None and self.cycle is not None and self.cycle.response_started
        )
        if self._head_bytes == 0 or answered:
            self.transport.close()  # nothing of a request arrived, or it was answered already
        else:
            self._refuse(408, messages.REQUEST_TOO_SLOW)

    def _drop(self) -> None:
        """Close at once: room for a new connection."""
        _waiting_on_client.pop(self, None)
        self._disarm()
        self._refused = True
        self._abandon_request()
        self.transport.close()

    def _abandon_request(self) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # Its application task (reading the body, or waiting for it) sees a disconnect,
            # and anything it answers goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` in place of the request still arriving, then close."""
        self._disarm()
        self._abandon_request()
        self._refused = True
        self.transport.write(_response(status, message))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)


def _make_room() -> bool:
    """Close the connection that has waited on its client longest, if there is one."""
    oldest = next(iter(_waiting_on_client), None)
    if oldest is None:
        return False
    oldest._drop()
    return True
