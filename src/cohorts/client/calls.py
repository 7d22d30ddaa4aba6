"""What every call carries: a deadline, the bearer token, and when a failure may be retried."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import Message
from learning.v1 import cohort_service_pb2

from cohorts.client.errors import CohortError, Unavailable

TokenProvider = Callable[[], str]
Metadata = tuple[tuple[str, str], ...]

AUTHORIZATION_HEADER = "authorization"
USER_AGENT = "cohorts-client-python/1.0"
CHANNEL_OPTIONS = (("grpc.primary_user_agent", USER_AGENT),)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter, so retrying clients do not stampede together.

    https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
    """

    initial_seconds: float = 0.1
    max_seconds: float = 5.0
    multiplier: float = 2.0

    def delay(self, retries_done: int) -> float:
        """Seconds to wait before retry number retries_done + 1."""
        ceiling = min(self.max_seconds, self.initial_seconds * self.multiplier**retries_done)
        return random.uniform(0.0, ceiling)


class Deadline:
    """The instant a logical call (every attempt and wait included) must finish by."""

    def __init__(self, timeout: float) -> None:
        self._expires = time.monotonic() + timeout

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._expires - time.monotonic())


def is_retry_safe(request: Message) -> bool:
    """Whether resending request cannot do anything twice: reads, and creates with a request_id."""
    if isinstance(
        request, cohort_service_pb2.GetCohortRequest | cohort_service_pb2.ListCohortsRequest
    ):
        return True
    return isinstance(request, cohort_service_pb2.CreateCohortRequest) and bool(request.request_id)


class CallPolicy:
    """Token, deadline and retry settings shared by every call of one client."""

    def __init__(
        self,
        *,
        token: str | None,
        token_provider: TokenProvider | None,
        default_timeout: float,
        retries: int,
        backoff: Backoff | None = None,
    ) -> None:
        if (token is None) == (token_provider is None):
            raise ValueError("pass exactly one of token= and token_provider=")
        if token is not None and not token:
            raise ValueError("token must not be empty")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, not {retries!r}")
        self._token = token
        self._token_provider = token_provider
        self.default_timeout = _checked_timeout(default_timeout)
        self.retries = retries
        self.backoff = backoff or Backoff()

    def metadata(self) -> Metadata:
        """Call metadata with the bearer token; token_provider is asked on every attempt."""
        token = self._token if self._token_provider is None else self._token_provider()
        return ((AUTHORIZATION_HEADER, f"Bearer {token}"),)

    def deadline(self, timeout: float | None) -> Deadline:
        """The deadline of a call given timeout, or the default one."""
        return Deadline(self.default_timeout if timeout is None else _checked_timeout(timeout))

    def retry_delay(
        self, request: Message, error: CohortError, *, retries_done: int, deadline: Deadline
    ) -> float | None:
        """Seconds to wait before sending request again, or None to raise error now."""
        if not isinstance(error, Unavailable) or retries_done >= self.retries:
            return None
        if not is_retry_safe(request):
            return None
        delay = self.backoff.delay(retries_done)
        if error.retry_delay is not None:
            delay = max(delay, error.retry_delay)  # the server's RetryInfo is a lower bound
        # Waiting past the deadline only to fail with DEADLINE_EXCEEDED hides the real error.
        return delay if delay < deadline.remaining() else None


def _checked_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, not {timeout!r}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive, finite number of seconds, not {timeout}")
    return float(timeout)
