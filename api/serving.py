"""How the API runs a use case: the one place that knows.

The use cases are synchronous (``with uow: ...; uow.commit()``). An endpoint is ``async`` and
calls one through ``await run_use_case(service.method, *args)``, which runs it

- in the threadpool (``SERVING=thread``; SQLite, psycopg): the thread blocks on the driver;
- or on the event loop through SQLAlchemy's greenlet bridge (``SERVING=bridge``; asyncpg):
  the same synchronous code, whose every database wait is an ``await`` on the loop.

Either way a use case, once started, runs to its end: a cancelled request (a server
shutting down, a timeout around the endpoint) does not interrupt it, so its unit of work
commits or rolls back and returns its connection as it would have. It runs as a task of its
own, awaited through ``asyncio.shield``, and the process waits for those still running
before it disposes of the engine. (A client that disconnects cancels nothing here: the
response it left is dropped.) Nothing that takes milliseconds of CPU runs in the
bridge: the password hasher hands its work to threads of its own
(``infrastructure.security.BoundedHasher``).
"""

import asyncio
import logging
from collections.abc import Callable
from contextvars import ContextVar
from functools import partial
from typing import Any, ParamSpec, TypeVar

import anyio
from sqlalchemy.util import greenlet_spawn
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("conduit.serving")
P = ParamSpec("P")
R = TypeVar("R")


class UseCaseRunner:
    """Runs use cases on one serving path (``bridged``: the greenlet bridge, else threads)."""

    def __init__(self, *, bridged: bool) -> None:
        self.bridged = bridged
        self._running: set[asyncio.Task[Any]] = set()

    async def run(self, use_case: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        task = self._start(partial(use_case, *args, **kwargs))
        # Cancelled, the request leaves here; the task runs on to the use case's end (shield
        # marks its exception, if any, as seen: the unit of work has dealt with it).
        return await asyncio.shield(task)

    async def every(self, seconds: float, work: Callable[[], object]) -> None:
        """Run ``work`` now and every ``seconds`` after, until cancelled: a serving
        process's own database work (the replicas' checks), on this path but never in a
        thread a request waits for. A round once started runs to its end, as a use case
        does; one that fails is logged, and the next runs on time."""
        own_thread = anyio.CapacityLimiter(1)
        while True:
            try:
                await asyncio.shield(self._start(work, own_thread))
            except Exception:
                log.exception("%s failed; it runs again in %s s", work, seconds)
            await asyncio.sleep(seconds)

    def _start(
        self, call: Callable[[], R], limiter: anyio.CapacityLimiter | None = None
    ) -> "asyncio.Task[R]":
        if self.bridged:
            work = greenlet_spawn(call)
        else:
            work = anyio.to_thread.run_sync(call, limiter=limiter)
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def close(self, shut_down: Callable[[], object]) -> None:
        """Let the use cases still running finish, then ``shut_down`` (which disposes of the
        engine: on the bridge, inside it)."""
        while self._running:
            await asyncio.wait(set(self._running))
        if self.bridged:
            await greenlet_spawn(shut_down)
        else:
            shut_down()


_runner: ContextVar[UseCaseRunner] = ContextVar("conduit_use_case_runner")


async def run_use_case(use_case: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``use_case(*args, **kwargs)`` as the serving app runs use cases: the one call every
    endpoint makes to reach the application."""
    return await _runner.get().run(use_case, *args, **kwargs)


class ServingPath:
    """ASGI middleware that makes ``runner`` the one ``run_use_case`` uses in this app's
    requests (tests serve apps on both paths in one process)."""

    def __init__(self, app: ASGIApp, runner: UseCaseRunner) -> None:
        self.app = app
        self.runner = runner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _runner.set(self.runner)
        try:
            await self.app(scope, receive, send)
        finally:
            _runner.reset(token)
