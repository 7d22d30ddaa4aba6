"""Per-tenant bounds on costly work, so one tenant's Lists cannot take the service from the rest.

A worker runs at most `running` Lists of one tenant at a time; up to `waiting`
more queue behind them, and any beyond that are refused with TenantBusy. The
other tenants' calls never wait here. A List whose filter holds more than
COSTLY_RESTRICTIONS restrictions, which no index serves in full, also takes
one of the tenant's COSTLY_LISTS_RUNNING places for costly Lists, and waits
while the tenant's costly Lists have used more than their share of the
worker's time (TenantTimeBudget). Why Lists, and how the bounds were chosen:
docs/performance.md, "Fairness between tenants".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from cohorts.domain.errors import TenantBusy

COSTLY_RESTRICTIONS = 8
COSTLY_LISTS_RUNNING = 1
# A tenant's costly Lists may keep a worker's database busy a quarter of the
# time, after a first half second of it.
COSTLY_SHARE = 0.25
COSTLY_BURST_SECONDS = 0.5
# Tenants a budget remembers before it forgets those that owe nothing.
_MAX_REMEMBERED = 1_024


class _TenantGate:
    __slots__ = ("semaphore", "users")

    def __init__(self, running: int) -> None:
        self.semaphore = asyncio.Semaphore(running)
        self.users = 0  # running and waiting


class TenantConcurrency:
    """At most `running` calls of one tenant at once in this process, `waiting` more queued."""

    def __init__(self, *, running: int, waiting: int) -> None:
        if running < 1 or waiting < 0:
            raise ValueError("running must be at least 1 and waiting at least 0")
        self._running = running
        self.waiting = waiting
        self._capacity = running + waiting
        self._gates: dict[str, _TenantGate] = {}

    def in_use(self, tenant_id: str) -> int:
        """Calls of the tenant running or waiting here now."""
        gate = self._gates.get(tenant_id)
        return gate.users if gate else 0

    @asynccontextmanager
    async def slot(self, tenant_id: str) -> AsyncIterator[None]:
        """Hold one of the tenant's places for the duration; TenantBusy when none is left."""
        gate = self._gates.get(tenant_id)
        if gate is None:
            gate = self._gates[tenant_id] = _TenantGate(self._running)
        elif gate.users >= self._capacity:
            raise TenantBusy(
                f"tenant {tenant_id} already has {gate.users} list calls running or queued "
                "on this worker; retry after some finish"
            )
        gate.users += 1
        try:
            await gate.semaphore.acquire()
            try:
                yield
            finally:
                gate.semaphore.release()
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[tenant_id]  # idle tenants hold no memory


class TenantTimeBudget:
    """A tenant's costly calls may keep a worker busy for `share` of each second, on average.

    Each call's time is added to its tenant's debt, which drains at `share`
    seconds a second; a call that finds more than `burst_seconds` of debt
    waits for the excess to drain before it starts. A tenant that sends
    costly calls without pause is then held to that share of the worker's
    database time, however many it sends; one that sends them now and then
    never waits.
    """

    def __init__(
        self,
        *,
        share: float,
        burst_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1 or burst_seconds < 0:
            raise ValueError("share must be in (0, 1] and burst_seconds at least 0")
        self._share = share
        self._burst = burst_seconds
        self._clock = clock
        self._sleep = sleep
        self._debts: dict[str, tuple[float, float]] = {}  # tenant: (seconds owed, as of)

    def debt(self, tenant_id: str) -> float:
        """Seconds the tenant owes now."""
        return self._owed(tenant_id, self._clock())

    def _owed(self, tenant_id: str, now: float) -> float:
        owed, since = self._debts.get(tenant_id, (0.0, now))
        return max(0.0, owed - (now - since) * self._share)

    @asynccontextmanager
    async def spend(self, tenant_id: str) -> AsyncIterator[None]:
        """Wait while the tenant owes more than the burst, then charge it the time inside."""
        excess = self._owed(tenant_id, self._clock()) - self._burst
        if excess > 0:
            await self._sleep(excess / self._share)
        started = self._clock()
        try:
            yield
        finally:
            ended = self._clock()
            self._debts[tenant_id] = (self._owed(tenant_id, ended) + ended - started, ended)
            if len(self._debts) > _MAX_REMEMBERED:
                self._forget_paid(ended)

    def _forget_paid(self, now: float) -> None:
        for tenant_id in [t for t in self._debts if self._owed(t, now) == 0.0]:
            del self._debts[tenant_id]
