"""Work that blocks (CPU for milliseconds, or I/O on a synchronous client), kept off the
event loop when a use case runs on it."""

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import ParamSpec, TypeVar

from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

P = ParamSpec("P")
R = TypeVar("R")


def off_the_loop(
    executor: Executor | None, work: Callable[P, R], *args: P.args, **kwargs: P.kwargs
) -> R:
    """``work(*args, **kwargs)``, run on ``executor`` (the loop's default one if ``None``).

    Called from a use case on the event loop (inside SQLAlchemy's greenlet bridge, as
    ``SERVING=bridge`` runs them), the use case awaits it and the loop goes on serving; on a
    thread of its own, the thread waits for it.
    """
    if in_greenlet():
        loop = asyncio.get_running_loop()
        return await_only(loop.run_in_executor(executor, lambda: work(*args, **kwargs)))
    if executor is None:
        return work(*args, **kwargs)
    return executor.submit(work, *args, **kwargs).result()
