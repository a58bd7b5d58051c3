"""ASGI middleware: request ids, the per-request log line and metrics, admission (body first).

All pure ASGI (no BaseHTTPMiddleware), so they add no task or threadpool hop per request.
"""

import json
import logging
import random
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

import anyio
from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.responses import error_body
from domain import messages

log = logging.getLogger("conduit.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def new_request_id() -> str:
    """32 random hex digits. Unique is all a request id must be, not unpredictable: no
    system call for it (uuid4 reads os.urandom; 1.5 vs 0.3 us, and py-spy saw it)."""
    return f"{random.getrandbits(128):032x}"


def _header(scope: Scope, name: bytes) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]  # the ASGI spec's type; Scope's is Any
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


async def send_error(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    """The spec's error response, sent by middleware that answers before the app runs."""
    body = error_body(message)
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class Counted(Protocol):
    """The statements a block has sent so far."""

    @property
    def count(self) -> int: ...


# Opens a block that counts the SQL statements sent inside it; the app factory passes the
# container's (``infrastructure.instrumentation.counting_statements``).
CountingStatements = Callable[[], AbstractContextManager[Counted]]


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` if valid), echoes it on the
    response, counts its SQL statements, observes its latency by route and status, and logs
    one structured line for it."""

    def __init__(
        self,
        app: ASGIApp,
        registry: CollectorRegistry,
        log_requests: bool,
        counting_statements: CountingStatements,
    ) -> None:
        self.app = app
        self.log_requests = log_requests
        self.counting_statements = counting_statements
        self.latency = Histogram(
            "conduit_http_request_duration_seconds",
            "Time to answer a request, by route and status",
            ["method", "route", "status"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = _header(scope, b"x-request-id")
        request_id = (
            offered if offered and _VALID_REQUEST_ID.fullmatch(offered) else new_request_id()
        )
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        started = time.perf_counter()
        with self.counting_statements() as statements:
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                duration = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                self.latency.labels(scope["method"], route, str(status)).observe(duration)
                if self.log_requests:
                    log.info(
                        json.dumps(
                            {
                                "event": "request",
                                "method": scope["method"],
                                "route": route,
                                "status": status,
                                "duration_ms": round(duration * 1000, 2),
                                "sql_statements": statements.count,
                                "request_id": request_id,
                            }
                        )
                    )


class ClientPosition(Protocol):
    def cookie_value(self) -> str | None: ...


class ClientPositions(Protocol):
    """``infrastructure.replicas.ClientPositions``, as the middleware uses it."""

    @property
    def cookie_seconds(self) -> int: ...

    def request(self, cookie: str | None) -> AbstractContextManager[ClientPosition]: ...


# The cookie that carries a client's read position (the WAL position its last write reached).
POSITION_COOKIE = "conduit_position"


class ReadYourWrites:
    """With read replicas: a client's reads see its own writes. The position its last write
    reached goes back to it as a cookie (for as long as a replica may lag behind it), and
    comes in with its next requests, where the unit of work reads it
    (``infrastructure.replicas``). Installed only when replicas are configured."""

    def __init__(self, app: ASGIApp, positions: ClientPositions) -> None:
        self.app = app
        self.positions = positions
        self.attributes = f"Max-Age={positions.cookie_seconds}; Path=/; HttpOnly; SameSite=Lax"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.positions.request(_cookie(scope, POSITION_COOKIE)) as position:

            async def send_with_position(message: Message) -> None:
                if message["type"] == "http.response.start" and (value := position.cookie_value()):
                    cookie = f"{POSITION_COOKIE}={value}; {self.attributes}"
                    message["headers"] = [
                        *message.get("headers", []),
                        (b"set-cookie", cookie.encode()),
                    ]
                await send(message)

            await self.app(scope, receive, send_with_position)


def _cookie(scope: Scope, name: str) -> str | None:
    header = _header(scope, b"cookie")
    if header is None:
        return None
    for pair in header.split(";"):
        key, _, value = pair.strip().partition("=")
        if key == name:
            return value
    return None


# Marks a route whose use case hashes a password: admitted to the password lane, not the
# database lane. A route says so itself: ``openapi_extra={HASHES_PASSWORD: True}``.
HASHES_PASSWORD = "x-hashes-password"


class Admission:
    """Reads a request's whole body, then admits it to its lane, then replays the body.

    Nothing scarce is taken before the body is in: a client that sends its body slowly (or
    never) holds no slot, no thread and no connection, only its own socket, which the
    transport's body timeout closes (``api.transport``).

    - The body: over ``max_bytes`` is 413, by ``Content-Length`` before reading any of it,
      and while reading for a body sent without one (chunked).
    - The lanes, for ``/api`` requests: the routes in ``password_routes`` (their use cases
      hash a password: about a third of a second of CPU each) take a slot of the password
      lane, every other request a slot of the database lane. So a flood of logins queues
      behind its own few slots and never takes the slots the rest of the API needs. A
      request waits up to ``timeout`` seconds for a slot, then gets 503 with
      ``Retry-After``: a burst of several times the slots waits its turn, and the wait is
      bounded. The probes (outside ``/api``) never wait.

    The threadpool has one thread per slot of both lanes (``api.app``), so an admitted
    request never waits for a thread.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        slots: int,
        password_slots: int,
        password_routes: frozenset[tuple[str, str]],
        timeout: float,
        prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.too_large = messages.body_too_large(max_bytes)
        self.slots = anyio.CapacityLimiter(slots)
        self.password_slots = anyio.CapacityLimiter(password_slots)
        self.password_routes = password_routes
        self.timeout = timeout
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await send_error(send, 413, self.too_large, {})
            return
        if (length is not None and length != "0") or _header(scope, b"transfer-encoding"):
            body = await self._read_body(receive, send)
            if body is None:
                return
            receive = _replay(body, receive)
        if not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        lane = (
            self.password_slots
            if (scope["method"], scope["path"]) in self.password_routes
            else self.slots
        )
        borrower = object()
        try:
            lane.acquire_on_behalf_of_nowait(borrower)
            admitted = True
        except anyio.WouldBlock:  # only then pay for a cancel scope
            admitted = False
            with anyio.move_on_after(self.timeout):
                await lane.acquire_on_behalf_of(borrower)
                admitted = True
        if not admitted:
            await send_error(send, 503, messages.SERVICE_BUSY, {"Retry-After": "1"})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            lane.release_on_behalf_of(borrower)

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body; None if the client left first or it was too large (answered)."""
        chunks = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # gone before it sent everything: nobody to answer
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await send_error(send, 413, self.too_large, {})
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives ``body`` first, whole, then whatever the server says next
    (a disconnect, if the client leaves while the request is served)."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
