"""Natural batching: calls that leave for the database together, paced by the event loop.

As in DataLoader or group commit: a call that finds no batch forming for its
batch id starts one, and the batch gathers calls until some turns of the
event loop pass with none joining, or for a window at most, or until it is
full. A lone call therefore leaves within microseconds, while under load,
when calls keep coming, one batch collects many. With the most batches of
its id out that its Pacing allows, a new batch waits for one of them to
return instead. A batch that fills up stops gathering; while the cap is out
it waits its turn behind the full batches before it, so a batch id never has
more on the wire, however fast its calls come.

Under load one batch (one driver call, one pipeline, one round trip, one
commit) then answers many calls, and that per-batch cost is what bounds the
service (docs/performance.md, "Where a call's time goes"). grpc.aio hands a
worker's handlers one new call every few turns of its event loop, so calls
reach a batcher one by one: a batch that left as soon as nothing of its id
was on the wire held one or two calls under full load, and each paid a round
trip of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from cohorts.service.deadlines import seconds_remaining


@dataclass(frozen=True, slots=True)
class Pacing:
    """When a coalescer's batches leave."""

    # Batches of one batch id (a statement and scope) on the wire at once.
    max_in_flight: int
    # A batch leaves once this many turns of the event loop have passed
    # without a new call joining it: quiet_turns while it holds one call,
    # shared_quiet_turns once another has joined. grpc.aio starts one new call
    # every few turns, so under load calls keep joining; once they stop,
    # waiting longer gains nothing.
    quiet_turns: int
    shared_quiet_turns: int
    # The longest a batch gathers: under load a fraction of a call's latency,
    # and it multiplies the batch.
    window_seconds: float


class Batch:
    """Calls waiting to go out together."""

    __slots__ = ("batch_id", "joined", "leave_by", "queued", "sent")

    def __init__(self, batch_id: Hashable) -> None:
        self.batch_id = batch_id
        self.joined = 0  # calls that joined, a key asked for twice counted twice
        # When a gathering batch leaves at the latest (loop time); None for one
        # formed at the cap, which leaves when a batch on the wire returns.
        self.leave_by: float | None = None
        self.queued = False  # done gathering, waiting for a batch on the wire to return
        self.sent = False

    def size(self) -> int:
        raise NotImplementedError


B = TypeVar("B", bound=Batch)


class Coalescer(Generic[B]):
    """When batches leave, by batch id (see the module docstring)."""

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self._forming: dict[Hashable, B] = {}
        self._queued: dict[Hashable, deque[B]] = {}
        self._in_flight: dict[Hashable, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def _forming_batch(self, batch_id: Hashable, new: Callable[[], B]) -> B:
        """The batch forming for batch_id, started (and its departure planned) if none is."""
        batch = self._forming.get(batch_id)
        if batch is not None:
            return batch
        batch = new()
        self._forming[batch_id] = batch
        if self._in_flight.get(batch_id, 0) >= self.pacing.max_in_flight:
            return batch  # the first batch to come back sends it (_finished)
        loop = asyncio.get_running_loop()
        batch.leave_by = loop.time() + self.pacing.window_seconds
        loop.call_soon(self._gather, batch, 0, 0)
        return batch

    def _gather(self, batch: B, joined_before: int, quiet_turns: int) -> None:
        """Send batch once enough turns of the loop pass with no call joining it (Pacing)."""
        if batch.sent or batch.queued:
            return
        joined = batch.joined
        quiet_turns = quiet_turns + 1 if joined == joined_before else 0
        loop = asyncio.get_running_loop()
        leave_by = batch.leave_by
        assert leave_by is not None  # only gathering batches are scheduled here
        pacing = self.pacing
        enough = pacing.quiet_turns if joined < 2 else pacing.shared_quiet_turns
        if quiet_turns >= enough or loop.time() >= leave_by:
            self._send(batch)
        else:
            loop.call_soon(self._gather, batch, joined, quiet_turns)

    def _send(self, batch: B) -> None:
        """Send batch, or close it to new calls and queue it while its id's cap is out."""
        if batch.sent or batch.queued:
            return
        batch_id = batch.batch_id
        if self._forming.get(batch_id) is batch:
            del self._forming[batch_id]
        if self._in_flight.get(batch_id, 0) >= self.pacing.max_in_flight:
            batch.queued = True
            self._queued.setdefault(batch_id, deque()).append(batch)
            return
        self._launch(batch)

    def _launch(self, batch: B) -> None:
        batch.sent = True
        self._in_flight[batch.batch_id] = self._in_flight.get(batch.batch_id, 0) + 1
        task = asyncio.create_task(self._executed(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _executed(self, batch: B) -> None:
        try:
            await self._execute(batch)
        finally:
            self._finished(batch.batch_id)

    async def _execute(self, batch: B) -> None:
        raise NotImplementedError

    def _finished(self, batch_id: Hashable) -> None:
        left = self._in_flight[batch_id] - 1
        if left:
            self._in_flight[batch_id] = left
        else:
            del self._in_flight[batch_id]
        # Full batches go first, in the order they filled: they are older
        # than any batch still gathering.
        queued = self._queued.get(batch_id)
        if queued:
            next_batch = queued.popleft()
            if not queued:
                del self._queued[batch_id]
            self._launch(next_batch)
            return
        waiting = self._forming.get(batch_id)
        if waiting is not None and waiting.leave_by is None:
            self._send(waiting)


def deadline_of_caller() -> float | None:
    """The current request's deadline (monotonic), or None without one."""
    left = seconds_remaining()
    return None if left is None else time.monotonic() + left


def remaining(deadline: float | None) -> float | None:
    """Seconds left before deadline (monotonic), or None without one."""
    return None if deadline is None else deadline - time.monotonic()


def fail(future: asyncio.Future[Any], error: BaseException) -> None:
    """Tell a waiting caller of error (a cancellation cancels it), unless it has its answer."""
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)
