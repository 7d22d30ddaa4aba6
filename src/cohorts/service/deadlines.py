"""The current request's deadline, so storage can bound its work by it."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "cohorts_deadline", default=None
)


@contextmanager
def request_deadline(seconds_remaining: float | None) -> Iterator[None]:
    """Within this block, work must finish in seconds_remaining (None: no deadline)."""
    deadline = None if seconds_remaining is None else time.monotonic() + seconds_remaining
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def seconds_remaining() -> float | None:
    """Time left before the current request's deadline, or None without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()
