"""Reads and writes by key run on one generic plan; Lists leave PostgreSQL to choose.

PostgreSQL reports, per prepared statement of a session, how often it ran on
its generic plan and how often it was planned for the values at hand
(pg_prepared_statements). With a pool of one connection every statement these
tests send runs in that session, so the counters show what each kind of
statement paid.
"""

from __future__ import annotations

import uuid
from typing import Any

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.service.cohorts import CohortUseCases, ListRequest
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import on_use_cases

# More runs than psycopg waits before preparing a statement (5), and than
# PostgreSQL plans afresh before it may settle on a generic plan (5).
_RUNS = 12

Plans = dict[str, tuple[int, int]]


async def _plans(factory: SqlUnitOfWorkFactory) -> Plans:
    """statement text -> (generic plans, custom plans) in the pool's one session."""
    async with factory.pool.connection() as connection:
        cursor = await connection.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
        return {row[0]: (row[1], row[2]) for row in await cursor.fetchall()}


def _of(plans: Plans, starts: str, contains: str = "") -> tuple[int, int]:
    (counts,) = [c for sql, c in plans.items() if sql.startswith(starts) and contains in sql]
    return counts


def work_on_one_connection(database_url: str, work: Any) -> Plans:
    plans: Plans = on_use_cases(database_url, work, pool_size=1)
    return plans


def _caller() -> Caller:
    return Caller(f"plans-{uuid.uuid4().hex[:10]}", "alice")


def test_reads_by_id_are_never_planned_for_their_values(database_url: str):
    caller = _caller()

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> Plans:
        created = [await cases.create(caller, CohortContent(name=f"c{i}")) for i in range(_RUNS)]
        for stored in created:
            await cases.get(caller, stored.cohort.id)
        return await _plans(factory)

    generic, custom = _of(work_on_one_connection(database_url, work), "SELECT cohorts.id, CASE")

    assert custom == 0
    assert generic >= _RUNS - 5


def test_writes_by_id_are_never_planned_for_their_values(database_url: str):
    caller = _caller()

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> Plans:
        created = [await cases.create(caller, CohortContent(name=f"c{i}")) for i in range(_RUNS)]
        for stored in created:
            await cases.update(caller, stored.cohort.id, {"name": "renamed"}, expected_version=None)
        return await _plans(factory)

    plans = work_on_one_connection(database_url, work)

    for statement in ("INSERT INTO cohorts", "UPDATE cohorts"):
        generic, custom = _of(plans, statement)
        assert custom == 0, statement
        assert generic >= _RUNS - 5, statement


def test_a_list_is_planned_as_postgresql_chooses(database_url: str):
    caller = _caller()

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> Plans:
        for i in range(3):
            await cases.create(caller, CohortContent(name=f"c{i}"))
        for _ in range(_RUNS):
            await cases.list(caller, ListRequest(page_size=2))
        return await _plans(factory)

    plans = work_on_one_connection(database_url, work)

    # Left to choose, PostgreSQL plans this page for each tenant it is asked for.
    generic, custom = _of(plans, "SELECT cohorts.created_at", "LIMIT")
    assert custom > 0
    assert generic + custom >= _RUNS - 5
