"""Writes to one cohort take turns within a process, so a burst is not a compare-and-set race.

Without turns, every concurrent writer of a cohort reads the same version and all but
one lose the compare-and-set, again and again: a burst of writes that each mean "last
writer wins" would fail for no reason. In turns, each writer reads what the one before
it wrote. Writers in other processes can still interleave; the compare-and-set and its
retries cover those.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class RowTurns:
    """One asyncio lock per row being written, dropped when its last writer leaves."""

    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, row: Hashable) -> AsyncIterator[None]:
        """Wait until no other writer of row in this process is writing it."""
        lock, waiting = self._locks.get(row, (asyncio.Lock(), 0))
        self._locks[row] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._locks[row]
            if waiting == 1:
                del self._locks[row]
            else:
                self._locks[row] = (lock, waiting - 1)

    def __len__(self) -> int:
        return len(self._locks)
