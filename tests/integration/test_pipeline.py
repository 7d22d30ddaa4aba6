"""A unit's statements sent through libpq's pipeline mode (storage/pipeline.py), for real."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
import psycopg.errors
import pytest

from cohorts.domain.caller import Caller
from cohorts.domain.errors import StorageUnavailable
from cohorts.storage import pipeline
from cohorts.storage.database import unit_state
from cohorts.storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration._support import on_app_pool, on_use_cases

Statements = Sequence[tuple[str, dict[str, Any]]]


def _on_connection(
    database_url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]
) -> None:
    async def on_pool(pool: Any) -> None:
        async with pool.connection() as connection:
            await work(connection)

    on_app_pool(database_url, on_pool, pool_size=1)


async def _run(
    connection: psycopg.AsyncConnection[Any], statements: Statements, *, binary: bool = False
) -> list[list[tuple[Any, ...]]]:
    return await pipeline.run_pipelined(
        connection,
        unit_state(connection).transformer,
        unit_state(connection).prepared,
        statements,
        binary=binary,
    )


async def _prepared_here(connection: psycopg.AsyncConnection[Any]) -> list[str]:
    cursor = await connection.execute(
        "SELECT statement FROM pg_prepared_statements WHERE name LIKE '\\_cohorts\\_%'"
    )
    return [row[0] for row in await cursor.fetchall()]


def test_each_statement_returns_its_own_rows(database_url: str):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        results = await _run(
            connection,
            [
                ("SELECT %(n)s::int + 1", {"n": 1}),
                ("SELECT g FROM generate_series(1, %(n)s::int) g", {"n": 3}),
                ("SELECT 'a' WHERE false", {}),
            ],
        )
        assert results == [[(2,)], [(1,), (2,), (3,)], []]

    _on_connection(database_url, work)


def test_a_statement_is_prepared_once_on_its_connection(database_url: str):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        for n in range(4):
            assert await _run(connection, [("SELECT %(n)s::int * 10", {"n": n})]) == [[(n * 10,)]]
        assert await _prepared_here(connection) == ["SELECT $1::int * 10"]

    _on_connection(database_url, work)


def test_a_statement_run_many_times_in_one_pipeline_is_prepared_once(database_url: str):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        runs = [("SELECT %(n)s::int + 100", {"n": n}) for n in range(5)]
        assert await _run(connection, runs) == [[(n + 100,)] for n in range(5)]
        assert await _prepared_here(connection) == ["SELECT $1::int + 100"]

    _on_connection(database_url, work)


_CASTS = (
    "SELECT CAST(%(n)s AS bigint), CAST(%(at)s AS timestamptz),"
    " CAST(%(raw)s AS bytea), CAST(%(x)s AS float8)"
)
# Values whose own types differ from run to run: int2, int4 and int8 by size, and NULLs.
_MIXED = [
    {"n": 1, "at": None, "raw": b"\x00\xff", "x": 0.1},
    {"n": 70_000, "at": datetime(2027, 3, 1, 9, 30, 0, 123456, tzinfo=UTC), "raw": None, "x": None},
    {"n": None, "at": datetime(1, 1, 1, tzinfo=UTC), "raw": b"", "x": 1e308},
    {"n": 2**40, "at": None, "raw": bytes(range(256)), "x": -2.5e-300},
]


def test_self_typed_sql_is_prepared_once_whatever_types_its_values_have(database_url: str):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        for params in _MIXED:
            rows = await _run(connection, [(pipeline.SelfTypedSql(_CASTS), params)])
            assert rows == [[(params["n"], params["at"], params["raw"], params["x"])]]
        assert await _prepared_here(connection) == [
            "SELECT CAST($1 AS bigint), CAST($2 AS timestamptz),"
            " CAST($3 AS bytea), CAST($4 AS float8)"
        ]

    _on_connection(database_url, work)


def test_plain_sql_is_prepared_again_for_each_mix_of_value_types(database_url: str):
    # Why SelfTypedSql exists: psycopg names each value's own type.
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        for params in _MIXED:
            rows = await _run(connection, [(_CASTS, params)])
            assert rows == [[(params["n"], params["at"], params["raw"], params["x"])]]
        assert len(await _prepared_here(connection)) == len(_MIXED)

    _on_connection(database_url, work)


def test_a_connection_keeps_a_bounded_number_of_prepared_statements(
    database_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(pipeline, "_MAX_PREPARED", 3)

    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        for n in range(8):
            assert await _run(connection, [(f"SELECT {n} + %(n)s::int", {"n": 1})]) == [[(n + 1,)]]
        # The least recently used are closed with the next pipeline, so one
        # more than the bound may be open between two pipelines.
        assert len(await _prepared_here(connection)) <= 4
        # A statement closed earlier is prepared again when it comes back.
        assert await _run(connection, [("SELECT 0 + %(n)s::int", {"n": 5})]) == [[(5,)]]

    _on_connection(database_url, work)


def test_a_failing_statement_raises_its_error_and_nothing_of_the_pipeline_commits(
    database_url: str,
):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        await connection.execute("CREATE TEMP TABLE t (id int PRIMARY KEY)")
        insert = "INSERT INTO t VALUES (%(id)s) RETURNING id"
        with pytest.raises(psycopg.errors.UniqueViolation):
            await _run(connection, [(insert, {"id": 1}), (insert, {"id": 2}), (insert, {"id": 1})])
        # The connection is ready for the next unit, and the pipeline's
        # implicit transaction stored nothing.
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert await _run(connection, [("SELECT count(*) FROM t", {})]) == [[(0,)]]
        assert await _run(connection, [(insert, {"id": 1}), (insert, {"id": 2})]) == [
            [(1,)],
            [(2,)],
        ]

    _on_connection(database_url, work)


def test_a_statement_that_fails_to_prepare_is_not_taken_for_prepared(database_url: str):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        for _ in range(2):  # the second run prepares it again rather than run a missing name
            with pytest.raises(psycopg.errors.UndefinedColumn):
                await _run(connection, [("SELECT no_such_column", {})])
        assert await _prepared_here(connection) == []

    _on_connection(database_url, work)


def test_a_batch_larger_than_the_sockets_buffers_goes_through(database_url: str):
    # 16 MiB out and back: sending must read results as it goes, or both
    # sides' buffers fill and each waits on the other.
    payload = bytes(range(256)) * 1024

    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        statement = "SELECT %(n)s::int, length(%(data)s::bytea), %(data)s::bytea"
        runs = [(statement, {"n": n, "data": payload}) for n in range(64)]
        async with asyncio.timeout(60):  # a deadlock fails here instead of hanging
            results = await _run(connection, runs, binary=True)
        assert [rows[0][:2] for rows in results] == [(n, len(payload)) for n in range(64)]
        assert all(bytes(rows[0][2]) == payload for rows in results)

    _on_connection(database_url, work)


def test_parameters_are_named_once_and_percent_signs_are_literal(database_url: str):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        statement = "SELECT %(a)s::text || '%%' || %(b)s::text || %(a)s::text"
        assert await _run(connection, [(statement, {"a": "x", "b": "y"})]) == [[("x%yx",)]]
        assert await _prepared_here(connection) == [
            "SELECT $1::text || '%' || $2::text || $1::text"
        ]

    _on_connection(database_url, work)


def test_a_pipeline_given_up_midway_closes_its_connection(database_url: str):
    # Its results may still arrive: the next unit must not read them as its own.
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await _run(connection, [("SELECT pg_sleep(%(s)s::float)", {"s": 5})])
        assert connection.closed

    _on_connection(database_url, work)


def test_statements_deallocated_behind_the_connections_back_are_prepared_again(
    database_url: str,
):
    async def work(connection: psycopg.AsyncConnection[Any]) -> None:
        statement = "SELECT %(n)s::int - 1"
        assert await _run(connection, [(statement, {"n": 1})]) == [[(0,)]]
        await connection.execute("DEALLOCATE ALL")
        assert await _run(connection, [(statement, {"n": 3})]) == [[(2,)]]
        assert await _prepared_here(connection) == ["SELECT $1::int - 1"]

    _on_connection(database_url, work)


def test_a_connection_lost_mid_pipeline_marks_the_database_unavailable_at_once(
    database_url: str, db: psycopg.Connection[Any]
):
    # The backend is terminated for real while the statement runs: callers
    # after it fail fast instead of each waiting on a dead server.
    # Its own marker: other tests' statements may still be sleeping on this server.
    marker = f"lost_{uuid.uuid4().hex}"

    async def work(factory: SqlUnitOfWorkFactory, _: Any) -> None:
        async def terminate_the_sleeper() -> None:
            for _ in range(100):
                row = await asyncio.to_thread(
                    lambda: db.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
                        (f"%{marker}%",),
                    ).fetchone()
                )
                if row is not None:
                    return
                await asyncio.sleep(0.05)
            raise AssertionError("the sleeping statement never showed up")

        async with factory(Caller("tenant-lost", "alice"), read_only=True) as unit:
            terminating = asyncio.create_task(terminate_the_sleeper())
            with pytest.raises(StorageUnavailable):
                await unit.fetch(f"SELECT pg_sleep(%(s)s::float) AS {marker}", {"s": 10})
            await terminating
        assert factory.status.available is False

    on_use_cases(database_url, work)
