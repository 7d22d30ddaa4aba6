"""Batches of many tenants in one round trip (storage/round_trips.py), on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.domain.errors import DeadlineExceeded, NotFound
from cohorts.service.cohorts import CohortUseCases
from cohorts.storage import pipeline
from cohorts.storage.round_trips import ROUND_TRIP_PACING, SharedRoundTrips
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import on_use_cases


def _callers(count: int) -> list[Caller]:
    run = uuid.uuid4().hex[:8]
    return [Caller(f"trips-{run}-{n}", "alice") for n in range(count)]


class _Counted:
    """A factory's round trips, counted: how many, and how many segments each carried."""

    def __init__(self, factory: SqlUnitOfWorkFactory) -> None:
        self.segments: list[int] = []
        self._run = factory.run_segments

    async def run(
        self, segments: list[pipeline.Segment], wait: float | None
    ) -> list[pipeline.Outcome]:
        self.segments.append(len(segments))
        return await self._run(segments, wait)


def test_gets_of_many_tenants_share_a_round_trip_and_each_sees_only_its_own(database_url: str):
    callers = _callers(8)

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        ids = [(await cases.create(c, CohortContent(name=c.tenant_id))).cohort.id for c in callers]
        counted = _Counted(factory)
        factory.read_round_trips = SharedRoundTrips(counted.run)
        got = await asyncio.gather(
            *(cases.get(caller, cohort_id) for caller, cohort_id in zip(callers, ids, strict=True)),
            # Another tenant's id, in the same round trip as its owner's Get.
            cases.get(callers[0], ids[1]),
            return_exceptions=True,
        )
        *own, others = got
        assert [stored.cohort.content.name for stored in own] == [  # type: ignore[union-attr]
            c.tenant_id for c in callers
        ]
        assert isinstance(others, NotFound), others
        # One segment a scope (the first tenant's two Gets share one
        # statement), and scopes share round trips: the first leaves at once,
        # the others gather while it is out.
        assert sum(counted.segments) == len(callers)
        assert len(counted.segments) < len(callers), counted.segments

    on_use_cases(database_url, work)


def test_writes_of_many_tenants_share_a_round_trip_and_each_commits_its_own(database_url: str):
    callers = _callers(6)

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        counted = _Counted(factory)
        factory.write_round_trips = SharedRoundTrips(counted.run)
        created = await asyncio.gather(
            *(cases.create(c, CohortContent(name=c.tenant_id)) for c in callers)
        )
        assert max(counted.segments) > 1, counted.segments
        for caller, stored in zip(callers, created, strict=True):
            got = await cases.get(caller, stored.cohort.id)
            assert got.cohort.content.name == caller.tenant_id
            with pytest.raises(NotFound):  # stored under its own tenant only
                await cases.get(
                    callers[0] if caller != callers[0] else callers[1], stored.cohort.id
                )

    on_use_cases(database_url, work)


def test_many_tenants_reads_hold_no_more_connections_than_the_cap_of_round_trips(
    database_url: str, db: psycopg.Connection[Any]
):
    # A table lock holds every read in PostgreSQL while Gets of ever new
    # tenants keep arriving, each after the last round trip's window: without
    # the cap each would take a connection of its own.
    callers = _callers(10)
    pool_size = ROUND_TRIP_PACING.max_in_flight + 4

    async def work(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> None:
        ids = [(await cases.create(c, CohortContent(name="x"))).cohort.id for c in callers]
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE cohorts IN ACCESS EXCLUSIVE MODE")
            gets = []
            for caller, cohort_id in zip(callers, ids, strict=True):
                gets.append(asyncio.ensure_future(cases.get(caller, cohort_id)))
                await asyncio.sleep(ROUND_TRIP_PACING.window_seconds * 2)
            waiting = db.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                " AND query LIKE %s",
                ("%ANY (%",),
            ).fetchone()
            blocker.commit()
        got = await asyncio.gather(*gets)
        assert [c.cohort.id for c in got] == ids
        assert waiting == (ROUND_TRIP_PACING.max_in_flight,)

    on_use_cases(database_url, work, pool_size=pool_size)


@pytest.mark.parametrize("read_only", [True, False])
def test_a_segment_already_past_its_deadline_is_refused(database_url: str, read_only: bool):
    async def work(factory: SqlUnitOfWorkFactory, _: CohortUseCases) -> None:
        round_trips = factory.read_round_trips if read_only else factory.write_round_trips
        late = pipeline.Segment([("SELECT 1", {})], binary=False)
        with pytest.raises(DeadlineExceeded, match="deadline passed before it reached storage"):
            await round_trips.run(late, send_by=0.0)

    on_use_cases(database_url, work)
