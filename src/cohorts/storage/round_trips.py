"""Batches of many scopes in one round trip: one connection, each its own implicit transaction.

The coalescers (storage/coalescing.py) merge the calls of one tenant and
application. Once callers are many tenants most of their batches hold one
call, and each batch paid a connection checkout, a round trip and the
wakeups on both ends of its own. SharedRoundTrips gathers the batches of
every scope (storage/batching.py, with its own Pacing) and sends them in
one libpq pipeline, each with its own scope statement and its own Sync
(storage/pipeline.py `run_segments`). Each is still an implicit transaction
of its own, under its own caller's row-level-security scope, and one
segment's error is only its own (docs/performance.md, "Batching across
tenants").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from cohorts.domain.errors import DeadlineExceeded
from cohorts.storage.batching import Batch, Coalescer, Pacing
from cohorts.storage.pipeline import Outcome, Row, Segment

# A round trip leaves at once while none is out, so a lone call never waits;
# otherwise it gathers the batches of every scope for the window, or until it
# carries ENOUGH_CALLS. Counting the event loop's turns, as a scope's batch
# does, cost more CPU than the round trips it saved (docs/performance.md,
# "Batching across tenants").
ROUND_TRIP_PACING = Pacing(
    max_in_flight=2, quiet_turns=None, shared_quiet_turns=None, window_seconds=0.003
)
# A round trip that carries this many calls leaves: a busy scope's batch
# already does, and would only wait longer for others to join it.
ENOUGH_CALLS = 8
MAX_SEGMENTS = 64

# Runs segments in one pipeline on one connection; the second argument is how
# long the least patient segment may wait for a connection (None: no deadline).
RunSegments = Callable[[list[Segment], float | None], Awaitable[list[Outcome]]]


class _Waiting:
    __slots__ = ("segment", "future", "send_by")

    def __init__(
        self, segment: Segment, future: asyncio.Future[Outcome], send_by: float | None
    ) -> None:
        self.segment = segment
        self.future = future
        self.send_by = send_by


class _RoundTrip(Batch):
    __slots__ = ("waiting",)

    def __init__(self) -> None:
        super().__init__(None)
        self.waiting: list[_Waiting] = []

    def size(self) -> int:
        return len(self.waiting)


class SharedRoundTrips(Coalescer[_RoundTrip]):
    """Sends the segments of any scopes that wait at once in one round trip."""

    def __init__(
        self,
        run: RunSegments,
        *,
        pacing: Pacing = ROUND_TRIP_PACING,
        max_segments: int = MAX_SEGMENTS,
    ) -> None:
        super().__init__(pacing)
        self._run = run
        self._max_segments = max_segments

    async def run(
        self, segment: Segment, *, send_by: float | None, calls: int = 1
    ) -> list[list[Row]]:
        """segment's rows, each statement's; its error raised.

        calls: how many callers' calls the segment carries (a scope's batch).

        send_by (time.monotonic()): a segment still waiting then fails with
        DeadlineExceeded instead of being sent. A caller cancelled while its
        segment waits takes it out; once sent, it runs to its end.
        """
        round_trip = self._forming_batch(None, _RoundTrip)
        waiting = _Waiting(segment, asyncio.get_running_loop().create_future(), send_by)
        round_trip.joined += calls
        round_trip.waiting.append(waiting)
        if round_trip.joined >= ENOUGH_CALLS or round_trip.size() >= self._max_segments:
            self._send(round_trip)
        outcome = await waiting.future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _execute(self, batch: _RoundTrip) -> None:
        now = time.monotonic()
        sending: list[_Waiting] = []
        for waiting in batch.waiting:
            if waiting.future.done():  # its caller gave up
                continue
            if waiting.send_by is not None and now >= waiting.send_by:
                waiting.future.set_exception(
                    DeadlineExceeded("the request's deadline passed before it reached storage")
                )
                continue
            sending.append(waiting)
        if not sending:
            return
        deadlines = [waiting.send_by for waiting in sending if waiting.send_by is not None]
        try:
            outcomes = await self._run(
                [waiting.segment for waiting in sending],
                min(deadlines) - now if deadlines else None,
            )
        except BaseException as error:  # every segment's caller hears of it
            for waiting in sending:
                if waiting.future.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    waiting.future.cancel()
                else:
                    waiting.future.set_exception(error)
            if not isinstance(error, Exception):
                raise
        else:
            for waiting, outcome in zip(sending, outcomes, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(outcome)
