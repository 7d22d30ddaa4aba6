"""A unit of work is one PostgreSQL transaction on a pooled connection."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from cohorts.domain.errors import StorageUnavailable
from cohorts.storage.repository import SqlCohortRepository

# Errors that mean "the database cannot serve us right now" rather than "this
# request is wrong": lost connections, refused connections, an exhausted pool.
_UNAVAILABLE = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)


class SqlUnitOfWork:
    """Rolls back on exit unless commit() was called; database outages become StorageUnavailable."""

    cohorts: SqlCohortRepository

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._transaction: AsyncTransaction | None = None

    async def __aenter__(self) -> Self:
        try:
            self._connection = await self._engine.connect()
            self._transaction = await self._connection.begin()
        except _UNAVAILABLE as error:
            await self._close()
            raise StorageUnavailable("the database is unavailable; retry shortly") from error
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
        if isinstance(exc, _UNAVAILABLE):
            raise StorageUnavailable("the database is unavailable; retry shortly") from exc

    async def commit(self) -> None:
        assert self._transaction is not None
        try:
            await self._transaction.commit()
        except _UNAVAILABLE as error:
            raise StorageUnavailable(
                "the database became unavailable while committing; the write may not be stored"
            ) from error

    async def _close(self) -> None:
        connection, self._connection, self._transaction = self._connection, None, None
        if connection is not None:
            await connection.close()


class SqlUnitOfWorkFactory:
    """Makes units of work on one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine)
