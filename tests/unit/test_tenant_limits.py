"""TenantConcurrency: one tenant's Lists queue behind its own, never behind another tenant's."""

from __future__ import annotations

import asyncio

import pytest

from cohorts.domain.errors import TenantBusy
from cohorts.service.filter_parser import parse_filter
from cohorts.service.list_query import restriction_count
from cohorts.service.tenant_limits import TenantConcurrency


async def _hold(limit: TenantConcurrency, tenant: str, release: asyncio.Event) -> None:
    async with limit.slot(tenant):
        await release.wait()


def test_a_tenant_at_its_limit_queues_while_another_tenant_runs_at_once():
    asyncio.run(_a_tenant_at_its_limit_queues_while_another_tenant_runs_at_once())


async def _a_tenant_at_its_limit_queues_while_another_tenant_runs_at_once() -> None:
    limit = TenantConcurrency(running=2, waiting=1)
    release = asyncio.Event()
    holders = [asyncio.create_task(_hold(limit, "busy", release)) for _ in range(2)]
    await asyncio.sleep(0)
    queued = asyncio.create_task(_hold(limit, "busy", asyncio.Event()))
    await asyncio.sleep(0)

    async with limit.slot("quiet"):  # does not wait behind "busy"
        assert limit.in_use("quiet") == 1
    assert not queued.done()
    assert limit.in_use("busy") == 3

    release.set()
    await asyncio.gather(*holders)
    await asyncio.sleep(0)
    assert limit.in_use("busy") == 1  # the queued call got a place
    queued.cancel()
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert limit.in_use("busy") == 0


def test_a_tenant_beyond_running_and_waiting_is_refused_with_tenant_busy():
    asyncio.run(_a_tenant_beyond_running_and_waiting_is_refused_with_tenant_busy())


async def _a_tenant_beyond_running_and_waiting_is_refused_with_tenant_busy() -> None:
    limit = TenantConcurrency(running=1, waiting=1)
    release = asyncio.Event()
    tasks = [asyncio.create_task(_hold(limit, "busy", release)) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(TenantBusy, match="busy"):
        async with limit.slot("busy"):
            pass
    release.set()
    await asyncio.gather(*tasks)


def test_idle_tenants_leave_nothing_behind():
    asyncio.run(_idle_tenants_leave_nothing_behind())


async def _idle_tenants_leave_nothing_behind() -> None:
    limit = TenantConcurrency(running=1, waiting=0)
    for n in range(100):
        async with limit.slot(f"t{n}"):
            pass
    assert limit._gates == {}


def test_a_failing_call_gives_its_place_back():
    asyncio.run(_a_failing_call_gives_its_place_back())


async def _a_failing_call_gives_its_place_back() -> None:
    limit = TenantConcurrency(running=1, waiting=0)
    with pytest.raises(RuntimeError):
        async with limit.slot("t"):
            raise RuntimeError("boom")
    async with limit.slot("t"):
        assert limit.in_use("t") == 1


def test_limits_below_one_running_are_refused():
    with pytest.raises(ValueError, match="running"):
        TenantConcurrency(running=0, waiting=1)


def test_a_filters_restrictions_are_counted_through_and_or_and_not():
    filter_ = parse_filter('name = "a" AND (status = COHORT_STATUS_ACTIVE OR NOT tags:"x")')
    assert restriction_count(filter_) == 3
    assert restriction_count(None) == 0
