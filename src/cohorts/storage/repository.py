"""SqlCohortRepository: cohorts in PostgreSQL, always confined to one caller's scope."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, Protocol

from psycopg.types.json import Jsonb
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    null,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import Cohort, CohortContent, CohortStatus, SourceType
from cohorts.service.ports import ListedCohorts, ListQuery
from cohorts.service.stored_cohort import CohortCodec, StoredCohort
from cohorts.storage.coalescing import RowWrite
from cohorts.storage.list_sql import (
    after_position,
    compile_filter,
    order_by_clauses,
    position_params,
)
from cohorts.storage.pipeline import SelfTypedSql
from cohorts.storage.statements import quoted, render_once, render_template, type_name
from cohorts.storage.tables import cohorts

_c = cohorts.c
_WIRE_COLUMNS = ("wire", "wire_format")
# Every column the domain's Cohort is built from: not the generated sort keys,
# which hold values (-infinity) Python cannot represent, nor the encoding.
COHORT_COLUMNS = [
    column for column in cohorts.c if column.computed is None and column.name not in _WIRE_COLUMNS
]
_INSERTED = [column.name for column in COHORT_COLUMNS] + list(_WIRE_COLUMNS)
# What a write may change; the identity and creation stamps never change.
_REPLACED = [
    name
    for name in _INSERTED
    if name not in ("tenant_id", "id", "app_id", "created_at", "created_by", "request_id")
]


class Statements(Protocol):
    """Runs SQL inside the unit of work's transaction (or implicit one)."""

    async def fetch(
        self, sql: str, params: dict[str, Any], *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """The statement's rows; binary asks for binary-format results."""
        ...

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
        """The row of a statement over a list of keys (keys_param) whose key column is key."""
        ...

    async def write_row(self, write: RowWrite, params: dict[str, Any], *, key: str) -> bool:
        """Whether write's statement, run with params, returned a row: whether it wrote.

        key: the row's id.
        """
        ...


def _bound_scope(*, with_app: bool) -> ColumnElement[bool]:
    """The tenant (and app) predicate every statement carries, as parameters."""
    condition = _c.tenant_id == bindparam("tenant_id", required=False)
    if not with_app:
        return condition
    return and_(condition, _c.app_id == bindparam("app_id", required=False))


# The stored encoding if it is of the wire_format parameter's format, else
# NULL: stale bytes never leave the database.
_CURRENT_WIRE = case(
    (_c.wire_format == bindparam("wire_format", required=False), _c.wire), else_=null()
)

_IN_IDS = _c.id == any_(bindparam("ids", type_=ARRAY(_c.id.type)))

# Rendered once at import: the request path only fills in values.
# By a list of ids, so that concurrent reads can share one statement (keyed_reads.py).
_GET = {
    with_app: render_template(
        select(*COHORT_COLUMNS).where(_bound_scope(with_app=with_app), _IN_IDS)
    )
    for with_app in (False, True)
}
_GET_ENCODED = {
    with_app: render_template(
        select(_c.id, _CURRENT_WIRE).where(_bound_scope(with_app=with_app), _IN_IDS)
    )
    for with_app in (False, True)
}
_GET_BY_REQUEST_ID = render_template(
    select(*COHORT_COLUMNS).where(
        _c.tenant_id == bindparam("tenant_id"), _c.request_id == bindparam("request_id")
    )
)


# A request_id already used makes the insert write nothing (and return nothing).
def _insert(rows: int | None) -> str:
    """The insert of one row (rows None), or of rows rows with parameters suffixed _0, _1, …"""
    values: Any = (
        {name: bindparam(name) for name in _INSERTED}
        if rows is None
        else [{name: bindparam(f"{name}_{i}") for name in _INSERTED} for i in range(rows)]
    )
    return render_template(
        pg_insert(cohorts)
        .values(values)
        .on_conflict_do_nothing(constraint="cohorts_request_id_key")
        .returning(_c.id)
    )


@cache
def _insert_many(rows: int) -> str:
    return SelfTypedSql(_insert(rows))


_INSERT = RowWrite(_insert(None), many=_insert_many)

_REPLACE_SQL = render_template(
    update(cohorts)
    .where(
        _c.tenant_id == bindparam("tenant_id"),
        _c.id == bindparam("id"),
        _c.version == bindparam("expected_version"),
    )
    .values({name: bindparam(name) for name in _REPLACED})
    .returning(_c.version)
)


@cache
def _replace_many(rows: int) -> str:
    """The replace of rows rows of one tenant, their parameters suffixed _0, _1, …

    An UPDATE takes many rows' new values only from a list joined to the
    table. The batch is one scope, so the tenant is one parameter, and the
    statement keeps the top-level `tenant_id =` every statement here carries.
    """
    keyed = ["id", "expected_version", *_REPLACED]
    casts = {name: type_name(_c[name].type) for name in ["id", *_REPLACED]}
    casts["expected_version"] = casts["version"]
    values = ", ".join(
        "(" + ", ".join(f"CAST(%({name}_{i})s AS {casts[name]})" for name in keyed) + ")"
        for i in range(rows)
    )
    return SelfTypedSql(
        f"UPDATE cohorts SET {', '.join(f'{quoted(n)} = v.{quoted(n)}' for n in _REPLACED)}"
        f" FROM (VALUES {values}) AS v({', '.join(quoted(n) for n in keyed)})"
        " WHERE cohorts.tenant_id = %(tenant_id)s"
        " AND cohorts.id = v.id AND cohorts.version = v.expected_version"
        " RETURNING cohorts.id"
    )


_REPLACE = RowWrite(_REPLACE_SQL, many=_replace_many, shared=("tenant_id",))


def _to_row(stored: StoredCohort, request_id: str | None = None) -> dict[str, Any]:
    cohort = stored.cohort
    content = cohort.content
    return {
        "tenant_id": cohort.tenant_id,
        "id": cohort.id,
        "app_id": cohort.app_id,
        "request_id": request_id,
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
        "facilitator_ids": Jsonb(list(content.facilitator_ids)),
        "assigned_assessment_ids": Jsonb(list(content.assigned_assessment_ids)),
        "completion_required_pct": content.completion_required_pct,
        "current_completion_pct": content.current_completion_pct,
        "metadata": Jsonb(content.metadata),
        "tags": Jsonb(list(content.tags)),
        "wire": stored.encoded(stored.codec),
        "wire_format": stored.codec.format,
    }


_INDEX = {column.name: index for index, column in enumerate(COHORT_COLUMNS)}
_I = _INDEX  # short alias for the row mapping below


def cohort_from_row(row: Sequence[Any]) -> Cohort:
    """The Cohort of a row of COHORT_COLUMNS."""
    return Cohort(
        id=row[_I["id"]],
        tenant_id=row[_I["tenant_id"]],
        app_id=row[_I["app_id"]],
        created_at=row[_I["created_at"]],
        updated_at=row[_I["updated_at"]],
        created_by=row[_I["created_by"]],
        updated_by=row[_I["updated_by"]],
        is_deleted=row[_I["is_deleted"]],
        deleted_at=row[_I["deleted_at"]],
        deleted_by=row[_I["deleted_by"]],
        schema_version=row[_I["schema_version"]],
        version=row[_I["version"]],
        content=CohortContent(
            name=row[_I["name"]],
            source=row[_I["source"]],
            source_type=SourceType(row[_I["source_type"]]),
            group_id=row[_I["group_id"]],
            program_id=row[_I["program_id"]],
            start_date=row[_I["start_date"]],
            end_date=row[_I["end_date"]],
            status=CohortStatus(row[_I["status"]]),
            session_count=row[_I["session_count"]],
            facilitator_ids=tuple(row[_I["facilitator_ids"]]),
            assigned_assessment_ids=tuple(row[_I["assigned_assessment_ids"]]),
            completion_required_pct=row[_I["completion_required_pct"]],
            current_completion_pct=row[_I["current_completion_pct"]],
            metadata=row[_I["metadata"]],
            tags=tuple(row[_I["tags"]]),
        ),
    )


def _list_statement(
    query: ListQuery, *, with_app: bool, unset: Sequence[bool] | None
) -> Select[Any]:
    """ListCohorts' statement for the query's shape; scope, position and limit are parameters.

    unset says which of the query's position values are NULL (None: no position).

    It reads the sort keys' own columns (unset is NULL, as the domain has it)
    for the page token, the id, and the encoding: no row is rebuilt unless stale.
    """
    position = [cohorts.c[key.field] for key in query.order] + [_c.id]
    statement = select(*position, _CURRENT_WIRE).where(_bound_scope(with_app=with_app))
    if not query.show_deleted:
        statement = statement.where(_c.is_deleted.is_(False))
    # The filter is AND-ed beside the scope, so no filter can widen it.
    if query.filter is not None:
        statement = statement.where(compile_filter(query.filter))
    if unset is not None:
        statement = statement.where(after_position(query.order, unset))
    limit = bindparam("limit", type_=Integer, required=False)
    return statement.order_by(*order_by_clauses(query.order)).limit(limit)


class SqlCohortRepository:
    """CohortRepository over one unit of work's statements."""

    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    async def get(self, caller: Caller, cohort_id: str) -> Cohort | None:
        row = await self._statements.fetch_keyed(
            _GET[caller.app_id is not None],
            {"tenant_id": caller.tenant_id, "app_id": caller.app_id},
            keys_param="ids",
            key=cohort_id,
            key_index=_I["id"],
        )
        return cohort_from_row(row) if row is not None else None

    async def get_stored(
        self, caller: Caller, cohort_id: str, *, codec: CohortCodec
    ) -> StoredCohort | None:
        row = await self._statements.fetch_keyed(
            _GET_ENCODED[caller.app_id is not None],
            {"tenant_id": caller.tenant_id, "app_id": caller.app_id, "wire_format": codec.format},
            keys_param="ids",
            key=cohort_id,
            key_index=0,
            binary=True,  # bytea arrives as it is stored, with no hex to decode
        )
        if row is None:
            return None
        wire: bytes | None = row[1]
        if wire is not None:
            return StoredCohort(codec, wire)
        cohort = await self.get(caller, cohort_id)
        return StoredCohort(codec, cohort=cohort) if cohort is not None else None

    async def add(self, cohort: StoredCohort, *, request_id: str | None) -> bool:
        values = _to_row(cohort, request_id)
        return await self._statements.write_row(_INSERT, values, key=cohort.cohort.id)

    async def get_by_request_id(self, tenant_id: str, request_id: str) -> Cohort | None:
        rows = await self._statements.fetch(
            _GET_BY_REQUEST_ID, {"tenant_id": tenant_id, "request_id": request_id}
        )
        return cohort_from_row(rows[0]) if rows else None

    async def replace(self, cohort: StoredCohort, *, expected_version: int) -> bool:
        values = _to_row(cohort)
        values["expected_version"] = expected_version
        return await self._statements.write_row(_REPLACE, values, key=cohort.cohort.id)

    async def list_page(
        self, caller: Caller, query: ListQuery, *, codec: CohortCodec
    ) -> ListedCohorts:
        with_app = caller.app_id is not None
        unset = None if query.after is None else tuple(value is None for value in query.after)
        # repr tells apart filter values that == does not (1, 1.0 and True).
        shape = (repr(query.filter), query.order, query.show_deleted, with_app, unset)
        sql, fixed = render_once(
            shape, lambda: _list_statement(query, with_app=with_app, unset=unset)
        )
        params = {
            **fixed,
            "tenant_id": caller.tenant_id,
            "app_id": caller.app_id,
            "wire_format": codec.format,
            "limit": query.limit,
        }
        if query.after is not None:
            params.update(position_params(query.after))
        # Each row: its position (the sort-key values, then the id), and last
        # its encoding, NULL when stale.
        rows = await self._statements.fetch(sql, params, binary=True)
        stale = [row[-2] for row in rows if row[-1] is None]
        if not stale:
            return ListedCohorts(
                [StoredCohort(codec, row[-1]) for row in rows], lambda i: rows[i][:-1]
            )
        rebuilt = await self._get_many(caller, stale)
        # A stale row removed between the two statements is left out, as a
        # list taken a moment later would.
        kept = [row for row in rows if row[-1] is not None or row[-2] in rebuilt]
        return ListedCohorts(
            [StoredCohort(codec, row[-1], rebuilt.get(row[-2])) for row in kept],
            lambda i: kept[i][:-1],
        )

    async def _get_many(self, caller: Caller, cohort_ids: list[str]) -> dict[str, Cohort]:
        rows = await self._statements.fetch(
            _GET[caller.app_id is not None],
            {"tenant_id": caller.tenant_id, "app_id": caller.app_id, "ids": cohort_ids},
        )
        return {cohort.id: cohort for cohort in map(cohort_from_row, rows)}
