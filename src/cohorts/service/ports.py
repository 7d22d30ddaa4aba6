"""What the use cases need from storage, as protocols the storage layer implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import Cohort
from cohorts.service.list_query import Filter, OrderKey
from cohorts.service.stored_cohort import CohortCodec, StoredCohort


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One page's worth of ListCohorts, in storage-neutral terms."""

    filter: Filter | None
    order: tuple[OrderKey, ...]
    show_deleted: bool
    # Sort-key values of the previous page's last row (one per order key,
    # then its id); None for the first page.
    after: Sequence[Any] | None
    limit: int


@dataclass(frozen=True, slots=True)
class ListedCohorts:
    """The cohorts a ListQuery matched, in its order, and where each one stands in it."""

    cohorts: list[StoredCohort]
    # position(i): the sort-key values of cohorts[i], one per order key, then
    # its id (what ListQuery.after takes). A function, not a list: a page of
    # up to 1,000 rows needs the position of one or two of them.
    position: Callable[[int], Sequence[Any]]


class CohortRepository(Protocol):
    """Cohorts of one caller's scope; every method is confined to that scope."""

    async def get(self, caller: Caller, cohort_id: str) -> Cohort | None:
        """The cohort, deleted or not, or None when it is not in scope."""
        ...

    async def get_stored(
        self, caller: Caller, cohort_id: str, *, codec: CohortCodec
    ) -> StoredCohort | None:
        """The cohort with its stored encoding when that is in codec's format; None if absent."""
        ...

    async def add(self, cohort: StoredCohort, *, request_id: str | None) -> bool:
        """Insert with its encoding; False (and nothing written) when request_id is already used."""
        ...

    async def get_by_request_id(self, tenant_id: str, request_id: str) -> Cohort | None:
        """The cohort a request_id created in the tenant, whatever its app."""
        ...

    async def replace(self, cohort: StoredCohort, *, expected_version: int) -> bool:
        """Store cohort and its encoding if the stored version is still expected_version."""
        ...

    async def list_page(
        self, caller: Caller, query: ListQuery, *, codec: CohortCodec
    ) -> ListedCohorts:
        """Up to query.limit matching cohorts in query.order, strictly after query.after.

        Each comes with its stored encoding when that is in codec's format.
        """
        ...


class UnitOfWork(Protocol):
    """One transaction (rolled back on exit unless commit() was called), or autocommit."""

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
    """Makes a fresh unit of work for one use case, confined to the caller's scope."""

    def __call__(
        self, caller: Caller, *, read_only: bool = False, autocommit: bool = False
    ) -> UnitOfWork:
        """read_only: the unit only reads, so it needs no transaction of its own.

        autocommit: every statement is its own transaction (for use cases
        whose one write is a single compare-and-set statement); commit() is
        then a no-op, and a statement is refused when the deadline is too
        near for the caller to hear of its outcome.
        """
        ...
