"""Concurrent reads of single rows by key of one scope, answered by one statement.

Concurrent GetCohorts of one tenant and application become one
`key = ANY(keys)` statement (docs/performance.md, "Batching reads and writes
per scope"), batched as storage/batching.py paces them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

from cohorts.domain.caller import Caller
from cohorts.service.deadlines import request_deadline
from cohorts.storage.batching import Batch, Coalescer, Pacing, deadline_of_caller, fail, remaining
from cohorts.storage.coalescing import READ_PACING, Row

MAX_BATCH_KEYS = 100
# Runs one statement in the caller's scope within the current request deadline
# (the last argument asks for binary-format results).
RunStatement = Callable[[Caller, str, dict[str, Any], bool], Awaitable[list[Row]]]


class _ReadBatch(Batch):
    """Reads of one statement and scope: many keys."""

    __slots__ = (
        "caller",
        "sql",
        "params",
        "keys_param",
        "key_index",
        "binary",
        "waiters",
        "deadline",
        "no_deadline",
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
        super().__init__(batch_id)
        self.caller = caller
        self.sql = sql
        self.params = params
        self.keys_param = keys_param
        self.key_index = key_index
        self.binary = binary
        self.waiters: dict[Hashable, list[asyncio.Future[Row | None]]] = {}
        self.deadline = 0.0  # the latest of its callers' deadlines (monotonic)
        self.no_deadline = False

    def size(self) -> int:
        return len(self.waiters)

    def join(self, key: Hashable, future: asyncio.Future[Row | None]) -> None:
        self.joined += 1
        self.waiters.setdefault(key, []).append(future)
        deadline = deadline_of_caller()
        if deadline is None:
            self.no_deadline = True
        else:
            self.deadline = max(self.deadline, deadline)

    def seconds_remaining(self) -> float | None:
        # The statement serves its most patient caller; the others stop
        # waiting at their own deadlines and the rows they asked for are dropped.
        return None if self.no_deadline else remaining(self.deadline)

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
                fail(future, error)


class KeyedReads(Coalescer[_ReadBatch]):
    """Coalesces concurrent `WHERE key = ANY(keys)` reads of the same statement and scope."""

    def __init__(self, run: RunStatement, *, pacing: Pacing = READ_PACING) -> None:
        super().__init__(pacing)
        self._run = run

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
        batch = self._forming_batch(
            batch_id,
            lambda: _ReadBatch(batch_id, caller, sql, params, keys_param, key_index, binary),
        )
        future: asyncio.Future[Row | None] = asyncio.get_running_loop().create_future()
        batch.join(key, future)
        if batch.size() >= MAX_BATCH_KEYS:
            self._send(batch)
        return await future

    async def _execute(self, batch: _ReadBatch) -> None:
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
