"""Concurrent single-row reads and writes of one scope, sent to the database in batches.

Each coalescer batches the calls of one statement and scope (tenant and
application), paced by the event loop (storage/batching.py, with the
coalescer's Pacing), so a busy tenant's calls share round trips, statements
and commits (docs/performance.md, "Batching reads and writes per scope").

SharedReads batches reads (a List page) into one pipeline, each with its own
parameters; RowWrites batches single-row writes into one statement
(RowWrite.many), one pipeline and one commit. Reads of single rows by key
have their own coalescer (storage/keyed_reads.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from cohorts.domain.caller import Caller
from cohorts.domain.errors import StorageUnavailable
from cohorts.service.deadlines import request_deadline
from cohorts.storage.batching import Batch, Coalescer, Pacing, deadline_of_caller, fail, remaining

Row = tuple[Any, ...]
Statement = tuple[str, dict[str, Any]]
# Runs statements in the caller's scope, in one pipeline and one implicit
# transaction, within the current request deadline: each statement's rows
# (the last argument asks for binary-format results).
RunStatements = Callable[[Caller, list[Statement], bool], Awaitable[list[list[Row]]]]


@dataclass(frozen=True, eq=False, slots=True)
class RowWrite:
    """A statement that writes one row by key, and its form that writes many rows at once.

    many(n) writes n rows in one statement: each parameter of sql appears
    suffixed _0 … _{n-1}, once per row, except those named in shared, which
    are the same for every write of a batch (its scope) and appear once,
    unsuffixed. It returns the key of each row it wrote in its first column.
    Its parameters should take their types from the statement
    (pipeline.SelfTypedSql), or each mix of value types is another statement.
    One statement for a batch, rather than one per row, spares PostgreSQL the
    work it does per statement run (the executor's start-up, the table's
    CHECK constraints and generated columns read afresh) for all rows but
    one (docs/performance.md, "Multi-row write statements").
    """

    sql: str
    many: Callable[[int], str]
    shared: tuple[str, ...] = ()


# One batch on the wire and one more to overlap its round trip keep a scope's
# reads moving; more add PostgreSQL backends contending for the workers' cores,
# and a longer tail, but no throughput. Fewer quiet turns leave batches as small
# as leaving at once; more make a lone read wait for nothing (docs/performance.md,
# "Batching reads and writes per scope").
READ_PACING = Pacing(max_in_flight=2, quiet_turns=8, shared_quiet_turns=8, window_seconds=0.003)
# A write batch costs more than a read batch (a commit that waits for the WAL
# flush), so once writes are coming, a batch waits through longer quiet
# spells: CreateCohort and UpdateCohort served more per core. A lone write
# leaves as a read does: writes scattered among reads (the mixed load) that
# all waited the longer spell had a longer tail (docs/performance.md,
# "Batching reads and writes per scope").
WRITE_PACING = Pacing(max_in_flight=2, quiet_turns=8, shared_quiet_turns=32, window_seconds=0.010)

MAX_BATCH_WRITES = 32
# A batch's rows are loaded in one step of the event loop, during which the
# worker serves nothing else: a few List pages at a time keep the other calls
# moving (docs/performance.md, "Batching reads and writes per scope").
MAX_BATCH_READS = 8


class _PendingStatement:
    """One caller's run of a batch's statement: its parameters and where its rows go."""

    __slots__ = ("key", "params", "future", "deadline")

    def __init__(self, key: str, params: dict[str, Any], future: asyncio.Future[list[Row]]) -> None:
        self.key = key
        self.params = params
        self.future = future
        self.deadline = deadline_of_caller()


class _StatementBatch(Batch):
    """Runs of one statement and scope, each with its own parameters."""

    __slots__ = ("caller", "statement", "binary", "runs")

    def __init__(
        self, batch_id: Hashable, caller: Caller, statement: str | RowWrite, binary: bool
    ) -> None:
        super().__init__(batch_id)
        self.caller = caller
        self.statement = statement
        self.binary = binary
        self.runs: list[_PendingStatement] = []

    def size(self) -> int:
        return len(self.runs)

    def join(self, run: _PendingStatement) -> None:
        self.joined += 1
        self.runs.append(run)


class _SharedPipelines(Coalescer[_StatementBatch]):
    """Runs a statement once per caller, for all the callers of a batch, in one pipeline.

    One round trip and one implicit transaction: the runs of a batch succeed
    together or not at all. When the batch fails for a reason that may be
    one run's (a constraint, a deadlock, one caller's deadline), nothing was
    committed and each run is sent again alone, so one run's failure is only
    its own caller's. When the database could not be reached the outcome is
    unknown and every caller hears so (UNAVAILABLE), as it would alone.
    A caller cancelled before its batch leaves takes its run out of it.
    """

    max_batch_size: int

    def __init__(self, run: RunStatements, *, pacing: Pacing) -> None:
        super().__init__(pacing)
        self._run = run

    async def _rows(
        self,
        caller: Caller,
        statement: str | RowWrite,
        params: dict[str, Any],
        *,
        key: str,
        binary: bool,
    ) -> list[Row]:
        # The scope is in the batch id because the statement runs in one scope.
        batch_id = (statement, binary, caller.tenant_id, caller.app_id)
        batch = self._forming_batch(
            batch_id, lambda: _StatementBatch(batch_id, caller, statement, binary)
        )
        future: asyncio.Future[list[Row]] = asyncio.get_running_loop().create_future()
        batch.join(_PendingStatement(key, params, future))
        if batch.size() >= self.max_batch_size:
            self._send(batch)
        return await future

    def _ordered(self, runs: list[_PendingStatement]) -> list[_PendingStatement]:
        """The order the runs go out in."""
        return runs

    def _secondsremaining(self, runs: list[_PendingStatement]) -> float | None:
        """How long the batch may take."""
        raise NotImplementedError

    def _statements(
        self, batch: _StatementBatch, runs: list[_PendingStatement]
    ) -> tuple[list[Statement], Callable[[list[list[Row]]], list[list[Row]]]]:
        """The statements that carry runs, and how their results become each run's rows."""
        sql = _single_sql(batch.statement)
        return [(sql, run.params) for run in runs], _as_they_are

    async def _execute(self, batch: _StatementBatch) -> None:
        runs = self._ordered([run for run in batch.runs if not run.future.done()])
        if not runs:
            return
        try:
            statements, rows_of_runs = self._statements(batch, runs)
            with request_deadline(self._secondsremaining(runs)):
                results = rows_of_runs(await self._run(batch.caller, statements, batch.binary))
        except Exception as error:
            if len(runs) == 1 or isinstance(error, StorageUnavailable):
                for run in runs:
                    fail(run.future, error)
                return
            await asyncio.gather(*(self._retried_alone(batch, run) for run in runs))
        except BaseException as error:
            for run in runs:
                fail(run.future, error)
            raise
        else:
            for run, rows in zip(runs, results, strict=True):
                if not run.future.done():
                    run.future.set_result(rows)

    async def _retried_alone(self, batch: _StatementBatch, run: _PendingStatement) -> None:
        if run.future.done():
            return
        try:
            with request_deadline(remaining(run.deadline)):
                (rows,) = await self._run(
                    batch.caller, [(_single_sql(batch.statement), run.params)], batch.binary
                )
        except Exception as error:
            fail(run.future, error)
        else:
            if not run.future.done():
                run.future.set_result(rows)


def _powers_of_two(total: int) -> list[int]:
    """total as a sum of distinct powers of two, largest first (13: 8, 4, 1).

    Rows go out in statements of these sizes only, so a connection prepares
    and plans a handful of statement shapes rather than one per batch size.
    """
    return [1 << bit for bit in range(total.bit_length() - 1, -1, -1) if total >> bit & 1]


def _single_sql(statement: str | RowWrite) -> str:
    return statement.sql if isinstance(statement, RowWrite) else statement


def _as_they_are(results: list[list[Row]]) -> list[list[Row]]:
    return results


class RowWrites(_SharedPipelines):
    """Coalesces concurrent single-row writes of the same statement and scope (group commit).

    The writes of a batch commit together, with one commit.
    """

    max_batch_size = MAX_BATCH_WRITES

    async def write(
        self, caller: Caller, write: RowWrite, params: dict[str, Any], *, key: str
    ) -> bool:
        """Whether write's statement, run with params, returned a row: whether it wrote.

        Writes run in key order within a batch, so batches that touch the same
        rows lock them in the same order.
        """
        return bool(await self._rows(caller, write, params, key=key, binary=False))

    def _ordered(self, runs: list[_PendingStatement]) -> list[_PendingStatement]:
        return sorted(runs, key=lambda run: run.key)

    def _statements(
        self, batch: _StatementBatch, runs: list[_PendingStatement]
    ) -> tuple[list[Statement], Callable[[list[list[Row]]], list[list[Row]]]]:
        """The batch's rows in a few statements (RowWrite.many), where they can stand for them.

        A second write of a key already in the batch runs after it, on its
        own, as it would have if it had come later: one statement cannot write
        a row twice.
        """
        write = batch.statement
        assert isinstance(write, RowWrite)
        firsts: list[_PendingStatement] = []
        repeats: list[_PendingStatement] = []
        keys: set[str] = set()
        for run in runs:
            (repeats if run.key in keys else firsts).append(run)
            keys.add(run.key)
        shared = {name: firsts[0].params[name] for name in write.shared}
        if len(firsts) < 2 or any(
            run.params[name] != value for run in firsts for name, value in shared.items()
        ):
            return super()._statements(batch, runs)
        statements: list[Statement] = []
        start = 0
        for size in _powers_of_two(len(firsts)):
            params = dict(shared)
            for index, run in enumerate(firsts[start : start + size]):
                suffix = f"_{index}"
                for name, value in run.params.items():
                    if name not in shared:
                        params[name + suffix] = value
            statements.append((write.many(size), params))
            start += size
        chunks = len(statements)
        statements += [(write.sql, run.params) for run in repeats]

        def rows_of_runs(results: list[list[Row]]) -> list[list[Row]]:
            written = {row[0]: row for rows in results[:chunks] for row in rows}
            own = iter(results[chunks:])
            alone = set(repeats)
            return [
                next(own) if run in alone else [written[run.key]] if run.key in written else []
                for run in runs
            ]

        return statements, rows_of_runs

    def _secondsremaining(self, runs: list[_PendingStatement]) -> float | None:
        # The least patient caller bounds the batch: no caller may hear of a
        # failure while its write is still being committed.
        deadlines = [run.deadline for run in runs if run.deadline is not None]
        return remaining(min(deadlines)) if deadlines else None


class SharedReads(_SharedPipelines):
    """Coalesces concurrent reads of the same statement and scope into one pipeline.

    For statements KeyedReads cannot merge into one (a List page): each read
    keeps its own parameters and rows, and the batch shares the round trip
    and the scope.
    """

    max_batch_size = MAX_BATCH_READS

    async def read(
        self, caller: Caller, sql: str, params: dict[str, Any], *, binary: bool
    ) -> list[Row]:
        """The rows of sql run with params in caller's scope."""
        return await self._rows(caller, sql, params, key="", binary=binary)

    def _secondsremaining(self, runs: list[_PendingStatement]) -> float | None:
        # The batch serves its most patient caller; the others stop waiting
        # at their own deadlines and their rows are dropped.
        deadlines = [run.deadline for run in runs]
        if None in deadlines:
            return None
        return remaining(max(deadline for deadline in deadlines if deadline is not None))
