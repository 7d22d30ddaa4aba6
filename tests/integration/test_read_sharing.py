"""Concurrent reads of one statement share a pipeline (storage/coalescing.py SharedReads).

Each read keeps its own parameters and rows; scopes never share a pipeline,
and one read's failure is only its own caller's.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.service.cohorts import CohortUseCases, ListRequest
from cohorts.service.deadlines import request_deadline
from cohorts.storage.coalescing import MAX_BATCH_READS, READ_PACING
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import StatementCounter, on_use_cases


def _tenant() -> str:
    return f"share-{uuid.uuid4().hex[:10]}"


async def _seed(cases: CohortUseCases, caller: Caller, count: int) -> list[str]:
    created = [await cases.create(caller, CohortContent(name=f"c{i}")) for i in range(count)]
    return [c.cohort.id for c in created]


async def _listed(cases: CohortUseCases, caller: Caller, page_size: int) -> list[str]:
    page = await cases.list(caller, ListRequest(page_size=page_size))
    return [c.cohort.id for c in page.cohorts]


def test_concurrent_lists_share_pipelines_and_each_gets_its_own_page(database_url: str):
    caller = Caller(_tenant(), "alice")
    page_sizes = list(range(1, 13)) * 2

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        await _seed(cases, caller, 12)
        alone = {size: await _listed(cases, caller, size) for size in set(page_sizes)}
        lists = StatementCounter(lambda sql: sql.lstrip().startswith("SELECT"))
        factory.statement_hooks.append(lists.hook)
        together = await asyncio.gather(*(_listed(cases, caller, size) for size in page_sizes))
        assert together == [alone[size] for size in page_sizes]
        assert [len(ids) for ids in together] == page_sizes
        # Shared, but no batch loads more than MAX_BATCH_READS pages at once.
        assert len(page_sizes) / MAX_BATCH_READS <= lists.sent < len(page_sizes) / 2, lists.sent

    on_use_cases(database_url, work)


def test_full_batches_wait_their_turn_behind_the_scopes_cap_in_the_order_they_filled(
    database_url: str,
):
    # A table lock holds every List in PostgreSQL while five batches' worth
    # arrive at once: full batches must not bypass the cap (each would take a
    # connection and a backend), and they leave first-filled, first-sent.
    caller = Caller(_tenant(), "alice")
    batches = 5

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        await _seed(cases, caller, 3)
        expected = await _listed(cases, caller, 10)
        lists = StatementCounter(lambda sql: sql.lstrip().startswith("SELECT"))
        factory.statement_hooks.append(lists.hook)
        finished: list[int] = []

        async def listed(index: int) -> list[str]:
            ids = await _listed(cases, caller, 10)
            finished.append(index)
            return ids

        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE cohorts IN ACCESS EXCLUSIVE MODE")
            pages = asyncio.gather(*(listed(i) for i in range(batches * MAX_BATCH_READS)))
            await asyncio.sleep(0.3)
            assert lists.on_wire == READ_PACING.max_in_flight
            blocker.commit()
        assert await pages == [expected] * (batches * MAX_BATCH_READS)
        assert lists.sent == batches
        assert lists.most_on_wire == READ_PACING.max_in_flight
        order = {index: position for position, index in enumerate(finished)}
        first_batch = range(MAX_BATCH_READS)
        last_batch = range((batches - 1) * MAX_BATCH_READS, batches * MAX_BATCH_READS)
        assert max(order[i] for i in first_batch) < min(order[i] for i in last_batch), finished

    on_use_cases(database_url, work, pool_size=batches + 2)


def test_concurrent_lists_of_other_tenants_and_apps_never_share_a_pipeline(database_url: str):
    tenant_a, tenant_b = _tenant(), _tenant()
    callers = [
        Caller(tenant_a, "alice"),
        Caller(tenant_a, "svc", app_id="app-1"),
        Caller(tenant_a, "svc", app_id="app-2"),
        Caller(tenant_b, "bob"),
    ]

    async def work(_: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        own = {caller: set(await _seed(cases, caller, 3)) for caller in callers[1:]}
        # The tenant-wide caller sees its apps' cohorts too.
        own[callers[0]] = own[callers[1]] | own[callers[2]]
        rounds = [caller for caller in callers for _ in range(5)]
        seen = await asyncio.gather(*(_listed(cases, caller, 50) for caller in rounds))
        assert [set(ids) for ids in seen] == [own[caller] for caller in rounds]

    on_use_cases(database_url, work)


def test_a_read_the_database_refuses_fails_alone(database_url: str):
    caller = Caller(_tenant(), "alice")
    values = ["1", "2", "not a number", "4"]

    async def work(factory: SqlUnitOfWorkFactory, _: CohortUseCases) -> list[Any]:
        async def read(value: str) -> Any:
            async with factory(caller, read_only=True) as unit:
                return await unit.fetch("SELECT %(value)s::int", {"value": value})

        return await asyncio.gather(*(read(value) for value in values), return_exceptions=True)

    one, two, refused, four = on_use_cases(database_url, work)
    assert (one, two, four) == ([(1,)], [(2,)], [(4,)])
    assert isinstance(refused, psycopg.errors.InvalidTextRepresentation)


def test_a_shared_read_runs_for_its_most_patient_caller(database_url: str):
    caller = Caller(_tenant(), "alice")

    async def work(factory: SqlUnitOfWorkFactory, _: CohortUseCases) -> tuple[Any, int]:
        sleeps = StatementCounter(lambda sql: sql.startswith("SELECT pg_sleep"))
        factory.statement_hooks.append(sleeps.hook)

        async def read(deadline: float | None) -> Any:
            with request_deadline(deadline):
                async with factory(caller, read_only=True) as unit:
                    return await unit.fetch("SELECT pg_sleep(0.3), %(n)s::int", {"n": 7})

        impatient = asyncio.ensure_future(asyncio.wait_for(read(0.15), 0.1))
        patient = asyncio.ensure_future(read(5.0))
        with pytest.raises(TimeoutError):
            await impatient
        return await patient, sleeps.sent

    rows, sent = on_use_cases(database_url, work)
    assert rows == [("", 7)]
    # Bounded by the impatient caller, the statement would be cancelled and
    # the patient read sent a second time.
    assert sent == 1
