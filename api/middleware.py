"""ASGI middleware: request ids, the per-request log line and metrics, body size, admission.

All pure ASGI (no BaseHTTPMiddleware), so they add no task or threadpool hop per request.
"""

import json
import logging
import random
import re
import time

import anyio
from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infrastructure.instrumentation import counting_statements

log = logging.getLogger("conduit.request")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def new_request_id() -> str:
    """32 random hex digits. Unique is all a request id must be, not unpredictable: no
    system call for it (uuid4 reads os.urandom; 1.5 vs 0.3 us, and py-spy saw it)."""
    return f"{random.getrandbits(128):032x}"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _send_error(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"errors": {"body": [message]}}).encode()
    raw_headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class RequestContext:
    """Gives every request an id (the client's ``X-Request-ID`` if valid), echoes it on the
    response, counts its SQL statements, observes its latency by route and status, and logs
    one structured line for it."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry, log_requests: bool) -> None:
        self.app = app
        self.log_requests = log_requests
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
        with counting_statements() as statements:
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
                                "sql_statements": statements[0],
                                "request_id": request_id,
                            }
                        )
                    )


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413: by ``Content-Length`` before reading any of
    it, and while reading for bodies sent without one (chunked)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.message = f"request body is larger than {max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _send_error(send, 413, self.message, {})
            return
        received = 0
        too_large = started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            if too_large:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # Stop reading: to the app the client is gone. Its answer is dropped below.
                too_large = True
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await _send_error(send, 413, self.message, {})


class AdmissionLimit:
    """At most ``slots`` API requests in flight; the rest wait up to ``timeout`` seconds for
    a slot, then get 503 with ``Retry-After``.

    The threadpool has as many threads as the pool has connections (see ``api.app``), so a
    request that got a slot never waits long for a thread or a connection, and a burst
    beyond capacity is answered quickly instead of queueing without bound.
    """

    def __init__(self, app: ASGIApp, slots: int, timeout: float, prefix: str = "/api/") -> None:
        self.app = app
        self.slots = anyio.CapacityLimiter(slots)
        self.timeout = timeout
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        borrower = object()
        try:
            self.slots.acquire_on_behalf_of_nowait(borrower)
            admitted = True
        except anyio.WouldBlock:  # only then pay for a cancel scope
            admitted = False
            with anyio.move_on_after(self.timeout):
                await self.slots.acquire_on_behalf_of(borrower)
                admitted = True
        if not admitted:
            await _send_error(send, 503, "the service is busy; please retry", {"Retry-After": "1"})
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release_on_behalf_of(borrower)
