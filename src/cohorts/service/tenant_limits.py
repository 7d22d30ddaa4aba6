"""Per-tenant bounds on costly work, so one tenant's Lists cannot take the service from the rest.

A worker runs at most `running` Lists of one tenant at a time; up to `waiting`
more queue behind them, and any beyond that are refused with TenantBusy. The
other tenants' calls never wait here. A List whose filter holds more than
COSTLY_RESTRICTIONS restrictions, which no index serves in full, also takes
one of the tenant's COSTLY_LISTS_RUNNING places for costly Lists. Why Lists,
and how the bounds were chosen: docs/performance.md, "Fairness between tenants".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cohorts.domain.errors import TenantBusy

COSTLY_RESTRICTIONS = 8
COSTLY_LISTS_RUNNING = 1


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
