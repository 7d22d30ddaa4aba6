"""Helpers shared by integration tests: building cohorts, calling, reading errors and rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

import grpc
import psycopg
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from learning.v1 import cohort_pb2, cohort_service_pb2
from psycopg.rows import dict_row

from cohorts.api.wire import COHORT_WIRE
from cohorts.service.cohorts import CohortUseCases
from cohorts.service.page_tokens import PageTokenCodec
from cohorts.service.tenant_limits import TenantConcurrency
from cohorts.storage.database import as_role, open_pool
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory

ERROR_DOMAIN = "cohorts.learning.v1"
# A coalescer's gathering window stretched so that no timing on a busy
# machine can blur which of its gathering rules applied.
LONG_WINDOW = 0.5

T = TypeVar("T")

# Every field the server owns; an update must never change any of them except
# version, updated_at and updated_by.
SERVER_FIELDS = (
    "id",
    "tenant_id",
    "app_id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "is_deleted",
    "deleted_at",
    "deleted_by",
    "schema_version",
    "version",
)

# Every field a client owns (what `*` in an update mask names).
CLIENT_FIELDS = (
    "source",
    "source_type",
    "group_id",
    "program_id",
    "name",
    "start_date",
    "end_date",
    "status",
    "session_count",
    "facilitator_ids",
    "assigned_assessment_ids",
    "completion_required_pct",
    "current_completion_pct",
    "metadata",
    "tags",
)

Metadata = tuple[tuple[str, str], ...]


def ts(seconds: int) -> timestamp_pb2.Timestamp:
    """A timestamp at whole seconds since the epoch."""
    return timestamp_pb2.Timestamp(seconds=seconds)


def group_id() -> str:
    return f"grp-{uuid.uuid4()}"


def assessment_id() -> str:
    return f"asm-{uuid.uuid4()}"


def full_cohort(**overrides: Any) -> cohort_pb2.Cohort:
    """A cohort with every client field set to a non-default value."""
    cohort = cohort_pb2.Cohort(
        name="Spring 2027",
        source="crm",
        source_type=cohort_pb2.SOURCE_TYPE_BACKEND,
        group_id=group_id(),
        program_id="prog-data-101",
        start_date=ts(1_800_000_000),
        end_date=ts(1_810_000_000),
        status=cohort_pb2.COHORT_STATUS_SCHEDULED,
        session_count=12,
        facilitator_ids=["person-a", "person-b"],
        assigned_assessment_ids=[assessment_id(), assessment_id()],
        completion_required_pct=80.0,
        current_completion_pct=12.5,
        tags=["evening", "remote"],
    )
    cohort.metadata.update({"room": "A1", "nested": {"x": 1, "y": 2}})
    for name, value in overrides.items():
        if name == "metadata":
            cohort.ClearField("metadata")
            if value is not None:
                cohort.metadata.update(value)
        elif value is None:
            cohort.ClearField(name)
        elif isinstance(value, list | tuple):
            del getattr(cohort, name)[:]
            getattr(cohort, name).extend(value)
        elif isinstance(value, timestamp_pb2.Timestamp):
            getattr(cohort, name).CopyFrom(value)
        else:
            setattr(cohort, name, value)
    return cohort


def create(
    stub: Any,
    metadata: Metadata,
    cohort: cohort_pb2.Cohort | None = None,
    *,
    request_id: str = "",
) -> cohort_pb2.Cohort:
    """Create a cohort (a full one by default) and return it as stored."""
    request = cohort_service_pb2.CreateCohortRequest(
        cohort=cohort if cohort is not None else full_cohort(), request_id=request_id
    )
    created: cohort_pb2.Cohort = stub.CreateCohort(request, metadata=metadata)
    return created


def update_request(
    cohort: cohort_pb2.Cohort, paths: list[str] | None = None
) -> cohort_service_pb2.UpdateCohortRequest:
    """An UpdateCohortRequest; paths=None sends no mask at all."""
    request = cohort_service_pb2.UpdateCohortRequest(cohort=cohort)
    if paths is not None:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
    return request


def update(
    stub: Any,
    metadata: Metadata,
    cohort: cohort_pb2.Cohort,
    paths: list[str] | None = None,
) -> cohort_pb2.Cohort:
    updated: cohort_pb2.Cohort = stub.UpdateCohort(update_request(cohort, paths), metadata=metadata)
    return updated


def get(stub: Any, metadata: Metadata, cohort_id: str) -> cohort_pb2.Cohort:
    fetched: cohort_pb2.Cohort = stub.GetCohort(
        cohort_service_pb2.GetCohortRequest(id=cohort_id), metadata=metadata
    )
    return fetched


def list_all(stub: Any, metadata: Metadata, *, show_deleted: bool = True) -> list[str]:
    """Ids of every cohort the caller can list, following every page."""
    ids: list[str] = []
    token = ""
    while True:
        response = stub.ListCohorts(
            cohort_service_pb2.ListCohortsRequest(
                page_size=1000, page_token=token, show_deleted=show_deleted
            ),
            metadata=metadata,
        )
        ids.extend(c.id for c in response.cohorts)
        token = response.next_page_token
        if not token:
            return ids


def rpc_error(call: Callable[..., Any], request: Any, metadata: Metadata) -> grpc.RpcError:
    """The error a call fails with (the test fails if the call succeeds)."""
    with pytest.raises(grpc.RpcError) as caught:
        call(request, metadata=metadata)
    return caught.value


def _details(error: grpc.RpcError) -> list[Any]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "the error carries no google.rpc.Status details"
    return list(status.details)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo of an error (the test fails if there is none)."""
    for detail in _details(error):
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("the error carries no google.rpc.ErrorInfo")


def violated_fields(error: grpc.RpcError) -> list[str]:
    """The `field` of every BadRequest field violation the error carries."""
    fields: list[str] = []
    for detail in _details(error):
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields.extend(v.field for v in bad_request.field_violations)
    return fields


def stored_row(db: psycopg.Connection[Any], tenant: str, cohort_id: str) -> dict[str, Any] | None:
    """The cohort's row exactly as PostgreSQL holds it, or None."""
    with db.cursor(row_factory=dict_row) as cursor:
        cursor.execute(
            "SELECT * FROM cohorts WHERE tenant_id = %s AND id = %s", (tenant, cohort_id)
        )
        return cursor.fetchone()


def rows_with_id(db: psycopg.Connection[Any], cohort_id: str) -> list[dict[str, Any]]:
    """Every row with that id, whatever its tenant."""
    with db.cursor(row_factory=dict_row) as cursor:
        cursor.execute("SELECT * FROM cohorts WHERE id = %s", (cohort_id,))
        return cursor.fetchall()


def content_of(cohort: cohort_pb2.Cohort) -> cohort_pb2.Cohort:
    """A copy holding only the client fields, for comparing content."""
    copy = cohort_pb2.Cohort()
    copy.CopyFrom(cohort)
    for name in SERVER_FIELDS:
        copy.ClearField(name)
    return copy


def server_fields_of(cohort: cohort_pb2.Cohort) -> cohort_pb2.Cohort:
    """A copy holding only the server fields."""
    copy = cohort_pb2.Cohort()
    copy.CopyFrom(cohort)
    for name in CLIENT_FIELDS:
        copy.ClearField(name)
    return copy


def stamp(value: timestamp_pb2.Timestamp) -> tuple[int, int]:
    """A timestamp as a comparable tuple."""
    return (value.seconds, value.nanos)


def on_app_pool(database_url: str, work: Callable[[Any], Awaitable[T]], *, pool_size: int = 4) -> T:
    """work(pool) on a fresh pool of the service's role (row-level security applies)."""

    async def main() -> T:
        pool = await open_pool(as_role(database_url), pool_size=pool_size, pool_timeout_seconds=5)
        await pool.wait()
        try:
            return await work(pool)
        finally:
            await pool.close()

    return asyncio.run(main())


def on_use_cases(
    database_url: str,
    work: Callable[[SqlUnitOfWorkFactory, CohortUseCases], Awaitable[T]],
    *,
    pool_size: int = 4,
    lists_per_tenant: TenantConcurrency | None = None,
    **factory_options: Any,
) -> T:
    """work(factory, use cases) on a fresh app-role pool, without gRPC in between.

    factory_options go to SqlUnitOfWorkFactory (read_pacing=, write_pacing=).
    """

    async def on_pool(pool: Any) -> T:
        factory = SqlUnitOfWorkFactory(pool, **factory_options)
        cases = CohortUseCases(
            factory, PageTokenCodec(b"k"), COHORT_WIRE, lists_per_tenant=lists_per_tenant
        )
        return await work(factory, cases)

    return on_app_pool(database_url, on_pool, pool_size=pool_size)


class StatementCounter:
    """Counts the statements a factory sends that match, which failed, and the most out at once.

    Install hook in factory.statement_hooks; a shared pipeline counts once.
    """

    def __init__(self, matches: Callable[[str], bool]) -> None:
        self.matches = matches
        self.sent = 0
        self.failed = 0
        self.on_wire = 0
        self.most_on_wire = 0

    def hook(self, sql: str) -> AbstractContextManager[None]:
        return self._counted() if self.matches(sql) else nullcontext()

    @contextmanager
    def _counted(self) -> Iterator[None]:
        self.sent += 1
        self.on_wire += 1
        self.most_on_wire = max(self.most_on_wire, self.on_wire)
        try:
            yield
        except BaseException:
            self.failed += 1
            raise
        finally:
            self.on_wire -= 1
