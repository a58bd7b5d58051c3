"""The instruments of the attacks (faults/attacks.py): a probe that asks the service for a
page on a new connection every 50 ms, and raw sockets held open and quiet."""

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

PROBE_INTERVAL = 0.05
PROBE_TIMEOUT = 10.0


# -- the probe --------------------------------------------------------------------------------


@dataclass
class Sample:
    path: str
    seconds: float
    status: int | None  # None: no answer (``error`` says why)
    error: str = ""


@dataclass
class Probe:
    samples: list[Sample] = field(default_factory=list)

    def of(self, path: str) -> list[Sample]:
        return [s for s in self.samples if s.path == path]

    def median(self, path: str) -> float:
        answered = [s.seconds for s in self.of(path) if s.status is not None]
        return statistics.median(answered) if answered else float("inf")

    def worst(self, path: str) -> float:
        return max((s.seconds for s in self.of(path)), default=float("inf"))

    def all_ok(self, path: str) -> bool:
        samples = self.of(path)
        return bool(samples) and all(s.status == 200 for s in samples)

    def describe(self, path: str) -> str:
        counts = Counter(str(s.status or s.error) for s in self.of(path))
        statuses = ", ".join(f"{k} x {v}" for k, v in counts.most_common())
        return (
            f"{path} median {ms(self.median(path))}, max {ms(self.worst(path))}; "
            f"{statuses or 'no samples'}"
        )

    def answered(self, path: str, worst: float) -> bool:
        """Every probe got an answer within ``worst`` seconds, and the last one was 200."""
        samples = self.of(path)
        return (
            bool(samples)
            and all(s.status is not None for s in samples)
            and self.worst(path) < worst
            and samples[-1].status == 200
        )

    def healthy(self, path: str, median: float, worst: float) -> bool:
        return self.all_ok(path) and self.median(path) < median and self.worst(path) < worst


def ms(seconds: float) -> str:
    return "-" if seconds == float("inf") else f"{seconds * 1000:.0f} ms"


async def _probe(base_url: str, path: str, stop: asyncio.Event, probe: Probe) -> None:
    # A new connection per request: what a new visitor or a health check meets.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=PROBE_TIMEOUT, limits=limits) as c:
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, error = (await c.get(path)).status_code, ""
            except httpx.HTTPError as exc:
                status, error = None, type(exc).__name__
            probe.samples.append(Sample(path, time.monotonic() - started, status, error))
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_INTERVAL)


@asynccontextmanager
async def probing(base_url: str, *paths: str) -> AsyncIterator[Probe]:
    """Probe ``paths`` for as long as the block runs."""
    probe, stop = Probe(), asyncio.Event()
    tasks = [asyncio.create_task(_probe(base_url, path, stop, probe)) for path in paths]
    try:
        yield probe
    finally:
        stop.set()
        await asyncio.gather(*tasks)


# -- raw sockets ------------------------------------------------------------------------------


@dataclass
class Target:
    base_url: str

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.base_url).port or 80


@dataclass
class Held:
    """A socket we opened and keep quiet on; ``closed_at``: when the server ended it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    opened_at: float
    watcher: "asyncio.Task[float]"

    @property
    def closed_after(self) -> float | None:
        return self.watcher.result() - self.opened_at if self.watcher.done() else None


async def _until_closed(reader: asyncio.StreamReader) -> float:
    """The moment the server closes the connection (whatever it answered first)."""
    try:
        while await reader.read(65536):
            pass
    except OSError:
        pass
    return time.monotonic()


async def hold_socket(target: Target, preamble: bytes) -> Held:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(target.host, target.port), PROBE_TIMEOUT
    )
    opened = time.monotonic()
    if preamble:
        writer.write(preamble)
        await writer.drain()
    return Held(reader, writer, opened, asyncio.create_task(_until_closed(reader)))


def release(held: list[Held]) -> None:
    for h in held:
        h.watcher.cancel()
        h.writer.transport.abort()


def slow_body(host: str) -> bytes:
    return (
        f"POST /api/articles HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        "Content-Length: 50\r\n\r\n{"
    ).encode()


def idle_kinds(host: str) -> dict[str, bytes]:
    return {
        "nothing": b"",
        "partial headers": f"GET /api/tags HTTP/1.1\r\nHost: {host}\r\nAccept: ".encode(),
        "partial body": slow_body(host),
        "keep-alive": f"GET /health/live HTTP/1.1\r\nHost: {host}\r\n\r\n".encode(),
    }
