"""Concurrent writes share pipelines (storage/coalescing.py) without sharing scopes or fates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from cohorts.domain.caller import Caller
from cohorts.domain.cohort import CohortContent
from cohorts.domain.errors import DeadlineExceeded, VersionMismatch
from cohorts.service.cohorts import CohortUseCases
from cohorts.service.deadlines import request_deadline
from cohorts.service.stored_cohort import StoredCohort
from cohorts.storage.batching import Pacing
from cohorts.storage.coalescing import READ_PACING, WRITE_PACING
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import LONG_WINDOW, StatementCounter, on_use_cases


def _tenant() -> str:
    return f"group-{uuid.uuid4().hex[:10]}"


def _is_write(sql: str) -> bool:
    return sql.startswith(("INSERT INTO cohorts", "UPDATE cohorts"))


def _run(
    database_url: str,
    work: Callable[[CohortUseCases, StatementCounter], Awaitable[Any]],
    *,
    write_pacing: Pacing = WRITE_PACING,
) -> Any:
    async def counted(factory: SqlUnitOfWorkFactory, cases: CohortUseCases) -> Any:
        writes = StatementCounter(_is_write)
        factory.statement_hooks.append(writes.hook)
        return await work(cases, writes)

    return on_use_cases(database_url, counted, write_pacing=write_pacing)


def _stored(database_url: str, ids: list[str]) -> dict[str, tuple[str, str | None, str]]:
    """tenant_id, app_id and name of each stored id, read as the owner (no row security)."""
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT id, tenant_id, app_id, name FROM cohorts WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    return {row[0]: (row[1], row[2], row[3]) for row in rows}


def test_concurrent_creates_share_pipelines_and_each_is_stored(database_url: str):
    caller = Caller(_tenant(), "alice")
    count = 40

    async def work(cases: CohortUseCases, writes: StatementCounter) -> list[str]:
        created = await asyncio.gather(
            *(cases.create(caller, CohortContent(name=f"c{i}")) for i in range(count))
        )
        assert writes.failed == 0
        assert writes.sent < count / 4, writes.sent
        return [c.cohort.id for c in created]

    ids = _run(database_url, work)
    assert len(set(ids)) == count
    stored = _stored(database_url, ids)
    assert [stored[i] for i in ids] == [(caller.tenant_id, None, f"c{n}") for n in range(count)]


@pytest.fixture
def written_by_statement(database_url: str) -> Iterator[Callable[[str], list[tuple[str, int]]]]:
    """Each INSERT and UPDATE statement PostgreSQL ran on cohorts for a tenant: (verb, rows)."""
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            """
            CREATE TABLE test_write_statements (
                n bigserial PRIMARY KEY, tenant_id text, verb text, written bigint
            );
            CREATE FUNCTION test_count_write_statements() RETURNS trigger
            LANGUAGE plpgsql SECURITY DEFINER AS $$
            BEGIN
                INSERT INTO test_write_statements (tenant_id, verb, written)
                    SELECT tenant_id, TG_OP, count(*) FROM written GROUP BY tenant_id;
                RETURN NULL;
            END $$;
            CREATE TRIGGER test_count_inserts AFTER INSERT ON cohorts
                REFERENCING NEW TABLE AS written
                FOR EACH STATEMENT EXECUTE FUNCTION test_count_write_statements();
            CREATE TRIGGER test_count_updates AFTER UPDATE ON cohorts
                REFERENCING NEW TABLE AS written
                FOR EACH STATEMENT EXECUTE FUNCTION test_count_write_statements();
            """
        )

    def statements(tenant_id: str) -> list[tuple[str, int]]:
        with psycopg.connect(database_url) as connection:
            rows = connection.execute(
                "SELECT verb, written FROM test_write_statements WHERE tenant_id = %s ORDER BY n",
                (tenant_id,),
            ).fetchall()
        return [(verb, written) for verb, written in rows]

    try:
        yield statements
    finally:
        with psycopg.connect(database_url, autocommit=True) as owner:
            owner.execute("DROP TRIGGER test_count_inserts ON cohorts")
            owner.execute("DROP TRIGGER test_count_updates ON cohorts")
            owner.execute("DROP FUNCTION test_count_write_statements()")
            owner.execute("DROP TABLE test_write_statements")


def test_a_batch_of_creates_and_one_of_updates_are_each_one_statement(
    database_url: str, written_by_statement: Callable[[str], list[tuple[str, int]]]
):
    # PostgreSQL's work per statement run (the executor's start-up, the CHECK
    # constraints read afresh) is paid once per batch, not once per row.
    caller = Caller(_tenant(), "alice")
    count = 24

    async def work(cases: CohortUseCases, writes: StatementCounter) -> list[str]:
        created = await asyncio.gather(
            *(cases.create(caller, CohortContent(name=f"c{i}")) for i in range(count))
        )
        ids = [c.cohort.id for c in created]
        updated = await asyncio.gather(
            *(
                cases.update(
                    caller, cohort_id, {"name": f"renamed-{cohort_id}"}, expected_version=1
                )
                for cohort_id in ids
            )
        )
        assert [c.cohort.version for c in updated] == [2] * count
        assert writes.failed == 0
        return ids

    ids = _run(database_url, work)
    statements = written_by_statement(caller.tenant_id)
    inserts = [rows for verb, rows in statements if verb == "INSERT"]
    updates = [rows for verb, rows in statements if verb == "UPDATE"]
    assert sum(inserts) == count and len(inserts) < count / 4, statements
    assert sum(updates) == count and len(updates) < count / 4, statements
    stored = _stored(database_url, ids)
    assert [stored[i][2] for i in ids] == [f"renamed-{i}" for i in ids]


def test_rows_written_by_one_statement_store_every_value_as_given(database_url: str):
    # A batch's rows go as text whatever their types (pipeline.SelfTypedSql),
    # NULLs and large numbers mixed in among them.
    caller = Caller(_tenant(), "alice")
    contents = [
        CohortContent(
            name=f"c{i}",
            start_date=None if i % 2 else datetime(2027, 3, 1, 9, 0, 0, 123456 + i, tzinfo=UTC),
            end_date=None if i % 3 else datetime(2027, 5, 24, 17, tzinfo=UTC),
            session_count=None if i % 4 == 0 else [1, 300, 70_000, 2_000_000_000][i % 4],
            completion_required_pct=None if i % 5 == 0 else i / 7,
            metadata={"n": i, "big": 2**52 + i, "text": "é\u2603", "nested": {"on": i % 2 == 0}},
            tags=tuple(f"t{j}" for j in range(i % 3)),
        )
        for i in range(12)
    ]

    async def work(cases: CohortUseCases, writes: StatementCounter) -> list[str]:
        created = await asyncio.gather(*(cases.create(caller, content) for content in contents))
        assert writes.sent < len(contents)  # they did share batches
        return [c.cohort.id for c in created]

    ids = _run(database_url, work)
    with psycopg.connect(database_url) as connection:
        rows = connection.execute(
            "SELECT id, name, start_date, end_date, session_count, completion_required_pct,"
            " metadata, tags FROM cohorts WHERE id = ANY(%s)",
            (ids,),
        ).fetchall()
    stored = {row[0]: row[1:] for row in rows}
    assert [stored[i] for i in ids] == [
        (
            c.name,
            c.start_date,
            c.end_date,
            c.session_count,
            c.completion_required_pct,
            c.metadata,
            list(c.tags),
        )
        for c in contents
    ]


def test_in_a_batch_of_updates_a_second_update_of_one_cohort_sees_the_first(database_url: str):
    # One statement cannot write a row twice: a batch that holds two updates
    # of one cohort at one version must still give it exactly one winner.
    caller = Caller(_tenant(), "alice")
    attempts = 3

    async def work(cases: CohortUseCases, writes: StatementCounter) -> None:
        created = await asyncio.gather(
            *(cases.create(caller, CohortContent(name=f"c{i}")) for i in range(4))
        )
        ids = [c.cohort.id for c in created]
        calls = [(cohort_id, n) for n in range(attempts) for cohort_id in ids]
        writes.sent = 0
        results = await asyncio.gather(
            *(
                cases.update(caller, cohort_id, {"name": f"{cohort_id}-by-{n}"}, expected_version=1)
                for cohort_id, n in calls
            ),
            return_exceptions=True,
        )
        assert writes.sent < len(calls), writes.sent  # they did share batches
        for cohort_id in ids:
            outcomes = [r for (i, _), r in zip(calls, results, strict=True) if i == cohort_id]
            won = [r.cohort for r in outcomes if isinstance(r, StoredCohort)]
            lost = [r for r in outcomes if isinstance(r, VersionMismatch)]
            assert len(won) == 1 and len(lost) == attempts - 1, outcomes
            stored = (await cases.get(caller, cohort_id)).cohort
            assert (stored.content.name, stored.version) == (won[0].content.name, 2)

    _run(database_url, work)


def test_a_lone_create_is_one_statement(database_url: str):
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, writes: StatementCounter) -> None:
        await cases.create(caller, CohortContent(name="alone"))
        assert writes.sent == 1

    _run(database_url, work)


# Write spacing: further apart than a lone call's quiet spell, closer than a
# shared batch's.
_SPACING = (WRITE_PACING.quiet_turns + WRITE_PACING.shared_quiet_turns) // 2


# A window long enough that no timing on a busy machine reaches it by accident.
LONG_WRITE_WINDOW = replace(WRITE_PACING, window_seconds=LONG_WINDOW)
assert WRITE_PACING.quiet_turns < _SPACING < WRITE_PACING.shared_quiet_turns


async def _create_spaced(
    cases: CohortUseCases, caller: Caller, names: list[list[str]]
) -> list[StoredCohort]:
    """Creates each group of names at once, _SPACING turns of the event loop after the last."""
    creates = []
    for group in names:
        creates += [
            asyncio.ensure_future(cases.create(caller, CohortContent(name=n))) for n in group
        ]
        for _ in range(_SPACING):
            await asyncio.sleep(0)
    return list(await asyncio.gather(*creates))


def test_once_writes_are_coming_a_batch_waits_through_longer_quiet_spells_than_reads(
    database_url: str,
):
    # A commit costs more than a read's round trip: once a second write has
    # joined, a write batch keeps gathering through quiet spells that would
    # send a read batch, and the writes share one pipeline and one commit.
    assert READ_PACING.shared_quiet_turns < _SPACING
    caller = Caller(_tenant(), "alice")
    names = [["c0", "c1"], ["c2"], ["c3"], ["c4"]]

    async def work(cases: CohortUseCases, writes: StatementCounter) -> list[str]:
        await cases.create(caller, CohortContent(name="warm-up"))
        writes.sent = 0
        created = await _create_spaced(cases, caller, names)
        assert writes.sent == 1, writes.sent
        return [c.cohort.id for c in created]

    ids = _run(database_url, work, write_pacing=LONG_WRITE_WINDOW)
    stored = _stored(database_url, ids)
    assert [stored[i] for i in ids] == [(caller.tenant_id, None, f"c{n}") for n in range(5)]


def test_a_lone_write_leaves_after_a_reads_quiet_spell(database_url: str):
    # Writes scattered among reads would each wait the longer spell for
    # nothing: a write that no other has joined leaves as a read would.
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, writes: StatementCounter) -> None:
        await cases.create(caller, CohortContent(name="warm-up"))
        writes.sent = 0
        await _create_spaced(cases, caller, [["alone"], ["later"]])
        assert writes.sent == 2, writes.sent

    _run(database_url, work, write_pacing=LONG_WRITE_WINDOW)


def test_concurrent_writes_of_other_tenants_and_apps_never_share_a_pipeline(
    database_url: str,
):
    tenant_a, tenant_b = _tenant(), _tenant()
    callers = [
        Caller(tenant_a, "alice"),
        Caller(tenant_a, "alice", app_id="app-1"),
        Caller(tenant_a, "alice", app_id="app-2"),
        Caller(tenant_b, "bob"),
    ]

    async def work(cases: CohortUseCases, writes: StatementCounter) -> list[tuple[Caller, str]]:
        calls = [
            (caller, cases.create(caller, CohortContent(name=f"{caller.app_id}-{i}")))
            for i in range(10)
            for caller in callers
        ]
        created = await asyncio.gather(*(call for _, call in calls))
        ids = [c.cohort.id for c in created]
        updated = await asyncio.gather(
            *(
                cases.update(caller, cohort_id, {"name": "renamed"}, expected_version=1)
                for (caller, _), cohort_id in zip(calls, ids, strict=True)
            )
        )
        assert all(cohort.cohort.version == 2 for cohort in updated)
        # Another scope's write in a pipeline would break row-level security's
        # WITH CHECK, or update nothing; a pipeline that failed would show here.
        assert writes.failed == 0
        assert writes.sent < len(calls)  # writes were shared, within scopes
        return [(caller, cohort_id) for (caller, _), cohort_id in zip(calls, ids, strict=True)]

    made = _run(database_url, work)
    stored = _stored(database_url, [cohort_id for _, cohort_id in made])
    for caller, cohort_id in made:
        assert stored[cohort_id] == (caller.tenant_id, caller.app_id, "renamed")


def test_a_row_the_database_refuses_fails_alone(database_url: str):
    """A shared pipeline that fails for one write is retried write by write."""
    caller = Caller(_tenant(), "alice")
    # A real refusal by the database, for rows of this test only.
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            """
            CREATE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.name = 'poison' AND NEW.tenant_id LIKE 'group-%' THEN
                    RAISE EXCEPTION 'refused for the test';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER test_refuse_poison BEFORE INSERT ON cohorts
                FOR EACH ROW EXECUTE FUNCTION test_refuse_poison();
            """
        )
    try:
        names = [f"good-{i}" for i in range(6)]
        names.insert(3, "poison")

        async def work(cases: CohortUseCases, writes: StatementCounter) -> list[Any]:
            results = await asyncio.gather(
                *(cases.create(caller, CohortContent(name=name)) for name in names),
                return_exceptions=True,
            )
            # The shared pipeline failed, then each write went alone.
            assert (writes.sent, writes.failed) == (1 + len(names), 2)
            return results

        results = _run(database_url, work)
    finally:
        with psycopg.connect(database_url, autocommit=True) as owner:
            owner.execute("DROP TRIGGER test_refuse_poison ON cohorts")
            owner.execute("DROP FUNCTION test_refuse_poison()")

    refused = results.pop(3)
    assert isinstance(refused, psycopg.errors.RaiseException), refused
    ids = [result.cohort.id for result in results]
    stored = _stored(database_url, ids)
    assert [stored[i][2] for i in ids] == [f"good-{i}" for i in range(6)]
    with psycopg.connect(database_url) as connection:
        poisoned = connection.execute(
            "SELECT count(*) FROM cohorts WHERE tenant_id = %s AND name = 'poison'",
            (caller.tenant_id,),
        ).fetchone()
    assert poisoned == (0,)


def test_concurrent_updates_of_one_cohort_at_one_version_have_one_winner(database_url: str):
    caller = Caller(_tenant(), "alice")
    count = 6

    async def work(cases: CohortUseCases, _: StatementCounter) -> None:
        cohort_id = (await cases.create(caller, CohortContent(name="contested"))).cohort.id
        results = await asyncio.gather(
            *(
                cases.update(caller, cohort_id, {"name": f"by-{i}"}, expected_version=1)
                for i in range(count)
            ),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, StoredCohort)]
        lost = [r for r in results if isinstance(r, VersionMismatch)]
        assert len(won) == 1 and len(lost) == count - 1, results
        winner = won[0].cohort
        assert winner.version == 2
        stored = (await cases.get(caller, cohort_id)).cohort
        assert (stored.content.name, stored.version) == (winner.content.name, 2)

    _run(database_url, work)


def test_concurrent_creates_with_one_request_id_store_one_cohort(database_url: str):
    caller = Caller(_tenant(), "alice")
    request_id = str(uuid.uuid4())

    async def work(cases: CohortUseCases, writes: StatementCounter) -> None:
        created = await asyncio.gather(
            *(
                cases.create(caller, CohortContent(name=f"try-{i}"), request_id=request_id)
                for i in range(5)
            )
        )
        assert len({c.cohort.id for c in created}) == 1
        assert writes.sent < 5  # the repeats met in one pipeline

    _run(database_url, work)
    with psycopg.connect(database_url) as connection:
        stored = connection.execute(
            "SELECT count(*) FROM cohorts WHERE tenant_id = %s", (caller.tenant_id,)
        ).fetchone()
    assert stored == (1,)


def test_a_caller_about_to_give_up_is_never_written_by_a_shared_pipeline(database_url: str):
    """The least patient caller bounds the batch; a write its caller cannot hear of is not sent."""
    caller = Caller(_tenant(), "alice")

    async def work(cases: CohortUseCases, _: StatementCounter) -> list[Any]:
        async def impatient() -> StoredCohort:
            # Under the 50 ms a write needs to be sure its caller hears of it.
            with request_deadline(0.03):
                return await cases.create(caller, CohortContent(name="impatient"))

        async def patient(name: str) -> StoredCohort:
            return await cases.create(caller, CohortContent(name=name))

        # All three join one pipeline: the impatient caller's deadline refuses
        # it, then each write goes alone.
        return await asyncio.gather(
            patient("patient-0"), impatient(), patient("patient-1"), return_exceptions=True
        )

    first, refused, second = _run(database_url, work)
    assert isinstance(refused, DeadlineExceeded), refused
    ids = [first.cohort.id, second.cohort.id]
    assert sorted(name for _, _, name in _stored(database_url, ids).values()) == [
        "patient-0",
        "patient-1",
    ]
    with psycopg.connect(database_url) as connection:
        names = connection.execute(
            "SELECT name FROM cohorts WHERE tenant_id = %s", (caller.tenant_id,)
        ).fetchall()
    assert sorted(names) == [("patient-0",), ("patient-1",)]
