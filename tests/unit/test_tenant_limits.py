"""TenantConcurrency: one tenant's Lists queue behind its own, never behind another tenant's."""

from __future__ import annotations

import asyncio

import pytest

from cohorts.domain.errors import TenantBusy
from cohorts.service.filter_parser import parse_filter
from cohorts.service.list_query import restriction_count
from cohorts.service.tenant_limits import TenantConcurrency, TenantTimeBudget


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


class _FakeTime:
    """A clock that moves only when the code under test sleeps or the test says so."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def _spend(budget: TenantTimeBudget, time: _FakeTime, tenant: str, seconds: float) -> None:
    async with budget.spend(tenant):
        time.now += seconds


def test_a_tenant_past_its_burst_waits_until_its_share_of_time_has_drained():
    time = _FakeTime()
    budget = TenantTimeBudget(share=0.25, burst_seconds=0.5, clock=time.clock, sleep=time.sleep)
    asyncio.run(_spend(budget, time, "heavy", 1.5))  # within nothing owed: no wait
    assert time.slept == [] and budget.debt("heavy") == 1.5
    asyncio.run(_spend(budget, time, "heavy", 0.1))
    assert time.slept == [pytest.approx((1.5 - 0.5) / 0.25)]  # waits 4 s for 1 s of excess
    asyncio.run(_spend(budget, time, "light", 0.1))  # another tenant never waits
    assert len(time.slept) == 1


def test_a_tenant_within_its_share_never_waits():
    time = _FakeTime()
    budget = TenantTimeBudget(share=0.25, burst_seconds=0.5, clock=time.clock, sleep=time.sleep)
    for _ in range(50):
        asyncio.run(_spend(budget, time, "steady", 0.2))
        time.now += 1.0  # 0.2 s of every 1.2 s: under a quarter
    assert time.slept == []
    assert budget.debt("steady") == 0.0


def test_a_budget_forgets_tenants_that_owe_nothing_once_it_remembers_many():
    time = _FakeTime()
    budget = TenantTimeBudget(share=0.5, burst_seconds=0.0, clock=time.clock, sleep=time.sleep)
    for n in range(3_000):
        asyncio.run(_spend(budget, time, f"t{n}", 0.001))
        time.now += 1.0
    assert len(budget._debts) <= 1_025
