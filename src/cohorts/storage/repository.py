"""SqlCohortRepository: cohorts in PostgreSQL, always confined to one caller's scope."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Row, and_, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import Cohort, CohortContent, CohortStatus, SourceType
from cohorts.service.ports import ListQuery
from cohorts.storage.list_sql import after_position, compile_filter, order_by_clauses
from cohorts.storage.tables import cohorts

_c = cohorts.c
# Every column but the generated sort keys, which hold values (-infinity)
# Python cannot represent and which the domain does not need.
_STORED = [column for column in cohorts.c if column.computed is None]


def _scope(caller: Caller) -> ColumnElement[bool]:
    """The tenant (and app) predicate every statement carries."""
    if caller.app_id is None:
        return _c.tenant_id == caller.tenant_id
    return and_(_c.tenant_id == caller.tenant_id, _c.app_id == caller.app_id)


def _to_row(cohort: Cohort) -> dict[str, Any]:
    content = cohort.content
    return {
        "tenant_id": cohort.tenant_id,
        "id": cohort.id,
        "app_id": cohort.app_id,
        "created_at": cohort.created_at,
        "updated_at": cohort.updated_at,
        "created_by": cohort.created_by,
        "updated_by": cohort.updated_by,
        "is_deleted": cohort.is_deleted,
        "deleted_at": cohort.deleted_at,
        "deleted_by": cohort.deleted_by,
        "schema_version": cohort.schema_version,
        "version": cohort.version,
        "name": content.name,
        "source": content.source,
        "source_type": int(content.source_type),
        "group_id": content.group_id,
        "program_id": content.program_id,
        "start_date": content.start_date,
        "end_date": content.end_date,
        "status": int(content.status),
        "session_count": content.session_count,
        "facilitator_ids": list(content.facilitator_ids),
        "assigned_assessment_ids": list(content.assigned_assessment_ids),
        "completion_required_pct": content.completion_required_pct,
        "current_completion_pct": content.current_completion_pct,
        "metadata": content.metadata,
        "tags": list(content.tags),
    }


def _from_row(row: Row[Any]) -> Cohort:
    m = row._mapping
    return Cohort(
        id=m["id"],
        tenant_id=m["tenant_id"],
        app_id=m["app_id"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        created_by=m["created_by"],
        updated_by=m["updated_by"],
        is_deleted=m["is_deleted"],
        deleted_at=m["deleted_at"],
        deleted_by=m["deleted_by"],
        schema_version=m["schema_version"],
        version=m["version"],
        content=CohortContent(
            name=m["name"],
            source=m["source"],
            source_type=SourceType(m["source_type"]),
            group_id=m["group_id"],
            program_id=m["program_id"],
            start_date=m["start_date"],
            end_date=m["end_date"],
            status=CohortStatus(m["status"]),
            session_count=m["session_count"],
            facilitator_ids=tuple(m["facilitator_ids"]),
            assigned_assessment_ids=tuple(m["assigned_assessment_ids"]),
            completion_required_pct=m["completion_required_pct"],
            current_completion_pct=m["current_completion_pct"],
            metadata=m["metadata"],
            tags=tuple(m["tags"]),
        ),
    )


class SqlCohortRepository:
    """CohortRepository over one SQLAlchemy connection inside a transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, caller: Caller, cohort_id: str) -> Cohort | None:
        result = await self._connection.execute(
            select(*_STORED).where(_scope(caller), _c.id == cohort_id)
        )
        row = result.first()
        return None if row is None else _from_row(row)

    async def add(self, cohort: Cohort, *, request_id: str | None) -> bool:
        values = _to_row(cohort) | {"request_id": request_id}
        if request_id is None:
            await self._connection.execute(insert(cohorts).values(values))
            return True
        result = await self._connection.execute(
            pg_insert(cohorts)
            .values(values)
            .on_conflict_do_nothing(constraint="cohorts_request_id_key")
            .returning(_c.id)
        )
        return result.first() is not None

    async def get_by_request_id(self, tenant_id: str, request_id: str) -> Cohort | None:
        result = await self._connection.execute(
            select(*_STORED).where(_c.tenant_id == tenant_id, _c.request_id == request_id)
        )
        row = result.first()
        return None if row is None else _from_row(row)

    async def replace(self, cohort: Cohort, *, expected_version: int) -> bool:
        values = _to_row(cohort)
        for key in ("tenant_id", "id", "app_id", "created_at", "created_by"):
            del values[key]
        result = await self._connection.execute(
            update(cohorts)
            .where(
                _c.tenant_id == cohort.tenant_id,
                _c.id == cohort.id,
                _c.version == expected_version,
            )
            .values(values)
        )
        return result.rowcount == 1

    async def list_page(self, caller: Caller, query: ListQuery) -> list[Cohort]:
        statement = select(*_STORED).where(_scope(caller))
        if not query.show_deleted:
            statement = statement.where(_c.is_deleted.is_(False))
        # The filter is AND-ed beside the scope, so no filter can widen it.
        if query.filter is not None:
            statement = statement.where(compile_filter(query.filter))
        if query.after is not None:
            statement = statement.where(after_position(query.order, query.after))
        statement = statement.order_by(*order_by_clauses(query.order)).limit(query.limit)
        result = await self._connection.execute(statement)
        return [_from_row(row) for row in result]
