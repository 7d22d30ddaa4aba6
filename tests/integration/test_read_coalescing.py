"""Concurrent Gets share statements (storage/coalescing.py) without sharing scopes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import psycopg

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.domain.errors import NotFound, StorageUnavailable
from cohorts.service.cohorts import CohortUseCases
from cohorts.service.stored_cohort import StoredCohort
from cohorts.storage.batching import Pacing
from cohorts.storage.coalescing import READ_PACING
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import LONG_WINDOW, StatementCounter, on_use_cases


def _tenant() -> str:
    return f"coalesce-{uuid.uuid4().hex[:10]}"


def _reads_by_id_list(sql: str) -> bool:
    return "ANY (" in sql


def _run(
    database_url: str,
    work: Callable[[CohortUseCases, StatementCounter, SqlUnitOfWorkFactory], Awaitable[Any]],
    *,
    pool_size: int = 4,
    read_pacing: Pacing = READ_PACING,
) -> Any:
    async def counted(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> Any:
        keyed_reads = StatementCounter(_reads_by_id_list)
        factory.statement_hooks.append(keyed_reads.hook)
        return await work(cases, keyed_reads, factory)

    return on_use_cases(database_url, counted, pool_size=pool_size, read_pacing=read_pacing)


async def _seed(cases: CohortUseCases, caller: Caller, count: int) -> list[str]:
    created = [await cases.create(caller, CohortContent(name=f"c{i}")) for i in range(count)]
    return [c.cohort.id for c in created]


def test_concurrent_gets_share_statements_and_each_gets_its_own_cohort(database_url: str):
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seed(cases, caller, 40)
        keyed_reads.sent = 0
        got = await asyncio.gather(*(cases.get(caller, i) for i in ids))
        assert [(c.cohort.id, c.cohort.content.name) for c in got] == [
            (cohort_id, f"c{i}") for i, cohort_id in enumerate(ids)
        ]
        assert keyed_reads.sent < len(ids) / 4, keyed_reads.sent

    _run(database_url, work)


def test_a_lone_get_is_one_statement(database_url: str):
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        (cohort_id,) = await _seed(cases, caller, 1)
        keyed_reads.sent = 0
        assert (await cases.get(caller, cohort_id)).cohort.id == cohort_id
        assert keyed_reads.sent == 1

    _run(database_url, work)


def test_concurrent_gets_of_other_tenants_and_apps_never_see_each_others_rows(
    database_url: str,
):
    tenant_a, tenant_b = _tenant(), _tenant()
    alice = Caller(tenant_a, "alice")
    alice_app = Caller(tenant_a, "alice", app_id="app-1")
    bob = Caller(tenant_b, "bob")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids_a = await _seed(cases, alice, 10)
        ids_b = await _seed(cases, bob, 10)
        calls = []
        for a, b in zip(ids_a, ids_b, strict=True):
            # Each caller asks for its own row and for the other scope's row at once.
            calls += [cases.get(alice, a), cases.get(bob, a), cases.get(bob, b)]
            calls += [cases.get(alice, b), cases.get(alice_app, a)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        for index, result in enumerate(results):
            expected_found = index % 5 in (0, 2)
            if expected_found:
                assert not isinstance(result, BaseException), result
            else:
                # alice_app sees only app-1's rows; alice's rows have no app.
                assert isinstance(result, NotFound), result

    _run(database_url, work)


def test_a_caller_that_gives_up_does_not_disturb_the_others_in_its_batch(database_url: str):
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seed(cases, caller, 12)
        tasks = [asyncio.create_task(cases.get(caller, cohort_id)) for cohort_id in ids]
        await asyncio.sleep(0)  # every task has joined a batch
        tasks[0].cancel()
        tasks[5].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for index, result in enumerate(results):
            if index in (0, 5):
                assert isinstance(result, asyncio.CancelledError)
            else:
                assert isinstance(result, StoredCohort), result
                assert result.cohort.id == ids[index]

    _run(database_url, work)


def test_every_caller_of_a_failed_batch_hears_of_the_failure(database_url: str):
    caller = Caller(_tenant(), "alice")
    failing = {"on": False}

    @contextmanager
    def connection_lost(sql: str) -> Iterator[None]:
        # The one fault not caused for real here: a connection dying mid-batch
        # (tests/faults stop the real server for the whole-service version).
        if failing["on"] and "ANY (" in sql:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        yield

    async def work(
        cases: CohortUseCases, _: StatementCounter, factory: SqlUnitOfWorkFactory
    ) -> None:
        ids = await _seed(cases, caller, 6)
        factory.statement_hooks.append(connection_lost)
        failing["on"] = True
        results = await asyncio.gather(
            *(cases.get(caller, cohort_id) for cohort_id in ids), return_exceptions=True
        )
        assert all(isinstance(result, StorageUnavailable) for result in results), results
        failing["on"] = False
        got = await asyncio.gather(*(cases.get(caller, i) for i in ids))
        assert [c.cohort.id for c in got] == ids

    _run(database_url, work)


def test_more_concurrent_gets_than_one_batch_holds_are_all_answered(database_url: str):
    caller = Caller(_tenant(), "alice")
    count = 150

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seed(cases, caller, count)
        keyed_reads.sent = 0
        got = await asyncio.gather(*(cases.get(caller, cohort_id) for cohort_id in ids))
        assert [c.cohort.id for c in got] == ids
        assert keyed_reads.sent >= 2  # at most MAX_BATCH_KEYS keys per statement

    _run(database_url, work, pool_size=2)


def test_a_scope_never_has_more_than_its_cap_of_batches_on_the_wire(database_url: str):
    # A table lock holds every read in PostgreSQL while Gets keep arriving, each
    # after the last batch's gathering window has passed: without a cap each
    # would leave as a batch of its own and take a connection.
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seed(cases, caller, 20)
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE cohorts IN ACCESS EXCLUSIVE MODE")
            gets = []
            for cohort_id in ids:
                gets.append(asyncio.ensure_future(cases.get(caller, cohort_id)))
                await asyncio.sleep(READ_PACING.window_seconds * 2)
            blocker.commit()
        got = await asyncio.gather(*gets)
        assert [c.cohort.id for c in got] == ids
        assert keyed_reads.most_on_wire == READ_PACING.max_in_flight

    _run(database_url, work, pool_size=READ_PACING.max_in_flight + 3)


async def _seeded_and_settled(
    cases: CohortUseCases, caller: Caller, count: int, keyed_reads: StatementCounter
) -> list[str]:
    """count cohorts, once the seeding's own reads are past and no longer counted."""
    ids = await _seed(cases, caller, count)
    await asyncio.sleep(0.05)
    keyed_reads.sent = 0
    return ids


# A window long enough that no timing on a busy machine reaches it by accident.
LONG_READ_WINDOW = replace(READ_PACING, window_seconds=LONG_WINDOW)


def test_calls_that_keep_coming_gather_into_one_batch_with_nothing_on_the_wire(database_url: str):
    # One Get a turn of the event loop, as grpc.aio starts calls under load:
    # a batch that left as soon as nothing was on the wire would hold one.
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seeded_and_settled(cases, caller, 6, keyed_reads)
        gets = []
        for cohort_id in ids:
            gets.append(asyncio.ensure_future(cases.get(caller, cohort_id)))
            await asyncio.sleep(0)
        got = await asyncio.gather(*gets)
        assert [c.cohort.id for c in got] == ids
        assert keyed_reads.sent == 1

    _run(database_url, work, read_pacing=LONG_READ_WINDOW)


def test_a_lone_call_leaves_without_waiting_for_the_window(database_url: str):
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seed(cases, caller, 3)
        took = []
        for cohort_id in ids:  # one after another, as a sequential client calls
            started = time.monotonic()
            await cases.get(caller, cohort_id)
            took.append(time.monotonic() - started)
        # A batch that waited for its window would take all of it.
        assert max(took) < LONG_WINDOW * 0.8, took

    _run(database_url, work, read_pacing=LONG_READ_WINDOW)


def test_a_batch_leaves_once_calls_stop_joining_without_waiting_for_one_on_the_wire(
    database_url: str,
):
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seed(cases, caller, 3)
        keyed_reads.sent = 0
        with psycopg.connect(database_url) as blocker:
            blocker.execute("LOCK TABLE cohorts IN ACCESS EXCLUSIVE MODE")
            held = asyncio.ensure_future(cases.get(caller, ids[0]))
            await asyncio.sleep(LONG_WINDOW / 10)
            later = [asyncio.ensure_future(cases.get(caller, i)) for i in ids[1:]]
            await asyncio.sleep(LONG_WINDOW / 10)
            assert keyed_reads.on_wire == 2
            blocker.commit()
        got = [await held, *await asyncio.gather(*later)]
        assert [c.cohort.id for c in got] == ids
        assert keyed_reads.sent == 2

    _run(database_url, work, read_pacing=LONG_READ_WINDOW)


def test_calls_that_never_stop_coming_still_leave_within_the_window(
    database_url: str,
):
    window = 0.02
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, keyed_reads: StatementCounter, _: Any) -> None:
        ids = await _seeded_and_settled(cases, caller, 5, keyed_reads)
        gets = []
        started = time.monotonic()
        while time.monotonic() - started < window * 15:
            gets.append(asyncio.ensure_future(cases.get(caller, ids[len(gets) % 5])))
            await asyncio.sleep(0)
        await asyncio.gather(*gets)
        # Without the window one batch would gather for as long as calls came.
        assert keyed_reads.sent >= 3, keyed_reads.sent

    _run(database_url, work, read_pacing=replace(READ_PACING, window_seconds=window))
