"""The cohort use cases: each opens one unit of work and returns its cohorts as StoredCohorts.

Storage keeps every cohort's encoding (CohortCodec) beside its row, so a read
returns the stored bytes without building a Cohort, and only a write, or a row
whose stored encoding is stale, encodes one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import (
    SCHEMA_VERSION,
    Cohort,
    CohortContent,
    new_cohort_id,
    with_defaults,
)
from cohorts.domain.errors import (
    CohortDeleted,
    CohortNotDeleted,
    FieldViolation,
    InvalidArgument,
    NotFound,
    RequestIdReused,
    StorageUnavailable,
    VersionMismatch,
)
from cohorts.domain.rules import cohort_id_violations, content_violations, request_id_violations
from cohorts.service.filter_parser import parse_filter, parse_order_by
from cohorts.service.list_query import DEFAULT_ORDER, restriction_count
from cohorts.service.page_tokens import PageTokenCodec, query_fingerprint
from cohorts.service.ports import CohortRepository, ListQuery, UnitOfWorkFactory
from cohorts.service.row_turns import RowTurns
from cohorts.service.stored_cohort import CohortCodec, StoredCohort
from cohorts.service.tenant_limits import (
    COSTLY_BURST_SECONDS,
    COSTLY_LISTS_RUNNING,
    COSTLY_RESTRICTIONS,
    COSTLY_SHARE,
    TenantConcurrency,
    TenantTimeBudget,
)

Clock = Callable[[], datetime]

_REQUEST_ID_REUSED = "request_id was already used for another cohort; use a new one"
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# A write retries a compare-and-set lost to another process this often, after a short
# random pause, before giving up; within a process writers of a row take turns.
_MAX_WRITE_ATTEMPTS = 8
_RETRY_PAUSE_SECONDS = 0.002


def utc_now() -> datetime:
    """The current time, at the microsecond precision PostgreSQL stores."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ListRequest:
    """What a caller asked ListCohorts for."""

    page_size: int = 0
    page_token: str = ""
    filter: str = ""
    order_by: str = ""
    show_deleted: bool = False


@dataclass(frozen=True, slots=True)
class Page:
    """One page of cohorts and the token for the next ("" on the last page)."""

    cohorts: list[StoredCohort]
    next_page_token: str
    # The token that resumes right after cohorts[i], for callers that must
    # return fewer rows (AIP-158 allows short pages).
    token_after: Callable[[int], str]


def _visible_to(caller: Caller, cohort: Cohort) -> bool:
    return cohort.tenant_id == caller.tenant_id and (
        caller.app_id is None or cohort.app_id == caller.app_id
    )


class CohortUseCases:
    """Create, read, update, delete, undelete and list cohorts for a caller."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        page_tokens: PageTokenCodec,
        codec: CohortCodec,
        *,
        clock: Clock = utc_now,
        lists_per_tenant: TenantConcurrency | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._page_tokens = page_tokens
        self._codec = codec
        self._clock = clock
        self._row_turns = RowTurns()
        self._lists_per_tenant = lists_per_tenant
        self._costly_lists_per_tenant = (
            TenantConcurrency(running=COSTLY_LISTS_RUNNING, waiting=lists_per_tenant.waiting)
            if lists_per_tenant
            else None
        )
        self._costly_list_time = (
            TenantTimeBudget(share=COSTLY_SHARE, burst_seconds=COSTLY_BURST_SECONDS)
            if lists_per_tenant
            else None
        )

    async def get(self, caller: Caller, cohort_id: str) -> StoredCohort:
        """The cohort, soft-deleted or not."""
        _require_valid_id(cohort_id, field="id")
        async with self._uow_factory(caller, read_only=True) as uow:
            stored = await uow.cohorts.get_stored(caller, cohort_id, codec=self._codec)
        if stored is None:
            raise NotFound(f"cohort {cohort_id} not found")
        return stored

    async def create(
        self, caller: Caller, content: CohortContent, *, request_id: str = ""
    ) -> StoredCohort:
        """Store a new cohort; a repeated request_id returns the first one instead."""
        content = with_defaults(content)
        violations = request_id_violations(request_id, field="request_id")
        violations += content_violations(content, prefix="cohort.")
        if violations:
            raise InvalidArgument(violations)
        now = self._clock()
        cohort = Cohort(
            id=new_cohort_id(),
            tenant_id=caller.tenant_id,
            app_id=caller.app_id,
            created_at=now,
            updated_at=now,
            created_by=caller.subject,
            updated_by=caller.subject,
            is_deleted=False,
            deleted_at=None,
            deleted_by="",
            schema_version=SCHEMA_VERSION,
            version=1,
            content=content,
        )
        stored = StoredCohort.with_encoding(cohort, self._codec)
        # The insert is the whole write, so it commits on its own (one round trip).
        async with self._uow_factory(caller, autocommit=True) as uow:
            if await uow.cohorts.add(stored, request_id=request_id or None):
                return stored
            # The request_id was used before (or by a racing create that
            # committed first; the insert waited for it, so this read sees it).
            earlier = await uow.cohorts.get_by_request_id(caller.tenant_id, request_id)
            if earlier is None:
                # The row exists (the unique key said so) but row-level
                # security hides it: another application's cohort.
                raise RequestIdReused(_REQUEST_ID_REUSED)
            return StoredCohort(self._codec, cohort=_replayed(caller, earlier))

    async def update(
        self,
        caller: Caller,
        cohort_id: str,
        changes: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> StoredCohort:
        """Replace the named content fields, if the cohort is live and at the expected version."""
        _require_valid_id(cohort_id, field="cohort.id")

        def apply(current: Cohort, now: datetime) -> Cohort:
            if current.is_deleted:
                raise CohortDeleted(
                    f"cohort {cohort_id} is deleted; undelete it before updating it"
                )
            content = with_defaults(dataclasses.replace(current.content, **changes))
            violations = content_violations(content, prefix="cohort.")
            if violations:
                raise InvalidArgument(violations)
            return dataclasses.replace(
                current,
                content=content,
                updated_at=now,
                updated_by=caller.subject,
                version=current.version + 1,
            )

        return await self._write(caller, cohort_id, expected_version, apply)

    async def delete(
        self, caller: Caller, cohort_id: str, *, expected_version: int | None = None
    ) -> StoredCohort:
        """Soft-delete a live cohort (AIP-164)."""
        _require_valid_id(cohort_id, field="id")

        def apply(current: Cohort, now: datetime) -> Cohort:
            if current.is_deleted:
                raise NotFound(f"cohort {cohort_id} is already deleted")
            return dataclasses.replace(
                current,
                is_deleted=True,
                deleted_at=now,
                deleted_by=caller.subject,
                updated_at=now,
                updated_by=caller.subject,
                version=current.version + 1,
            )

        return await self._write(caller, cohort_id, expected_version, apply)

    async def undelete(self, caller: Caller, cohort_id: str) -> StoredCohort:
        """Restore a soft-deleted cohort."""
        _require_valid_id(cohort_id, field="id")

        def apply(current: Cohort, now: datetime) -> Cohort:
            if not current.is_deleted:
                raise CohortNotDeleted(f"cohort {cohort_id} is not deleted")
            return dataclasses.replace(
                current,
                is_deleted=False,
                deleted_at=None,
                deleted_by="",
                updated_at=now,
                updated_by=caller.subject,
                version=current.version + 1,
            )

        return await self._write(caller, cohort_id, None, apply)

    async def list(self, caller: Caller, request: ListRequest) -> Page:
        """One page of the caller's cohorts matching the filter, in the requested order."""
        if request.page_size < 0:
            raise InvalidArgument([FieldViolation("page_size", "must not be negative")])
        filter_ = parse_filter(request.filter)
        order = parse_order_by(request.order_by) or DEFAULT_ORDER
        fingerprint = query_fingerprint(
            caller,
            filter_=request.filter,
            order_by=",".join(f"{k.field}{' desc' if k.descending else ''}" for k in order),
            show_deleted=request.show_deleted,
        )
        after = (
            self._page_tokens.decode(request.page_token, query=fingerprint)
            if request.page_token
            else None
        )
        if after is not None and len(after) != len(order) + 1:
            raise InvalidArgument(
                [FieldViolation("page_token", "does not match the requested order")],
                reason="INVALID_PAGE_TOKEN",
            )
        limit = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query = ListQuery(
            filter=filter_,
            order=order,
            show_deleted=request.show_deleted,
            after=after,
            limit=limit + 1,
        )
        costly = self._costly_lists_per_tenant
        costly_time = self._costly_list_time
        is_costly = restriction_count(filter_) > COSTLY_RESTRICTIONS
        async with (
            costly.slot(caller.tenant_id) if costly and is_costly else nullcontext(),
            costly_time.spend(caller.tenant_id) if costly_time and is_costly else nullcontext(),
            self._lists_per_tenant.slot(caller.tenant_id)
            if self._lists_per_tenant
            else nullcontext(),
            self._uow_factory(caller, read_only=True) as uow,
        ):
            listed = await uow.cohorts.list_page(caller, query, codec=self._codec)

        def token_after(index: int) -> str:
            return self._page_tokens.encode(listed.position(index), query=fingerprint)

        cohorts = listed.cohorts
        if len(cohorts) <= limit:
            return Page(cohorts, "", token_after)
        return Page(cohorts[:limit], token_after(limit - 1), token_after)

    async def _write(
        self,
        caller: Caller,
        cohort_id: str,
        expected_version: int | None,
        apply: Callable[[Cohort, datetime], Cohort],
    ) -> StoredCohort:
        """Read, change and compare-and-set one cohort, re-reading on a lost race.

        The compare-and-set statement is the whole write, so no transaction
        spans the read: a concurrent change makes it match nothing, and the
        loop reads again.
        """
        async with (
            self._row_turns.turn((caller.tenant_id, cohort_id)),
            self._uow_factory(caller, autocommit=True) as uow,
        ):
            for attempt in range(_MAX_WRITE_ATTEMPTS):
                if attempt:
                    await asyncio.sleep(random.uniform(0, _RETRY_PAUSE_SECONDS * attempt))
                current = await _get_in_scope(uow.cohorts, caller, cohort_id)
                if expected_version is not None and current.version != expected_version:
                    raise VersionMismatch(expected=expected_version, current=current.version)
                changed = StoredCohort.with_encoding(apply(current, self._clock()), self._codec)
                if await uow.cohorts.replace(changed, expected_version=current.version):
                    return changed
        raise StorageUnavailable(
            f"cohort {cohort_id} is being changed by many writers at once; retry later"
        )


def _require_valid_id(cohort_id: str, *, field: str) -> None:
    violations = cohort_id_violations(cohort_id, field=field)
    if violations:
        raise InvalidArgument(violations)


async def _get_in_scope(repo: CohortRepository, caller: Caller, cohort_id: str) -> Cohort:
    cohort = await repo.get(caller, cohort_id)
    if cohort is None:
        raise NotFound(f"cohort {cohort_id} not found")
    return cohort


def _replayed(caller: Caller, earlier: Cohort) -> Cohort:
    if not _visible_to(caller, earlier):
        raise RequestIdReused(_REQUEST_ID_REUSED)
    return earlier
