"""What the use cases need from storage, as protocols the storage layer implements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import Cohort


@dataclass(frozen=True, slots=True)
class ListPosition:
    """Sort key of the last row of a page: where the next page starts."""

    created_at: datetime
    cohort_id: str


class CohortRepository(Protocol):
    """Cohorts of one caller's scope; every method is confined to that scope."""

    async def get(self, caller: Caller, cohort_id: str) -> Cohort | None:
        """The cohort, deleted or not, or None when it is not in scope."""
        ...

    async def add(self, cohort: Cohort, *, request_id: str | None) -> bool:
        """Insert; False (and nothing written) when request_id is already used."""
        ...

    async def get_by_request_id(self, tenant_id: str, request_id: str) -> Cohort | None:
        """The cohort a request_id created in the tenant, whatever its app."""
        ...

    async def replace(self, cohort: Cohort, *, expected_version: int) -> bool:
        """Store cohort if the stored version is still expected_version."""
        ...

    async def list_page(
        self,
        caller: Caller,
        *,
        show_deleted: bool,
        after: ListPosition | None,
        limit: int,
    ) -> list[Cohort]:
        """Up to limit cohorts, newest first, strictly after the position."""
        ...


class UnitOfWork(Protocol):
    """One transaction: rolled back on exit unless commit() was called."""

    @property
    def cohorts(self) -> CohortRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes a fresh unit of work for one use case."""

    def __call__(self) -> UnitOfWork: ...
