"""Run a use case again when its transaction lost a race (serialization failure, deadlock).

The whole use case runs again, from a fresh ``with uow:``, so nothing of the failed attempt
is kept: its writes were rolled back, and a use case's only side effects are its writes.
"""

import functools
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from application.errors import ConcurrentUpdate, TemporarilyUnavailable
from domain import messages

ATTEMPTS = 4
BASE_DELAY_SECONDS = 0.01

P = ParamSpec("P")
R = TypeVar("R")


def retry_on_conflict(use_case: Callable[P, R]) -> Callable[P, R]:
    """Retry ``use_case`` up to ``ATTEMPTS`` times with jittered backoff, then 503."""

    @functools.wraps(use_case)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return use_case(*args, **kwargs)
            except ConcurrentUpdate as conflict:
                if attempt == ATTEMPTS:
                    raise TemporarilyUnavailable(messages.TOO_MANY_CONCURRENT_CHANGES) from conflict
                # Full jitter: racers that collided spread out instead of colliding again.
                time.sleep(random.uniform(0, BASE_DELAY_SECONDS * 2**attempt))
        raise AssertionError("unreachable")

    return run
