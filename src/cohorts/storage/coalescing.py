"""Concurrent reads of single rows by key, answered by one statement per scope.

Natural batching, as in DataLoader or group commit: a read that finds no
batch forming for its statement and scope starts one. With nothing of that
scope on the wire the batch leaves once the event loop has run the calls
ready at that moment (a lone read waits for nothing); while other batches
are out it gathers for up to BATCH_WINDOW_SECONDS, or until one of them
returns when MAX_BATCHES_IN_FLIGHT are out. Under load one statement (one
driver call, one plan, one round trip) then answers many calls, and that
per-statement cost is what bounds the service (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from cohorts.domain.caller import Caller
from cohorts.service.deadlines import request_deadline, seconds_remaining

Row = tuple[Any, ...]
# Runs one statement in the caller's scope within the current request deadline
# (the last argument asks for binary-format results).
RunStatement = Callable[[Caller, str, dict[str, Any], bool], Awaitable[list[Row]]]

# Enough to keep a scope's reads moving while batches are on the wire; few
# enough that batches grow under load instead of taking every connection.
MAX_BATCHES_IN_FLIGHT = 4
# While other batches of the scope are out, a new one gathers for this long:
# under load that is a fraction of a call's time, and it multiplies the batch.
BATCH_WINDOW_SECONDS = 0.002
MAX_BATCH_KEYS = 100


class _Batch:
    """Reads waiting to go out together: one statement, one scope, many keys."""

    __slots__ = (
        "batch_id",
        "caller",
        "sql",
        "params",
        "keys_param",
        "key_index",
        "binary",
        "waiters",
        "deadline",
        "no_deadline",
        "sent",
    )

    def __init__(
        self,
        batch_id: Hashable,
        caller: Caller,
        sql: str,
        params: dict[str, Any],
        keys_param: str,
        key_index: int,
        binary: bool,
    ) -> None:
        self.batch_id = batch_id
        self.caller = caller
        self.sql = sql
        self.params = params
        self.keys_param = keys_param
        self.key_index = key_index
        self.binary = binary
        self.waiters: dict[Hashable, list[asyncio.Future[Row | None]]] = {}
        self.deadline = 0.0  # the latest of its callers' deadlines (monotonic)
        self.no_deadline = False
        self.sent = False

    def join(self, key: Hashable, future: asyncio.Future[Row | None]) -> None:
        self.waiters.setdefault(key, []).append(future)
        remaining = seconds_remaining()
        if remaining is None:
            self.no_deadline = True
        else:
            self.deadline = max(self.deadline, time.monotonic() + remaining)

    def seconds_remaining(self) -> float | None:
        # The statement serves its most patient caller; the others stop
        # waiting at their own deadlines and the rows they asked for are dropped.
        return None if self.no_deadline else self.deadline - time.monotonic()

    def resolve(self, rows: list[Row]) -> None:
        found = {row[self.key_index]: row for row in rows}
        for key, futures in self.waiters.items():
            row = found.get(key)
            for future in futures:
                if not future.done():
                    future.set_result(row)

    def fail(self, error: BaseException) -> None:
        for futures in self.waiters.values():
            for future in futures:
                if future.done():
                    continue
                if isinstance(error, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(error)


class KeyedReads:
    """Coalesces concurrent `WHERE key = ANY(keys)` reads of the same statement and scope."""

    def __init__(self, run: RunStatement) -> None:
        self._run = run
        self._forming: dict[Hashable, _Batch] = {}
        self._in_flight: dict[Hashable, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def read(
        self,
        caller: Caller,
        sql: str,
        params: dict[str, Any],
        *,
        keys_param: str,
        key: Hashable,
        key_index: int,
        binary: bool = False,
    ) -> Row | None:
        """The row whose column key_index equals key, or None.

        Reads share a statement only when sql, params, the result format and
        the caller's scope are all the same; each read's key joins the
        statement's key list.
        """
        # The scope is in the key even though params carry it: a statement's
        # row-level-security setting is its caller's, so scopes never mix.
        batch_id = (
            sql,
            keys_param,
            key_index,
            binary,
            caller.tenant_id,
            caller.app_id,
            *params.items(),
        )
        loop = asyncio.get_running_loop()
        batch = self._forming.get(batch_id)
        if batch is None:
            batch = _Batch(batch_id, caller, sql, params, keys_param, key_index, binary)
            self._forming[batch_id] = batch
            in_flight = self._in_flight.get(batch_id, 0)
            if in_flight == 0:
                # Nothing of this scope is on the wire: go as soon as the calls
                # ready now have joined, so a lone read waits for nothing.
                loop.call_soon(self._send, batch)
            elif in_flight < MAX_BATCHES_IN_FLIGHT:
                loop.call_later(BATCH_WINDOW_SECONDS, self._send, batch)
            # else: the first batch to come back sends this one (_finished).
        future: asyncio.Future[Row | None] = loop.create_future()
        batch.join(key, future)
        if len(batch.waiters) >= MAX_BATCH_KEYS:
            self._send(batch)
        return await future

    def _send(self, batch: _Batch) -> None:
        if batch.sent:
            return
        batch.sent = True
        if self._forming.get(batch.batch_id) is batch:
            del self._forming[batch.batch_id]
        self._in_flight[batch.batch_id] = self._in_flight.get(batch.batch_id, 0) + 1
        task = asyncio.create_task(self._execute(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: _Batch) -> None:
        try:
            params = {**batch.params, batch.keys_param: list(batch.waiters)}
            with request_deadline(batch.seconds_remaining()):
                rows = await self._run(batch.caller, batch.sql, params, batch.binary)
        except BaseException as error:  # every waiter hears of it; nothing is retried here
            batch.fail(error)
            if not isinstance(error, Exception):
                raise
        else:
            batch.resolve(rows)
        finally:
            self._finished(batch.batch_id)

    def _finished(self, batch_id: Hashable) -> None:
        left = self._in_flight[batch_id] - 1
        if left:
            self._in_flight[batch_id] = left
        else:
            del self._in_flight[batch_id]
        waiting = self._forming.get(batch_id)
        if waiting is not None:
            self._send(waiting)
