"""The caller's deadline bounds the database work, and an expired deadline writes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from learning.v1 import cohort_pb2, cohort_service_pb2, cohort_service_pb2_grpc

from tests.faults._load import codes, create_once
from tests.faults.conftest import FaultPostgres
from tests.fixtures.server import ServerThread, bearer, mint_token

# Backends of the service (its connections set application_name) that are
# still busy with a statement on the cohorts table, or that sit in a
# transaction which was never ended.
_SERVICE_BACKENDS_ON_COHORTS = """
    SELECT pid, state, wait_event_type, wait_event, query
    FROM pg_stat_activity
    WHERE application_name = 'cohorts'
      AND (state = 'active' OR state LIKE 'idle in transaction%%')
      AND query ILIKE %s
"""


@pytest.fixture
def fault_stub(fault_server: ServerThread) -> Iterator[Any]:
    with grpc.insecure_channel(f"127.0.0.1:{fault_server.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        yield cohort_service_pb2_grpc.CohortServiceStub(channel)


@pytest.fixture
def fault_tenant() -> str:
    return f"deadline-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def fault_metadata(fault_tenant: str) -> tuple[tuple[str, str], ...]:
    return bearer(mint_token(tenant=fault_tenant, sub="deadline-tester"))


def _row(fault_postgres: FaultPostgres, tenant: str, cohort_id: str) -> tuple[Any, ...]:
    with fault_postgres.connect() as connection:
        row = connection.execute(
            "SELECT version, name, updated_at FROM cohorts WHERE tenant_id = %s AND id = %s",
            (tenant, cohort_id),
        ).fetchone()
    assert row is not None
    return tuple(row)


def _statement_timeouts_logged(fault_postgres: FaultPostgres) -> int:
    log = (fault_postgres.data_dir / "log").read_text(errors="replace")
    return log.count("canceling statement due to statement timeout")


def test_an_update_stuck_on_a_row_lock_ends_at_the_deadline_and_its_statement_is_cancelled(
    fault_postgres: FaultPostgres, fault_stub: Any, fault_tenant: str, fault_metadata: Any
) -> None:
    stub, tenant, metadata = fault_stub, fault_tenant, fault_metadata
    created = create_once(stub, metadata, timeout=5, name="before")
    assert created.ok, created
    assert created.cohort_id is not None
    before = _row(fault_postgres, tenant, created.cohort_id)
    timeouts_logged = _statement_timeouts_logged(fault_postgres)

    locker = fault_postgres.connect()
    locker.autocommit = False
    try:
        locker.execute(
            "SELECT 1 FROM cohorts WHERE tenant_id = %s AND id = %s FOR UPDATE",
            (tenant, created.cohort_id),
        )
        request = cohort_service_pb2.UpdateCohortRequest(
            cohort=cohort_pb2.Cohort(id=created.cohort_id, name="after")
        )
        request.update_mask.paths.append("name")
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            stub.UpdateCohort(request, metadata=metadata, timeout=1.0)
        took = time.monotonic() - started
        time.sleep(max(0.0, started + 1.5 - time.monotonic()))
        with fault_postgres.connect() as watcher:
            still_busy = watcher.execute(_SERVICE_BACKENDS_ON_COHORTS, ("%cohorts%",)).fetchall()
            waiting_for_locks = watcher.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                " WHERE NOT l.granted AND a.application_name = 'cohorts'"
            ).fetchone()
    finally:
        locker.rollback()
        locker.close()

    print(
        f"\nlocked update: {caught.value.code().name} after {took:.3f}s"
        f" ({caught.value.details()!r}); service backends still busy 1.5s in: {still_busy}"
    )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert took < 1.5
    assert still_busy == [], "the statement outlived the caller's deadline"
    assert waiting_for_locks == (0,)
    assert _statement_timeouts_logged(fault_postgres) == timeouts_logged + 1, (
        "PostgreSQL did not cancel the statement for its statement_timeout"
    )
    time.sleep(0.2)
    assert _row(fault_postgres, tenant, created.cohort_id) == before
    assert before[:2] == (1, "before")


def test_a_create_with_an_expired_deadline_fails_and_leaves_no_row(
    fault_postgres: FaultPostgres, fault_stub: Any, fault_tenant: str, fault_metadata: Any
) -> None:
    stub, tenant, metadata = fault_stub, fault_tenant, fault_metadata
    outcomes = [create_once(stub, metadata, timeout=0.001, name="expired") for _ in range(20)]
    time.sleep(1.0)
    with fault_postgres.connect() as connection:
        stored = connection.execute(
            "SELECT count(*) FROM cohorts WHERE tenant_id = %s OR request_id = ANY(%s::uuid[])",
            (tenant, [o.request_id for o in outcomes]),
        ).fetchone()
    print(f"\nexpired deadline: {dict(codes(outcomes))}, rows stored: {stored}")
    assert codes(outcomes) == {"DEADLINE_EXCEEDED": len(outcomes)}
    assert stored == (0,)
