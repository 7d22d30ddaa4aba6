"""A unit of work is one PostgreSQL transaction, scoped to one caller, on a pooled connection."""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Protocol, Self

import psycopg.errors
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from cohorts.domain.caller import Caller
from cohorts.domain.errors import DeadlineExceeded, DomainError, StorageUnavailable
from cohorts.service.deadlines import seconds_remaining
from cohorts.storage.repository import SqlCohortRepository

# Errors that mean "the database cannot serve us right now" rather than "this
# request is wrong": lost connections, refused connections, an exhausted pool.
_UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)

# Transaction-local (is_local = true) settings: the row-level security policies
# read the scope, and statement_timeout bounds each statement by the caller's
# deadline. All revert when the transaction ends, so a pooled connection never
# carries one request's tenant into the next.
_BEGIN_SCOPED = text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.app_id', :app_id, true),"
    " set_config('statement_timeout', :statement_timeout, true)"
)

# Leave the database this much less time than the caller has, so it cancels a
# slow statement (and rolls back) before the caller gives up on the call.
_DEADLINE_MARGIN_SECONDS = 0.05


class StorageObserver(Protocol):
    """Where storage reports what operators watch (metrics live outside storage)."""

    def waiting_for_connection(self) -> AbstractContextManager[None]: ...

    def database_error(self, error_class: str) -> None: ...


class NoStorageObserver:
    """Reports nowhere."""

    def waiting_for_connection(self) -> AbstractContextManager[None]:
        return nullcontext()

    def database_error(self, error_class: str) -> None:
        return None


def _translated(error: BaseException) -> DomainError | None:
    if isinstance(error, sqlalchemy.exc.DBAPIError) and isinstance(
        error.orig, psycopg.errors.QueryCanceled
    ):
        return DeadlineExceeded("the request's deadline passed while the database was working")
    if isinstance(error, TimeoutError):
        return DeadlineExceeded("the request's deadline passed while waiting for the database")
    if isinstance(error, _UNAVAILABLE):
        return StorageUnavailable("the database is unavailable; retry shortly")
    return None


class SqlUnitOfWork:
    """Rolls back on exit unless commit() was called; database failures become domain errors."""

    cohorts: SqlCohortRepository

    def __init__(
        self,
        engine: AsyncEngine,
        caller: Caller,
        *,
        max_statement_seconds: float,
        observer: StorageObserver,
    ) -> None:
        self._engine = engine
        self._caller = caller
        self._max_statement_seconds = max_statement_seconds
        self._observer = observer
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        budget = self._max_statement_seconds
        remaining = seconds_remaining()
        if remaining is not None:
            if remaining <= 0:
                raise DeadlineExceeded("the request's deadline passed before it reached storage")
            budget = min(budget, max(remaining - _DEADLINE_MARGIN_SECONDS, 0.001))
        try:
            async with asyncio.timeout(remaining):
                with self._observer.waiting_for_connection():
                    self._connection = await self._engine.connect()
                self._transaction = await self._connection.begin()
                await self._connection.execute(
                    _BEGIN_SCOPED,
                    {
                        "tenant_id": self._caller.tenant_id,
                        "app_id": self._caller.app_id or "",
                        "statement_timeout": str(max(int(budget * 1000), 1)),
                    },
                )
        except Exception as error:
            await self._close()
            translated = self._translate(error)
            if translated is None:
                raise
            raise translated from error
        self.cohorts = SqlCohortRepository(self._connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._close()
        except _UNAVAILABLE:
            if exc is None:
                raise StorageUnavailable("the database is unavailable; retry shortly") from None
        translated = None if exc is None else self._translate(exc)
        if translated is not None:
            raise translated from exc

    def _translate(self, error: BaseException) -> DomainError | None:
        translated = _translated(error)
        if translated is not None:
            cause = getattr(error, "orig", None) or error
            self._observer.database_error(type(cause).__name__)
        return translated

    async def commit(self) -> None:
        assert self._transaction is not None
        try:
            await self._transaction.commit()
        except _UNAVAILABLE as error:
            self._observer.database_error(type(getattr(error, "orig", None) or error).__name__)
            raise StorageUnavailable(
                "the database became unavailable while committing; the write may not be stored"
            ) from error

    async def _close(self) -> None:
        connection, self._connection, self._transaction = self._connection, None, None
        if connection is not None:
            await connection.close()


class SqlUnitOfWorkFactory:
    """Makes caller-scoped units of work on one engine."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_statement_seconds: float = 30.0,
        observer: StorageObserver | None = None,
    ) -> None:
        self._engine = engine
        self._max_statement_seconds = max_statement_seconds
        self._observer = observer or NoStorageObserver()

    def __call__(self, caller: Caller) -> SqlUnitOfWork:
        return SqlUnitOfWork(
            self._engine,
            caller,
            max_statement_seconds=self._max_statement_seconds,
            observer=self._observer,
        )
