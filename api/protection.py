"""ASGI middleware against abusive clients: a rate limit per client address on the
password endpoints, and headers that keep browsers and caches from misusing responses.

Pure ASGI, as in ``api.middleware``: no task or threadpool hop per request.
"""

import ipaddress
from typing import Protocol

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import send_error
from domain import messages


class RequestsPerAddress(Protocol):
    """Counts requests per client address (``infrastructure.rate_limits.AddressLimit``)."""

    async def admit(self, address: str) -> int | None:
        """``None`` if this request is within the limit, else the seconds to wait."""
        ...


def client_key(host: str) -> str:
    """What the limit counts by: an IPv4 address, or an IPv6 address's /64 (the block one
    host or household gets; counting each address would give it 2**64 allowances)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an address (a test client, a unix socket's peer name)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


# Marks a route limited per client address (registration and login: each costs a password
# hash, and login is where guessing happens): ``openapi_extra={LIMITED_PER_ADDRESS: True}``.
LIMITED_PER_ADDRESS = "x-limited-per-address"


class AddressRateLimit:
    """At most ``limit`` requests per client address to ``routes``; beyond it 429 with
    ``Retry-After``, before the body is read or anything else is taken.

    The address is the one uvicorn puts in ``scope["client"]``: the peer's, or behind a
    proxy the ``X-Forwarded-For`` one, when the proxy's address is in FORWARDED_ALLOW_IPS
    (uvicorn's proxy headers; its default trusts 127.0.0.1 only).
    """

    def __init__(
        self, app: ASGIApp, limit: RequestsPerAddress, routes: frozenset[tuple[str, str]]
    ) -> None:
        self.app = app
        self.limit = limit
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in self.routes:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        retry_after = await self.limit.admit(client_key(client[0]) if client else "unknown")
        if retry_after is not None:
            await send_error(
                send,
                429,
                messages.TOO_MANY_FROM_ADDRESS,
                {"Retry-After": str(retry_after)},
            )
            return
        await self.app(scope, receive, send)


NOSNIFF = {"X-Content-Type-Options": "nosniff"}
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_NO_STORE = (b"cache-control", b"no-store")


def carries_a_token(path: str) -> bool:
    """Registration, login and the current user (GET and PUT) answer with the caller's token;
    no other endpoint does."""
    return path == "/api/user" or path.startswith("/api/users")


class SecurityHeaders:
    """``X-Content-Type-Options: nosniff`` on every response (a browser never runs a JSON
    body as a script or page), and ``Cache-Control: no-store`` on those that carry a token,
    so no browser, proxy or shared cache keeps one.

    A 500 is sent by Starlette's outermost layer, around this one: its handler adds
    ``NOSNIFF`` itself (``api.errors``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [_NOSNIFF, _NO_STORE] if carries_a_token(scope["path"]) else [_NOSNIFF]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
