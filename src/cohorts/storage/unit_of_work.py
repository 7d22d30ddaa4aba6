"""A unit of work: statements on one pooled connection, confined to one caller's scope.

Read-only and autocommit units send the scope and their statement in one
pipeline (storage/pipeline.py), which PostgreSQL runs as one implicit
transaction: one network round trip, no BEGIN/COMMIT. Concurrent units of the
same scope share that pipeline (storage/coalescing.py, storage/keyed_reads.py).
Read-write units open a real transaction (BEGIN, scope and the first statement
pipelined together, by psycopg) that rolls back unless commit() is called.
The scope is set with set_config(..., is_local => true), so it ends with the
transaction and a pooled connection never carries it to the next caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from types import TracebackType
from typing import Any, Protocol, Self

import psycopg
import psycopg.errors
from psycopg.pq import ExecStatus, Format
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cohorts.domain.caller import Caller
from cohorts.domain.errors import DeadlineExceeded, DomainError, StorageUnavailable
from cohorts.service.deadlines import seconds_remaining
from cohorts.storage import pipeline
from cohorts.storage.batching import Pacing
from cohorts.storage.coalescing import (
    READ_PACING,
    WRITE_PACING,
    Row,
    RowWrite,
    RowWrites,
    SharedReads,
    Statement,
)
from cohorts.storage.database import unit_state
from cohorts.storage.keyed_reads import KeyedReads
from cohorts.storage.repository import SqlCohortRepository

# app.stores_wire: every row this service writes carries its own encoding
# (migration 0005 drops the encoding of rows written without this).
_SCOPE = (
    "SELECT set_config('app.tenant_id', %(tenant_id)s, true),"
    " set_config('app.app_id', %(app_id)s, true),"
    " set_config('statement_timeout', %(statement_timeout)s, true),"
    " set_config('app.stores_wire', 'on', true),"
    " set_config('plan_cache_mode', %(plan_cache_mode)s, true)"
)
# In PostgreSQL's default mode ("auto") a prepared statement is planned for its
# values on every run unless its generic plan is estimated to cost no more;
# GetCohort's `id = ANY(...)` never settled, and under row-level security the
# planning cost more than the read (docs/performance.md, "Plan cache modes").
# A read by key or a
# write of one row by key has one sensible plan whatever the values, so those
# run on the statement's generic plan, made once per connection.
_GENERIC_PLAN = "force_generic_plan"
_PLAN_PER_RUN = "auto"

# Leave the database this much less time than the caller has, so it cancels a
# slow statement (and rolls back) before the caller gives up on the call.
_DEADLINE_MARGIN_SECONDS = 0.05

StatementHook = Callable[[str], AbstractContextManager[None]]


class StorageObserver(Protocol):
    """Where storage reports what operators watch (metrics live outside storage)."""

    def waiting_for_connection(self) -> AbstractContextManager[None]: ...

    def connection_checked_out(self) -> None: ...

    def connection_checked_in(self) -> None: ...

    def database_error(self, error_class: str) -> None: ...


class NoStorageObserver:
    """Reports nowhere."""

    def waiting_for_connection(self) -> AbstractContextManager[None]:
        return nullcontext()

    def connection_checked_out(self) -> None:
        return None

    def connection_checked_in(self) -> None:
        return None

    def database_error(self, error_class: str) -> None:
        return None


class DatabaseStatus:
    """Whether the database answered lately; while it does not, calls fail fast.

    The health monitor flips it both ways; a lost connection flips it off at
    once. Without it a caller would wait for the pool's timeout while the
    pool retries connecting in the background.
    """

    def __init__(self) -> None:
        self.available = True


def _time_left() -> float | None:
    """Seconds left before the request's deadline (None: none), or DeadlineExceeded."""
    remaining = seconds_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExceeded("the request's deadline passed before it reached storage")
    return remaining


def _unavailable() -> StorageUnavailable:
    return StorageUnavailable("the database is unavailable; retry shortly")


class SqlUnitOfWork:
    """Statements for one caller.

    A transactional unit rolls back unless commit() is called. A read-only or
    autocommit unit runs each statement as its own implicit transaction, in
    one round trip with its scope; an autocommit unit refuses to send a
    statement so close to the deadline that the caller could not hear of it.
    """

    def __init__(
        self,
        factory: SqlUnitOfWorkFactory,
        caller: Caller,
        *,
        read_only: bool,
        autocommit: bool = False,
    ) -> None:
        self._factory = factory
        self._caller = caller
        self._read_only = read_only
        self._transactional = not (read_only or autocommit)
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._in_transaction = False
        self.cohorts = SqlCohortRepository(self)

    async def __aenter__(self) -> Self:
        if not self._factory.status.available:
            raise _unavailable()
        _time_left()
        return self

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        """This unit's connection, taken from the pool on first use."""
        factory = self._factory
        remaining = _time_left()
        wait = factory.pool_timeout_seconds
        if remaining is not None:
            # Give up on the pool just before the deadline, so an exhausted pool
            # is answered (UNAVAILABLE, retryable) rather than timed out.
            wait = min(wait, max(remaining - _DEADLINE_MARGIN_SECONDS, 0.001))
        try:
            with factory.observer.waiting_for_connection():
                connection: psycopg.AsyncConnection[Any] = await factory.pool.getconn(timeout=wait)
        except PoolTimeout:
            raise StorageUnavailable(
                "no database connection became free in time (all are busy); retry shortly"
            ) from None
        factory.observer.connection_checked_out()
        self._connection = connection
        return connection

    def _scope(self, *, generic_plan: bool) -> dict[str, Any]:
        """The caller's scope, what is left of its deadline and the plan mode, for _SCOPE."""
        budget = self._factory.max_statement_seconds
        remaining = seconds_remaining()
        if remaining is not None:
            if not self._read_only and remaining < _DEADLINE_MARGIN_SECONDS:
                # The caller is about to give up (or has): a write it is told
                # failed must not be stored, so do not send it.
                raise DeadlineExceeded("the request's deadline passed before the write was sent")
            budget = min(budget, max(remaining - _DEADLINE_MARGIN_SECONDS, 0.001))
        return {
            "tenant_id": self._caller.tenant_id,
            "app_id": self._caller.app_id or "",
            "statement_timeout": str(max(int(budget * 1000), 1)),
            # A transaction's later statements inherit the mode: only a lone
            # implicit transaction may skip planning.
            "plan_cache_mode": (
                _GENERIC_PLAN if generic_plan and not self._transactional else _PLAN_PER_RUN
            ),
        }

    async def fetch_keyed(
        self,
        sql: str,
        params: dict[str, Any],
        *,
        keys_param: str,
        key: Any,
        key_index: int,
        binary: bool = False,
    ) -> tuple[Any, ...] | None:
        """The row of a `key_column = ANY(keys_param)` statement whose key column is key.

        Outside a transaction the statement is shared with concurrent reads
        of the same scope (storage/keyed_reads.py); a transactional unit runs
        it alone, inside its transaction.
        """
        if not self._transactional:
            return await self._factory.keyed_reads.read(
                self._caller,
                sql,
                params,
                keys_param=keys_param,
                key=key,
                key_index=key_index,
                binary=binary,
            )
        rows = await self.fetch(sql, {**params, keys_param: [key]}, binary=binary)
        return next((row for row in rows if row[key_index] == key), None)

    async def write_row(self, write: RowWrite, params: dict[str, Any], *, key: str) -> bool:
        """Whether write's statement, run with params, returned a row: whether it wrote.

        Outside a transaction the write shares a statement, a pipeline and a
        commit with concurrent writes of the same statement and scope
        (storage/coalescing.py); a transactional unit runs it alone, inside
        its transaction.
        """
        if not self._transactional:
            return await self._factory.row_writes.write(self._caller, write, params, key=key)
        return bool(await self.fetch(write.sql, params))

    async def fetch(self, sql: str, params: dict[str, Any], *, binary: bool = False) -> list[Row]:
        """Run one statement in this unit's scope; its rows ([] when it returns none).

        A read-only unit's statement shares a pipeline with concurrent reads
        of the same statement and scope (storage/coalescing.py).

        binary: results in PostgreSQL's binary format, cheaper to load for
        bytea (no hex to decode) and timestamps.
        """
        if self._read_only:
            return await self._factory.shared_reads.read(self._caller, sql, params, binary=binary)
        (rows,) = await self.run_each(sql, [params], binary=binary)
        return rows

    async def run_each(
        self,
        sql: str,
        params_seq: list[dict[str, Any]],
        *,
        binary: bool,
        generic_plan: bool = False,
    ) -> list[list[Row]]:
        """Run sql once per parameter set in one pipeline: each run's rows.

        Outside a transaction the runs are one implicit transaction, so they
        commit together or not at all. generic_plan: sql's plan does not depend
        on its parameters' values (see _GENERIC_PLAN).
        """
        if not self._transactional:
            return await self.run_statements(
                [(sql, params) for params in params_seq], binary=binary, generic_plan=generic_plan
            )
        try:
            connection = self._connection or await self._connect()
            with self._hooked(sql):
                cursor = unit_state(connection).cursor
                # executemany takes no result format of its own: it uses the cursor's.
                cursor.format = Format.BINARY if binary else Format.TEXT
                if self._in_transaction:
                    await _execute(cursor, sql, params_seq)
                    return await _results(cursor, len(params_seq))
                scope = self._scope(generic_plan=generic_plan)
                # Leaving the block sends the one Sync (a sync() inside it
                # would cost a second one, and a second round trip).
                async with connection.pipeline():
                    self._in_transaction = True
                    await connection.execute("BEGIN")
                    await cursor.execute(_SCOPE, scope)
                    await _execute(cursor, sql, params_seq)
                return await _results(cursor, len(params_seq))
        except psycopg.Error as error:
            raise self._translated(error) from error

    async def run_statements(
        self, statements: list[Statement], *, binary: bool, generic_plan: bool = False
    ) -> list[list[Row]]:
        """Outside a transaction: run statements after the scope, in one pipeline and one
        implicit transaction, so they commit together or not at all; each one's rows.

        The statement hooks see the first statement, once.
        """
        try:
            connection = self._connection or await self._connect()
            with self._hooked(statements[0][0]):
                scope = self._scope(generic_plan=generic_plan)
                state = unit_state(connection)
                results = await pipeline.run_pipelined(
                    connection,
                    state.transformer,
                    state.prepared,
                    [(_SCOPE, scope), *statements],
                    binary=binary,
                )
                return results[1:]
        except psycopg.Error as error:
            raise self._translated(error) from error

    @contextmanager
    def _hooked(self, sql: str) -> Iterator[None]:
        """Inside every statement hook (tracing spans, statement capture in tests) for sql."""
        with ExitStack() as hooks:
            for hook in self._factory.statement_hooks:
                hooks.enter_context(hook(sql))
            yield

    async def commit(self) -> None:
        """Make the writes of this unit permanent, unless the caller can no longer hear of it.

        Nothing to do in an autocommit unit: each statement committed as it ran.
        """
        if not self._transactional:
            return
        remaining = seconds_remaining()
        if remaining is not None and remaining < _DEADLINE_MARGIN_SECONDS:
            # The caller is about to give up (or has): a write it is told failed
            # must not be stored, so roll back rather than race the deadline.
            raise DeadlineExceeded("the request's deadline passed before the write committed")
        if self._in_transaction and self._connection is not None:
            try:
                await self._connection.execute("COMMIT")
            except psycopg.Error as error:
                raise self._translated(error) from error
            finally:
                self._in_transaction = False

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if isinstance(exc, asyncio.CancelledError):
                # A statement may still be running: do not reuse the connection.
                await connection.close()
            elif self._in_transaction and not connection.broken:
                await connection.execute("ROLLBACK")
        except psycopg.Error:
            await connection.close()
        finally:
            self._in_transaction = False
            await self._factory.pool.putconn(connection)
            self._factory.observer.connection_checked_in()

    def _translated(self, error: psycopg.Error) -> DomainError | psycopg.Error:
        if isinstance(error, psycopg.errors.QueryCanceled):
            domain: DomainError | psycopg.Error = DeadlineExceeded(
                "the request's deadline passed while the database was working"
            )
        elif isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            if self._connection is None or self._connection.broken:
                self._factory.status.available = False
            domain = _unavailable()
        else:
            return error
        self._factory.observer.database_error(type(error).__name__)
        return domain


async def _execute(
    cursor: psycopg.AsyncCursor[Any], sql: str, params_seq: list[dict[str, Any]]
) -> None:
    if len(params_seq) == 1:
        await cursor.execute(sql, params_seq[0])
    else:
        await cursor.executemany(sql, params_seq, returning=True)


async def _results(cursor: psycopg.AsyncCursor[Any], runs: int) -> list[list[Row]]:
    """The rows of the cursor's last runs statements (earlier ones, like the scope, are skipped)."""
    if runs == 1:
        return [await _rows(cursor)]
    results = [await _rows(cursor)]
    while cursor.nextset():
        results.append(await _rows(cursor))
    return results[-runs:]


async def _rows(cursor: psycopg.AsyncCursor[Any]) -> list[tuple[Any, ...]]:
    # Not cursor.description: it builds a Column per column on every access.
    result = cursor.pgresult
    if result is None or result.status != ExecStatus.TUPLES_OK:  # no RETURNING
        return []
    return await cursor.fetchall()


class SqlUnitOfWorkFactory:
    """Makes caller-scoped units of work on one connection pool."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        *,
        pool_timeout_seconds: float = 5.0,
        max_statement_seconds: float = 30.0,
        observer: StorageObserver | None = None,
        status: DatabaseStatus | None = None,
        read_pacing: Pacing = READ_PACING,
        write_pacing: Pacing = WRITE_PACING,
    ) -> None:
        self.pool = pool
        self.pool_timeout_seconds = pool_timeout_seconds
        self.max_statement_seconds = max_statement_seconds
        self.observer: StorageObserver = observer or NoStorageObserver()
        self.status = status or DatabaseStatus()
        # Called around every statement (tracing spans, statement capture in tests).
        self.statement_hooks: list[StatementHook] = []
        self.keyed_reads = KeyedReads(self._read_alone, pacing=read_pacing)
        self.shared_reads = SharedReads(self._read_each, pacing=read_pacing)
        self.row_writes = RowWrites(self._write_each, pacing=write_pacing)

    async def _read_alone(
        self, caller: Caller, sql: str, params: dict[str, Any], binary: bool
    ) -> list[Row]:
        """A read by key (KeyedReads' statements): one plan serves every key list."""
        async with SqlUnitOfWork(self, caller, read_only=True) as unit:
            (rows,) = await unit.run_each(sql, [params], binary=binary, generic_plan=True)
        return rows

    async def _read_each(
        self, caller: Caller, statements: list[Statement], binary: bool
    ) -> list[list[Row]]:
        async with SqlUnitOfWork(self, caller, read_only=True) as unit:
            return await unit.run_statements(statements, binary=binary)

    async def _write_each(
        self, caller: Caller, statements: list[Statement], binary: bool
    ) -> list[list[Row]]:
        """Writes of rows by key (RowWrites' statements): one plan serves every row."""
        async with SqlUnitOfWork(self, caller, read_only=False, autocommit=True) as unit:
            return await unit.run_statements(statements, binary=binary, generic_plan=True)

    def __call__(
        self, caller: Caller, *, read_only: bool = False, autocommit: bool = False
    ) -> SqlUnitOfWork:
        return SqlUnitOfWork(self, caller, read_only=read_only, autocommit=autocommit)
