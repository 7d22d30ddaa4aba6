"""One tenant's Lists queue behind its own bound (service/tenant_limits.py), never another's.

A table lock holds every List in PostgreSQL, so the calls in flight stay in
flight while the test looks at them.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2, status_pb2

from cohorts.api.errors import status_for
from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.domain.errors import TenantBusy
from cohorts.service.cohorts import CohortUseCases, ListRequest
from cohorts.service.tenant_limits import COSTLY_RESTRICTIONS, TenantConcurrency
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import StatementCounter, on_use_cases


def _caller() -> Caller:
    return Caller(f"fair-{uuid.uuid4().hex[:10]}", "alice")


async def _ids(cases: CohortUseCases, caller: Caller) -> list[str]:
    page = await cases.list(caller, ListRequest(page_size=50))
    return [c.cohort.id for c in page.cohorts]


def test_a_busy_tenant_queues_then_is_refused_while_another_tenant_is_not(database_url: str):
    busy, quiet = _caller(), _caller()
    limit = TenantConcurrency(running=1, waiting=1)

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        own = {
            c: [(await cases.create(c, CohortContent(name="x"))).cohort.id] for c in (busy, quiet)
        }
        lists = StatementCounter(lambda sql: sql.lstrip().startswith("SELECT"))
        factory.statement_hooks.append(lists.hook)
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE cohorts IN ACCESS EXCLUSIVE MODE")
            running = asyncio.create_task(_ids(cases, busy))
            queued = asyncio.create_task(_ids(cases, busy))
            other = asyncio.create_task(_ids(cases, quiet))
            await asyncio.sleep(0.3)
            # The busy tenant has one List in PostgreSQL and one waiting in the
            # worker; the other tenant's List went to PostgreSQL beside it.
            assert lists.on_wire == 2
            assert limit.in_use(busy.tenant_id) == 2
            with pytest.raises(TenantBusy):
                await _ids(cases, busy)
            blocker.commit()
        assert await running == own[busy]
        assert await queued == own[busy]
        assert await other == own[quiet]
        assert limit.in_use(busy.tenant_id) == 0

    on_use_cases(database_url, work, lists_per_tenant=limit)


def test_tenant_busy_is_resource_exhausted_with_its_reason_and_retry_info():
    status = status_for(TenantBusy("tenant t already has 3 list calls running or queued"))
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    (details,) = [v for k, v in status.trailing_metadata if k == "grpc-status-details-bin"]
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert isinstance(details, bytes)
    packed = status_pb2.Status.FromString(details).details
    assert packed[0].Unpack(info) and info.reason == "TENANT_BUSY"
    assert packed[1].Unpack(retry) and retry.retry_delay.seconds >= 1


def test_a_tenants_costly_lists_take_turns_while_its_cheap_list_runs_beside_them(
    database_url: str,
):
    caller = _caller()
    costly = ListRequest(
        page_size=10, filter=" OR ".join(f'name = "n{i}"' for i in range(COSTLY_RESTRICTIONS + 1))
    )

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        created = (await cases.create(caller, CohortContent(name="n1"))).cohort.id
        lists = StatementCounter(lambda sql: sql.lstrip().startswith("SELECT"))
        factory.statement_hooks.append(lists.hook)
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE cohorts IN ACCESS EXCLUSIVE MODE")
            heavy = [asyncio.create_task(cases.list(caller, costly)) for _ in range(2)]
            cheap = asyncio.create_task(_ids(cases, caller))
            await asyncio.sleep(0.3)
            # One costly List and the cheap one are in PostgreSQL; the second
            # costly List waits for the first instead of sharing its pipeline.
            assert lists.on_wire == 2
            blocker.commit()
        pages = await asyncio.gather(*heavy)
        assert [[c.cohort.id for c in page.cohorts] for page in pages] == [[created]] * 2
        assert await cheap == [created]
        assert lists.sent == 3

    on_use_cases(database_url, work, lists_per_tenant=TenantConcurrency(running=2, waiting=8))
