"""Rate limits on the ``limits`` library: moving windows, in memory or in a shared store.

``limits`` (the engine under slowapi and Flask-Limiter) gives exact moving windows, atomic
on each storage (a lock in memory, a Lua script on Redis), and one URI setting to move the
counts from the process into Redis when several processes or hosts must share them.
"""

import hashlib
import math
import time

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.strategies import MovingWindowRateLimiter as AsyncMovingWindowRateLimiter
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from infrastructure.blocking import off_the_loop


def _seconds_until(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))


def _async_uri(storage_url: str) -> str:
    """The asynchronous driver of the same store: ``memory://`` -> ``async+memory://``."""
    return storage_url if storage_url.startswith("async+") else f"async+{storage_url}"


def _sync_uri(storage_url: str) -> str:
    return storage_url.removeprefix("async+")


class LimitsLoginAttempts:
    """The application's ``LoginAttempts`` port: at most ``limit`` attempts per account in
    any ``window_seconds``, a success wiping the account's slate.

    Accounts are stored as SHA-256 digests: a bounded key whatever was typed as the email,
    and no addresses in plain text in a shared store.
    """

    def __init__(self, storage_url: str, limit: int, window_seconds: int) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(_sync_uri(storage_url)))
        self.item: RateLimitItem = RateLimitItemPerSecond(
            limit, window_seconds, namespace="conduit-login"
        )

    def admit(self, account: str) -> int | None:
        # The store may be a network away (Redis): never waited for on the event loop.
        return off_the_loop(None, self._admit, _digest(account))

    def succeeded(self, account: str) -> None:
        off_the_loop(None, self.limiter.clear, self.item, _digest(account))

    def _admit(self, key: str) -> int | None:
        if self.limiter.hit(self.item, key):
            return None
        return _seconds_until(self.limiter.get_window_stats(self.item, key).reset_time)


def _digest(account: str) -> str:
    return hashlib.sha256(account.encode("utf-8", "surrogatepass")).hexdigest()


class AddressLimit:
    """At most ``per_minute`` requests per client address in any minute, counted without
    blocking the event loop (the asynchronous driver of the store)."""

    def __init__(self, storage_url: str, per_minute: int, scope: str) -> None:
        self.limiter = AsyncMovingWindowRateLimiter(storage_from_string(_async_uri(storage_url)))
        self.item: RateLimitItem = RateLimitItemPerMinute(per_minute, namespace=f"conduit-{scope}")

    async def admit(self, address: str) -> int | None:
        """Count a request from ``address``: ``None`` if it may go on, else the seconds to wait."""
        if await self.limiter.hit(self.item, address):
            return None
        stats = await self.limiter.get_window_stats(self.item, address)
        return _seconds_until(stats.reset_time)
