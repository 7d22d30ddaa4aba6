"""PostgreSQL row-level security: the second wall behind the repository's tenant predicates."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from psycopg.errors import InsufficientPrivilege

from cohorts.api.wire import COHORT_WIRE
from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.service.cohorts import CohortUseCases
from cohorts.service.page_tokens import PageTokenCodec
from cohorts.storage.database import APP_ROLE
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import on_app_pool


def _tenant() -> str:
    return f"rls-{uuid.uuid4().hex[:10]}"


def _run(database_url: str, work: Callable[[Any], Awaitable[Any]], *, pool_size: int = 1) -> Any:
    """Run work(pool) on an app-role pool of pool_size connections."""
    return on_app_pool(database_url, work, pool_size=pool_size)


async def _seed(pool: Any, caller: Caller, count: int) -> list[str]:
    cases = CohortUseCases(SqlUnitOfWorkFactory(pool), PageTokenCodec(b"k"), COHORT_WIRE)
    created = [await cases.create(caller, CohortContent(name=f"c{i}")) for i in range(count)]
    return [c.cohort.id for c in created]


async def _unfiltered_ids(pool: Any, caller: Caller, *, read_only: bool = False) -> set[str]:
    """Every id a raw SELECT without any tenant predicate returns in caller's unit of work."""
    async with SqlUnitOfWorkFactory(pool)(caller, read_only=read_only) as uow:
        return {row[0] for row in await uow.fetch("SELECT id FROM cohorts", {})}


def test_the_service_role_is_not_a_superuser_and_owns_nothing(db: psycopg.Connection[Any]):
    row = db.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
    ).fetchone()
    assert row == (False, False)
    owned = db.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " WHERE r.rolname = %s",
        (APP_ROLE,),
    ).fetchone()
    assert owned == (0,)
    forced = db.execute(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'cohorts'"
    ).fetchone()
    assert forced == (True, True)


def test_a_query_without_any_tenant_predicate_still_sees_only_the_callers_tenant(
    database_url: str,
):
    tenant_a, tenant_b = _tenant(), _tenant()

    async def work(pool: Any) -> tuple[set[str], list[str], list[str]]:
        ids_a = await _seed(pool, Caller(tenant_a, "alice"), 3)
        ids_b = await _seed(pool, Caller(tenant_b, "bob"), 2)
        return await _unfiltered_ids(pool, Caller(tenant_a, "alice")), ids_a, ids_b

    seen, ids_a, _ = _run(database_url, work)
    assert seen == set(ids_a)


def test_a_query_without_any_app_predicate_still_sees_only_the_callers_app(database_url: str):
    tenant = _tenant()

    async def work(pool: Any) -> tuple[set[str], list[str]]:
        mine = await _seed(pool, Caller(tenant, "svc", app_id="app-1"), 2)
        await _seed(pool, Caller(tenant, "svc", app_id="app-2"), 2)
        await _seed(pool, Caller(tenant, "person"), 1)
        return await _unfiltered_ids(pool, Caller(tenant, "svc", app_id="app-1")), mine

    seen, mine = _run(database_url, work)
    assert seen == set(mine)


def test_a_pooled_connection_never_carries_a_previous_requests_tenant(database_url: str):
    tenant_a, tenant_b = _tenant(), _tenant()

    async def work(pool: Any) -> list[Any]:
        ids_a = await _seed(pool, Caller(tenant_a, "alice"), 2)
        ids_b = await _seed(pool, Caller(tenant_b, "bob"), 3)
        observations: list[Any] = []
        # One connection in the pool: every transaction below reuses it.
        for caller, expected in [
            (Caller(tenant_a, "alice"), ids_a),
            (Caller(tenant_b, "bob"), ids_b),
            (Caller(tenant_a, "alice"), ids_a),
        ]:
            observations.append(await _unfiltered_ids(pool, caller) == set(expected))
        async with pool.connection() as connection:
            # Outside any scoped transaction the settings are empty: no rows at all.
            cursor = await connection.execute(
                "SELECT current_setting('app.tenant_id', true), (SELECT count(*) FROM cohorts)"
            )
            setting, visible = await cursor.fetchone()
        observations += [setting or "", visible]
        return observations

    assert _run(database_url, work, pool_size=1) == [True, True, True, "", 0]


def test_a_row_for_another_tenant_cannot_be_written_through_the_policy(database_url: str):
    async def work(pool: Any) -> None:
        async with SqlUnitOfWorkFactory(pool)(Caller(_tenant(), "mallory")) as uow:
            await uow.fetch(
                "INSERT INTO cohorts (tenant_id, id, created_at, updated_at, created_by,"
                " updated_by, source, source_type, schema_version, name, status, version)"
                " VALUES ('someone-else', 'coh_X', now(), now(), 'm', 'm', 'edm', 5, 1,"
                " 'x', 1, 1)",
                {},
            )

    with pytest.raises(InsufficientPrivilege, match="row-level security"):
        _run(database_url, work)


def test_the_service_role_cannot_hard_delete_rows(database_url: str):
    async def work(pool: Any) -> None:
        async with SqlUnitOfWorkFactory(pool)(Caller(_tenant(), "mallory")) as uow:
            await uow.fetch("DELETE FROM cohorts", {})

    with pytest.raises(InsufficientPrivilege, match="permission denied"):
        _run(database_url, work)


def test_a_read_only_unit_is_scoped_and_leaves_nothing_on_the_connection(database_url: str):
    tenant_a, tenant_b = _tenant(), _tenant()

    async def work(pool: Any) -> list[Any]:
        ids_a = await _seed(pool, Caller(tenant_a, "alice"), 2)
        ids_b = await _seed(pool, Caller(tenant_b, "bob"), 1)
        seen = [
            await _unfiltered_ids(pool, Caller(tenant_a, "alice"), read_only=True) == set(ids_a),
            await _unfiltered_ids(pool, Caller(tenant_b, "bob"), read_only=True) == set(ids_b),
        ]
        async with pool.connection() as connection:
            cursor = await connection.execute("SELECT count(*) FROM cohorts")
            seen.append((await cursor.fetchone())[0])
        return seen

    # The scope and the query run as one implicit transaction (one pipeline):
    # afterwards the same pooled connection sees no tenant at all.
    assert _run(database_url, work, pool_size=1) == [True, True, 0]
